import torch

import tracegraph.distributions as dist

from .pyro_dist_checks import check_mixin, check_provenance


def test_extended_binomial_is_minus_inf_outside_zero_to_total_count():
    d = dist.ExtendedBinomial(torch.tensor([-1.0, 3.0]), probs=torch.tensor(0.3))
    x = torch.tensor([[-1.0, -1.0], [0.0, 0.0], [2.0, 4.0]])
    lp = d.log_prob(x)
    inside = torch.distributions.Binomial(3, probs=0.3).log_prob(torch.tensor([0.0]))
    assert torch.isinf(lp[:, 0]).all() and torch.isinf(lp[0, 1]) and torch.isinf(lp[2, 1])
    torch.testing.assert_close(lp[1, 1:], inside)


def test_extended_binomial_gradient_is_finite_outside_the_range():
    probs = torch.tensor(0.3, requires_grad=True)
    d = dist.ExtendedBinomial(torch.tensor(2.0), probs=probs)
    lp = d.log_prob(torch.tensor([-3.0, 1.0, 5.0]))
    lp[1].backward()
    assert torch.isfinite(probs.grad)


def test_extended_beta_binomial_matches_beta_binomial_inside():
    ext = dist.ExtendedBetaBinomial(2.0, 3.0, torch.tensor([-1.0, 4.0]))
    base = dist.BetaBinomial(2.0, 3.0, 4)
    x = torch.arange(5.0)
    torch.testing.assert_close(ext.log_prob(x.unsqueeze(-1))[:, 1], base.log_prob(x))
    assert torch.isinf(ext.log_prob(torch.tensor([5.0, 5.0]))).all()


def test_extended_mixin_and_provenance():
    check_mixin(
        dist.ExtendedBinomial(torch.tensor([2.0, 5.0]), probs=0.4), torch.tensor([1.0, 6.0])
    )
    check_mixin(
        dist.ExtendedBetaBinomial(2.0, torch.tensor([1.0, 3.0]), 3), torch.tensor([1.0, 2.0])
    )
    check_provenance(lambda p: dist.ExtendedBinomial(3, probs=p), 0.3, torch.tensor(2.0))
    check_provenance(lambda a: dist.ExtendedBetaBinomial(a, 3.0, 4), 2.0, torch.tensor(2.0))
