"""fit_generalized_pareto against samples of known shape and scale."""

import math

import pytest
import torch

from tracegraph.infer.generalized_pareto import fit_generalized_pareto


def _gpd_samples(k, sigma, n):
    # Inverse CDF of the generalized Pareto distribution (location 0).
    u = torch.rand(n, dtype=torch.float64)
    if k == 0:
        return -sigma * torch.log1p(-u)
    return sigma / k * ((1 - u) ** -k - 1)


@pytest.mark.parametrize(("k", "sigma"), [(0.0, 1.0), (0.5, 2.0), (-0.3, 1.0)])
def test_fit_generalized_pareto_recovers_parameters(k, sigma):
    # The estimator's asymptotic standard errors are (1 + k) / sqrt(n) for k and
    # sigma sqrt(2 (1 + k) / n) for sigma (Zhang & Stephens 2009); n = 20000 gives
    # at most 0.011 and 0.035; 4 standard errors (the prior's pull, 10/n, is
    # negligible).
    n = 20000
    fit_k, fit_sigma = fit_generalized_pareto(_gpd_samples(k, sigma, n))
    assert fit_k == pytest.approx(k, abs=4 * (1 + k) / math.sqrt(n))
    assert fit_sigma == pytest.approx(sigma, abs=4 * sigma * math.sqrt(2 * (1 + k) / n))


def test_fit_generalized_pareto_returns_floats_and_ignores_order_and_dtype():
    x = _gpd_samples(0.4, 1.0, 200)
    k, sigma = fit_generalized_pareto(x.float())
    assert isinstance(k, float) and isinstance(sigma, float)
    k2, sigma2 = fit_generalized_pareto(x.flip(0))
    assert k == pytest.approx(k2, abs=1e-6) and sigma == pytest.approx(sigma2, rel=1e-6)


def test_fit_generalized_pareto_prior_pulls_small_samples_to_half():
    # With n points the estimate is (n k_hat + 5) / (n + 10): for 10 equal-spaced
    # points it sits between the raw estimate and 0.5.
    k, _ = fit_generalized_pareto(torch.linspace(0.1, 1.0, 10))
    assert -1.0 < k < 0.5
