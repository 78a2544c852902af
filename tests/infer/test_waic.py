"""waic: the formula of Vehtari, Gelman & Gabry, weights, pointwise and dim."""

import math

import torch

from tracegraph.infer.waic import waic


def _reference(loglik, log_w):
    # By hand for one data point: weighted lppd and n/(n-1) weighted variance.
    n = len(loglik)
    w = [math.exp(a) for a in log_w]
    total = sum(w)
    w = [a / total for a in w]
    lppd = math.log(sum(wi * math.exp(li) for wi, li in zip(w, loglik)))
    mean = sum(wi * li for wi, li in zip(w, loglik))
    var = sum(wi * (li - mean) ** 2 for wi, li in zip(w, loglik)) * n / (n - 1)
    return -2 * (lppd - var), var


def test_waic_matches_the_formula_pointwise():
    loglik = torch.tensor([[-1.0, -2.0], [-1.5, -0.5], [-3.0, -1.0]], dtype=torch.float64)
    log_w = torch.tensor([0.0, 1.0, -0.5], dtype=torch.float64)
    w, p = waic(loglik, log_w, pointwise=True)
    for j in range(2):
        ref_w, ref_p = _reference(loglik[:, j].tolist(), log_w.tolist())
        assert math.isclose(float(w[j]), ref_w, rel_tol=1e-12)
        assert math.isclose(float(p[j]), ref_p, rel_tol=1e-12)
    total_w, total_p = waic(loglik, log_w)
    assert torch.isclose(total_w, w.sum()) and torch.isclose(total_p, p.sum())


def test_waic_default_weights_are_equal():
    loglik = torch.randn(6, 3)
    assert torch.allclose(waic(loglik)[0], waic(loglik, torch.full((6,), 2.0))[0])


def test_waic_sample_dim_may_be_anywhere():
    loglik = torch.randn(5, 4, 3)
    log_w = torch.randn(4)
    expected = waic(loglik.transpose(0, 1), log_w, pointwise=True)
    got = waic(loglik, log_w, pointwise=True, dim=1)
    assert got[0].shape == (5, 3)
    assert torch.allclose(got[0], expected[0]) and torch.allclose(got[1], expected[1])
    got_neg = waic(loglik.transpose(1, 2), log_w, pointwise=True, dim=-1)
    assert torch.allclose(got_neg[0], expected[0])
