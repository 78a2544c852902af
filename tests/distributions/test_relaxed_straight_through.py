import torch

import tracegraph.distributions as dist

from .pyro_dist_checks import check_mixin, check_provenance


def test_relaxed_bernoulli_straight_through_is_discrete_with_relaxed_gradient():
    torch.manual_seed(0)
    probs = torch.tensor([0.3, 0.8], requires_grad=True)
    d = dist.RelaxedBernoulliStraightThrough(torch.tensor(0.5), probs=probs)
    x = d.rsample((1000,))
    assert ((x == 0) | (x == 1)).all()
    # log_prob scores the relaxed draw the value carries.
    relaxed = dist.RelaxedBernoulli(torch.tensor(0.5), probs=probs.detach())
    torch.testing.assert_close(d.log_prob(x).detach(), relaxed.log_prob(x._unquantize.detach()))
    x.sum().backward()
    assert (probs.grad > 0).all()
    # Mean within 5 standard errors sqrt(p (1 - p) / n) of P(relaxed > 1/2) = probs.
    torch.manual_seed(1)
    frac = d.rsample((20000,)).mean(0).detach()
    assert ((frac - probs.detach()).abs() <= 5 * (0.25 / 20000) ** 0.5).all()


def test_relaxed_one_hot_straight_through_is_one_hot():
    logits = torch.tensor([0.1, -0.2, 0.4], requires_grad=True)
    d = dist.RelaxedOneHotCategoricalStraightThrough(torch.tensor(0.7), logits=logits)
    x = d.rsample((50,))
    assert torch.equal(x.sum(-1), torch.ones(50)) and ((x == 0) | (x == 1)).all()
    (x * torch.arange(3.0)).sum().backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()
    plain = torch.tensor([0.2, 0.3, 0.5])
    torch.testing.assert_close(
        d.log_prob(plain),
        dist.RelaxedOneHotCategorical(torch.tensor(0.7), logits=logits).log_prob(plain),
    )


def test_relaxed_straight_through_mixin_and_provenance():
    check_mixin(
        dist.RelaxedBernoulliStraightThrough(torch.tensor(0.5), probs=torch.tensor([0.3, 0.8])),
        torch.tensor([0.2, 0.9]),
    )
    check_provenance(
        lambda p: dist.RelaxedBernoulliStraightThrough(torch.tensor(0.5), probs=p),
        0.3,
        torch.tensor(0.2),
    )
