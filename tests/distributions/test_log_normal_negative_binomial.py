import torch

import tracegraph.distributions as dist
from tracegraph.distributions.log_normal_negative_binomial import normal_quadrature

from .pyro_dist_checks import check_mixin, check_provenance


def test_normal_quadrature_integrates_polynomials_exactly():
    nodes, weights = normal_quadrature(6)
    # E[x**k] under N(0, 1): 1, 0, 1, 0, 3, 0, 15, 0, 105 (exact to degree 11).
    for k, m in enumerate([1.0, 0.0, 1.0, 0.0, 3.0, 0.0, 15.0, 0.0, 105.0]):
        torch.testing.assert_close((weights * nodes**k).sum(), torch.tensor(m, dtype=torch.float64))


def test_log_normal_negative_binomial_mass_sums_to_one_and_matches_mean():
    d = dist.LogNormalNegativeBinomial(
        torch.tensor(3.0), torch.tensor(0.2), torch.tensor(0.5), num_quad_points=16
    )
    k = torch.arange(400.0)
    p = d.log_prob(k).exp()
    torch.testing.assert_close(p.sum(), torch.tensor(1.0))
    torch.testing.assert_close((p * k).sum(), d.mean, rtol=1e-4, atol=1e-4)


def test_log_normal_negative_binomial_samples_match_moments():
    # Mean within 5 standard errors sqrt(variance / n).
    torch.manual_seed(0)
    d = dist.LogNormalNegativeBinomial(
        torch.tensor([3.0, 5.0]), torch.tensor(0.2), torch.tensor(0.5)
    )
    x = d.sample((40000,))
    assert ((x.mean(0) - d.mean).abs() <= 5 * (d.variance / 40000).sqrt()).all()


def test_log_normal_negative_binomial_mixin_and_provenance():
    d = dist.LogNormalNegativeBinomial(torch.tensor([3.0, 5.0]), 0.2, 0.5)
    check_mixin(d, torch.tensor([0.0, 4.0]))
    assert type(d.expand((2, 2))) is dist.LogNormalNegativeBinomial
    check_provenance(lambda s: dist.LogNormalNegativeBinomial(3.0, 0.2, s), 0.5, torch.tensor(2.0))
