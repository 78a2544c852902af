import math

import torch

import tracegraph.distributions as dist

from .pyro_dist_checks import check_mixin, check_provenance


def _density_integrates_to_one(d, low=-60.0, high=60.0, n=200001):
    x = torch.linspace(low, high, n, dtype=torch.float64)
    return torch.trapezoid(d.log_prob(x).exp(), x)


def test_logistic_density_cdf_icdf_are_consistent():
    d = dist.Logistic(
        torch.tensor(0.5, dtype=torch.float64), torch.tensor(2.0, dtype=torch.float64)
    )
    torch.testing.assert_close(
        _density_integrates_to_one(d), torch.tensor(1.0, dtype=torch.float64)
    )
    u = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)
    torch.testing.assert_close(d.cdf(d.icdf(u)), u)
    assert d.variance == 4 * math.pi**2 / 3


def test_skew_logistic_with_unit_asymmetry_is_logistic():
    x = torch.linspace(-5, 5, 11)
    torch.testing.assert_close(
        dist.SkewLogistic(0.3, 1.5, 1.0).log_prob(x), dist.Logistic(0.3, 1.5).log_prob(x)
    )
    d = dist.SkewLogistic(
        torch.tensor(0.0, dtype=torch.float64),
        torch.tensor(1.0, dtype=torch.float64),
        torch.tensor(3.0, dtype=torch.float64),
    )
    torch.testing.assert_close(
        _density_integrates_to_one(d), torch.tensor(1.0, dtype=torch.float64)
    )


def test_logistic_rsample_law_and_gradient():
    # Fraction below the median: 5 standard errors sqrt(0.25 / n).  The pathwise
    # derivative of E[x] in loc is 1 exactly.
    torch.manual_seed(0)
    loc = torch.tensor(0.5, requires_grad=True)
    d = dist.SkewLogistic(loc, 2.0, 1.7)
    x = d.rsample((20000,))
    median = d.icdf(torch.tensor(0.5))
    assert ((x < median).float().mean() - 0.5).abs() <= 5 * (0.25 / 20000) ** 0.5
    x.mean().backward()
    torch.testing.assert_close(loc.grad, torch.tensor(1.0))


def test_logistic_mixin_and_provenance():
    check_mixin(dist.Logistic(torch.tensor([0.0, 1.0]), 2.0), torch.tensor([0.5, -1.0]))
    check_mixin(dist.SkewLogistic(torch.tensor([0.0, 1.0]), 2.0, 0.5), torch.tensor([0.5, -1.0]))
    check_provenance(lambda s: dist.Logistic(0.0, s), 2.0, torch.tensor(1.0))
    check_provenance(lambda a: dist.SkewLogistic(0.0, 1.0, a), 2.0, torch.tensor(1.0))
