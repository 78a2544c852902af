import math

import pytest
import torch

from tracegraph.distributions.special import log_beta, log_binomial


def test_log_beta_exact_below_tolerance_threshold():
    x, y = torch.tensor([0.5, 3.0]), torch.tensor([2.0, 4.0])
    expected = torch.tensor(
        [math.lgamma(0.5) + math.lgamma(2) - math.lgamma(2.5), math.log(1 / 60)]
    )
    assert torch.allclose(log_beta(x, y), expected)
    assert torch.equal(log_beta(x, y, tol=0.01), log_beta(x, y))


@pytest.mark.parametrize("tol", [0.02, 0.05, 0.1, 0.5])
def test_log_beta_stirling_error_within_tolerance(tol):
    # The shifted Stirling series errs by less than 0.082 / ceil(0.082 / tol) <= tol.
    x = torch.tensor([0.01, 0.5, 1.0, 7.0, 100.0, 1e4], dtype=torch.float64)
    y = torch.tensor([0.3, 2.0, 0.05, 1.0, 100.0, 3.0], dtype=torch.float64)
    assert (log_beta(x, y, tol) - log_beta(x, y)).abs().max() < tol


def test_log_binomial_counts_subsets():
    n, k = torch.tensor([5.0, 10.0, 0.0]), torch.tensor([2.0, 10.0, 0.0])
    assert torch.allclose(log_binomial(n, k).exp(), torch.tensor([10.0, 1.0, 1.0]))
    assert (log_binomial(n, k, tol=0.1) - log_binomial(n, k)).abs().max() < 0.1
