import pytest
import torch

import tracegraph.distributions as dist

from .pyro_dist_checks import check_mixin, check_provenance


def test_beta_binomial_with_unit_concentrations_is_uniform():
    d = dist.BetaBinomial(torch.tensor(1.0), torch.tensor(1.0), total_count=4)
    torch.testing.assert_close(d.log_prob(torch.arange(5.0)).exp(), torch.full((5,), 0.2))


def test_beta_binomial_log_prob_sums_to_one_and_matches_moments():
    d = dist.BetaBinomial(torch.tensor([0.7, 2.0]), torch.tensor(3.0), total_count=6)
    support = d.enumerate_support()
    p = d.log_prob(support).exp()
    torch.testing.assert_close(p.sum(0), torch.ones(2))
    mean = (p * support).sum(0)
    torch.testing.assert_close(mean, d.mean)
    torch.testing.assert_close((p * (support - mean) ** 2).sum(0), d.variance)


def test_beta_binomial_enumerate_support_refuses_mixed_total_counts():
    d = dist.BetaBinomial(1.0, 1.0, total_count=torch.tensor([2.0, 3.0]))
    with pytest.raises(NotImplementedError, match="Inhomogeneous"):
        d.enumerate_support()


def test_beta_binomial_mixin_and_provenance():
    d = dist.BetaBinomial(torch.tensor([1.5, 2.0]), torch.tensor(3.0), total_count=5)
    check_mixin(d, torch.tensor([1.0, 4.0]))
    check_provenance(lambda a: dist.BetaBinomial(a, 3.0, 5), 2.0, torch.tensor(1.0))


def test_dirichlet_multinomial_log_prob_sums_to_one_over_compositions():
    d = dist.DirichletMultinomial(torch.tensor([0.5, 1.0, 2.0]), total_count=3)
    values = torch.tensor(
        [[a, b, 3 - a - b] for a in range(4) for b in range(4 - a)], dtype=torch.float
    )
    torch.testing.assert_close(d.log_prob(values).exp().sum(), torch.tensor(1.0))
    sparse = dist.DirichletMultinomial(torch.tensor([0.5, 1.0, 2.0]), 3, is_sparse=True)
    torch.testing.assert_close(sparse.log_prob(values), d.log_prob(values))


def test_dirichlet_multinomial_samples_mixed_total_counts_with_the_right_mean():
    # Pyro cannot sample a batch with different total counts; this draws class by
    # class.  Mean within 5 standard errors sqrt(var / n) per coordinate.
    torch.manual_seed(0)
    d = dist.DirichletMultinomial(torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([4.0, 9.0]))
    x = d.sample((20000,))
    assert torch.equal(x.sum(-1), torch.tensor([4.0, 9.0]).expand(20000, 2))
    se = (d.variance / 20000).sqrt()
    assert ((x.mean(0) - d.mean).abs() <= 5 * se).all()


def test_dirichlet_multinomial_mixin_and_provenance():
    d = dist.DirichletMultinomial(torch.ones(2, 3), total_count=4)
    check_mixin(d, torch.tensor([1.0, 1.0, 2.0]))
    check_provenance(
        lambda c: dist.DirichletMultinomial(c, 4), [1.0, 2.0, 3.0], torch.tensor([1.0, 1.0, 2.0])
    )


def test_gamma_poisson_equals_negative_binomial():
    a, b = torch.tensor([2.0, 0.5]), torch.tensor([1.0, 3.0])
    x = torch.arange(6.0).unsqueeze(-1)
    nb = torch.distributions.NegativeBinomial(a, probs=1 / (1 + b))
    torch.testing.assert_close(dist.GammaPoisson(a, b).log_prob(x), nb.log_prob(x))


def test_gamma_poisson_mixin_and_provenance():
    check_mixin(dist.GammaPoisson(torch.tensor([2.0, 1.0]), 1.5), torch.tensor([0.0, 3.0]))
    check_provenance(lambda r: dist.GammaPoisson(2.0, r), 1.5, torch.tensor(2.0))


def test_conjugate_validation_rejects_values_outside_the_support():
    with pytest.raises(ValueError):
        dist.BetaBinomial(1.0, 1.0, 3, validate_args=True).log_prob(torch.tensor(4.0))
    with pytest.raises(ValueError):
        dist.GammaPoisson(1.0, 1.0, validate_args=True).log_prob(torch.tensor(0.5))
