"""Log Beta functions and log binomial coefficients, exact or to a tolerance.

With ``tol >= 0.02`` the log Beta function uses Stirling's approximation of
``lgamma`` after shifting its arguments up by ``n`` with ``lgamma(x) =
lgamma(x + n) - sum(log(x + i) for i < n)``; Stirling's error after the shift
is below ``0.082 / n``, so ``n = ceil(0.082 / tol)`` meets the tolerance.
That is cheaper than three ``lgamma`` calls on large batches (Pyro's
``Binomial.approx_log_prob_tol``).

>>> log_binomial(torch.tensor(10.0), torch.tensor(3.0)).exp().round()
tensor(120.)
"""

from __future__ import annotations

import math

import torch

__all__ = ["log_beta", "log_binomial"]

_HALF_LOG_TWO_PI = 0.5 * math.log(2 * math.pi)


def _stirling_lgamma(z: torch.Tensor) -> torch.Tensor:
    return (z - 0.5) * torch.log(z) - z + _HALF_LOG_TWO_PI


def log_beta(x: torch.Tensor, y: torch.Tensor, tol: float = 0.0) -> torch.Tensor:
    """``log B(x, y) = lgamma(x) + lgamma(y) - lgamma(x + y)``.

    :param x: a positive tensor.
    :param y: a positive tensor.
    :param tol: bound on the absolute error; below 0.02 the exact formula is used.
    :returns: the log Beta function, broadcast over ``x`` and ``y``.

    >>> x, y = torch.tensor([0.5, 10.0]), torch.tensor([2.0, 50.0])
    >>> (log_beta(x, y, tol=0.1) - log_beta(x, y)).abs().max() < 0.1
    tensor(True)
    """
    if tol < 0.02:
        return torch.lgamma(x) + torch.lgamma(y) - torch.lgamma(x + y)
    shift = math.ceil(0.082 / tol)
    xy = x + y
    out = _stirling_lgamma(x + shift) + _stirling_lgamma(y + shift) - _stirling_lgamma(xy + shift)
    for i in range(shift):
        out = out - torch.log(x + i) - torch.log(y + i) + torch.log(xy + i)
    return out


def log_binomial(n: torch.Tensor, k: torch.Tensor, tol: float = 0.0) -> torch.Tensor:
    """``log(n choose k)``, through :func:`log_beta` when ``tol >= 0.02``.

    :param n: a nonnegative integer-valued tensor.
    :param k: an integer-valued tensor in ``[0, n]``.
    :param tol: bound on the absolute error.
    :returns: the log binomial coefficient, broadcast over ``n`` and ``k``.

    >>> log_binomial(torch.tensor(5.0), torch.tensor(2.0)).exp().round()
    tensor(10.)
    """
    if tol < 0.02:
        return torch.lgamma(n + 1) - torch.lgamma(k + 1) - torch.lgamma(n - k + 1)
    return -torch.log1p(n) - log_beta(k + 1, n - k + 1, tol)
