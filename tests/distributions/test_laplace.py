import math

import torch

import tracegraph.distributions as dist

from .pyro_dist_checks import check_mixin, check_provenance

D = torch.float64


def _mass(d, low=-200.0, high=200.0, n=400001):
    x = torch.linspace(low, high, n, dtype=D)
    return torch.trapezoid(d.log_prob(x).exp(), x)


def test_asymmetric_laplace_with_unit_asymmetry_is_laplace():
    x = torch.linspace(-4, 4, 9)
    torch.testing.assert_close(
        dist.AsymmetricLaplace(0.5, 2.0, 1.0).log_prob(x), dist.Laplace(0.5, 2.0).log_prob(x)
    )


def test_laplace_family_densities_integrate_to_one():
    one = torch.tensor(1.0, dtype=D)
    for d in (
        dist.AsymmetricLaplace(torch.tensor(0.5, dtype=D), 2.0, 1.7),
        dist.SoftAsymmetricLaplace(torch.tensor(0.5, dtype=D), 2.0, 1.7, 0.6),
        dist.SoftLaplace(torch.tensor(0.5, dtype=D), 2.0),
    ):
        torch.testing.assert_close(_mass(d), one, rtol=1e-6, atol=1e-6)


def test_soft_asymmetric_laplace_tends_to_asymmetric_laplace():
    x = torch.tensor([-3.0, -0.5, 0.7, 4.0], dtype=D)
    hard = dist.AsymmetricLaplace(torch.tensor(0.2, dtype=D), 1.5, 0.8).log_prob(x)
    soft = dist.SoftAsymmetricLaplace(torch.tensor(0.2, dtype=D), 1.5, 0.8, 1e-4).log_prob(x)
    torch.testing.assert_close(soft, hard, rtol=1e-3, atol=1e-3)


def test_laplace_family_sample_moments_match():
    # Means within 5 standard errors sqrt(variance / n).
    torch.manual_seed(0)
    for d in (
        dist.AsymmetricLaplace(torch.tensor(0.5), 2.0, 1.7),
        dist.SoftAsymmetricLaplace(torch.tensor(0.5), 2.0, 1.7, 0.6),
        dist.SoftLaplace(torch.tensor(0.5), 2.0),
    ):
        x = d.rsample((40000,))
        assert (x.mean() - d.mean).abs() <= 5 * (d.variance / 40000).sqrt()
    soft = dist.SoftLaplace(torch.tensor(0.0, dtype=D), 1.0)
    u = torch.tensor([0.05, 0.5, 0.95], dtype=D)
    torch.testing.assert_close(soft.cdf(soft.icdf(u)), u)
    assert soft.variance == math.pi**2 / 4


def test_laplace_family_mixin_and_provenance():
    v = torch.tensor([0.5, -1.0])
    check_mixin(dist.AsymmetricLaplace(torch.tensor([0.0, 1.0]), 2.0, 0.5), v)
    check_mixin(dist.SoftAsymmetricLaplace(torch.tensor([0.0, 1.0]), 2.0), v)
    check_mixin(dist.SoftLaplace(torch.tensor([0.0, 1.0]), 2.0), v)
    check_provenance(lambda a: dist.AsymmetricLaplace(0.0, 1.0, a), 2.0, torch.tensor(1.0))
    check_provenance(lambda s: dist.SoftAsymmetricLaplace(0.0, 1.0, 2.0, s), 0.5, torch.tensor(1.0))
    check_provenance(lambda s: dist.SoftLaplace(0.0, s), 0.5, torch.tensor(1.0))
