"""The log-density of a standard stable variable, by numerical integration.

Nolan (1997) writes the density of ``X ~ S(alpha, beta; 0)`` at ``x > zeta``
(``zeta = -beta tan(pi alpha / 2)``) as

    ``f(x) = alpha / (pi |alpha - 1| (x - zeta)) * int h(theta) exp(-h(theta)) dtheta``

over ``theta in (-theta0, pi/2)``, with ``h = (x - zeta)**(alpha/(alpha-1)) V(theta)``
and ``V`` monotone in ``theta``; for ``alpha = 1`` (``beta > 0``),
``f(x) = 1 / (2 beta) * int h exp(-h) dtheta`` over ``(-pi/2, pi/2)`` with
``h = exp(-pi x / (2 beta)) V(theta)``.  Values ``x < zeta`` use
``f(x; alpha, beta) = f(-x; alpha, -beta)``.

The integrand ``h exp(-h)`` is a peak in ``theta`` (arbitrarily sharp near
``alpha = 1``) at ``log h = 0``, falling doubly exponentially on one side and
exponentially on the other.  Bisection on the monotone ``log h`` finds where it
crosses 4, 0 and -40 (beyond those, less than ``exp(-exp(4))`` and ``exp(-40)``
of the mass remains), and each of the two panels between them gets Gauss-Legendre
nodes in ``theta``: the panels follow the peak however narrow it is.  The nodes
are fixed (detached) and the integrand is evaluated at them differentiably, so
the result is differentiable in the parameters (the integrand vanishes at both
ends of the range, so moving ends add no term).  All in float64; accurate to
about 1e-6 relative in the bulk of the distribution.

>>> import torch
>>> x = torch.tensor([0.0, 1.0], dtype=torch.float64)
>>> alpha, beta = torch.tensor(2.0, dtype=torch.float64), torch.tensor(0.0, dtype=torch.float64)
>>> stable_standard_log_prob(x, alpha, beta)  # Normal(0, sqrt(2))
tensor([-1.2655, -1.5155], dtype=torch.float64)
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch

__all__ = ["stable_standard_log_prob"]

_NEAR_ONE = 1e-8
_SMOOTHING = 1e-4
# s = log h beyond these adds less than exp(-40) (left) or exp(-exp(4)) (right)
# of the Gumbel-shaped integrand's mass.
_S_LOW, _S_HIGH = -40.0, 4.0
_NUM_NODES = 48
_BISECTIONS = 60
_EDGE = 1e-12


@lru_cache(maxsize=4)
def _legendre(num: int) -> tuple[torch.Tensor, torch.Tensor]:
    # Gauss-Legendre nodes and weights on [-1, 1] (Golub-Welsch).
    k = torch.arange(1, num, dtype=torch.float64)
    off = k / torch.sqrt(4 * k * k - 1)
    nodes, vectors = torch.linalg.eigh(torch.diag(off, 1) + torch.diag(off, -1))
    return nodes, 2 * vectors[0].pow(2)


def _log_v_general(theta: torch.Tensor, alpha: torch.Tensor, theta0: torch.Tensor) -> torch.Tensor:
    a_theta0 = alpha * theta0
    exponent = alpha / (alpha - 1)
    return (
        torch.log(torch.cos(a_theta0)) / (alpha - 1)
        + exponent * (torch.log(torch.cos(theta)) - torch.log(torch.sin(alpha * (theta0 + theta))))
        + torch.log(torch.cos(a_theta0 + (alpha - 1) * theta))
        - torch.log(torch.cos(theta))
    )


def _log_v_one(theta: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    lever = math.pi / 2 + beta * theta
    return (
        math.log(2 / math.pi)
        + torch.log(lever)
        - torch.log(torch.cos(theta))
        + lever * torch.tan(theta) / beta
    )


def stable_standard_log_prob(
    x: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor
) -> torch.Tensor:
    """``log f(x; alpha, beta)`` of a standard ``S0`` stable variable (float64 in and out).

    :param x: points, float64.
    :param alpha: stability in ``(0, 2]``, broadcasting with ``x``.
    :param beta: skew in ``[-1, 1]``, broadcasting with ``x``.
    :returns: log-densities of the broadcast shape (``-inf`` outside the support).

    >>> one = torch.tensor(1.0, dtype=torch.float64)
    >>> stable_standard_log_prob(torch.tensor(0.0, dtype=torch.float64), one, 0 * one)  # Cauchy
    tensor(-1.1447, dtype=torch.float64)
    """
    x, alpha, beta = torch.broadcast_tensors(x, alpha, beta)
    near_one = (alpha - 1).abs() < _NEAR_ONE
    result = _log_prob(x, alpha, beta, near_one)
    if bool(near_one.any()) and alpha.requires_grad:
        # The stability-1 formula does not depend on alpha; its alpha-gradient is the
        # mean of the neighbouring general formulas' gradients (a central difference).
        # Only alpha's gradient is borrowed; the others are the stability-1 formula's own.
        never = torch.zeros_like(near_one)
        fixed_x, fixed_beta = x.detach(), beta.detach()
        around = 0.5 * (
            _log_prob(fixed_x, alpha + _SMOOTHING, fixed_beta, never)
            + _log_prob(fixed_x, alpha - _SMOOTHING, fixed_beta, never)
        )
        result = torch.where(near_one, result + (around - around.detach()), result)
    return result


def _log_prob(
    x: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor, near_one: torch.Tensor
) -> torch.Tensor:
    cauchy = near_one & (beta.abs() < 1e-10)
    a = torch.where(near_one, torch.full_like(alpha, 0.5), alpha)
    zeta = -beta * torch.tan(math.pi / 2 * a)
    # Reflect so that x > zeta (alpha != 1) or beta > 0 (alpha = 1).
    flip = torch.where(near_one, beta < 0, x < zeta)
    x = torch.where(flip, -x, x)
    b = torch.where(flip, -beta, beta)
    zeta = torch.where(flip, -zeta, zeta)
    b_one = torch.where(cauchy, torch.ones_like(b), b)

    theta0 = torch.atan(b * torch.tan(math.pi / 2 * a)) / a
    distance = (x - zeta).clamp(min=torch.finfo(x.dtype).tiny)
    log_c = torch.where(near_one, -math.pi * x / (2 * b_one), a / (a - 1) * torch.log(distance))
    lower = torch.where(near_one, torch.full_like(x, -math.pi / 2), -theta0)
    upper = torch.full_like(x, math.pi / 2)

    def log_h(theta: torch.Tensor) -> torch.Tensor:
        t0, lc, one = (u.unsqueeze(-1) for u in (theta0, log_c, near_one))
        general = _log_v_general(theta, a.unsqueeze(-1), t0)
        special = _log_v_one(theta, b_one.unsqueeze(-1))
        return lc + torch.where(one, special, general)

    with torch.no_grad():
        width = (upper - lower).clamp(min=0)
        lo_theta = lower + _EDGE * width
        hi_theta = upper - _EDGE * width
        increasing = (
            log_h(hi_theta.unsqueeze(-1)).squeeze(-1).nan_to_num()
            > log_h(lo_theta.unsqueeze(-1)).squeeze(-1).nan_to_num()
        )
        targets = torch.tensor([_S_HIGH, 0.0, _S_LOW], dtype=x.dtype, device=x.device)
        # theta where log h crosses each target (an end of the interval if it never does).
        left = lo_theta.unsqueeze(-1).expand(x.shape + (3,)).clone()
        right = hi_theta.unsqueeze(-1).expand(x.shape + (3,)).clone()
        rising = increasing.unsqueeze(-1)
        for _ in range(_BISECTIONS):
            middle = (left + right) / 2
            below = (log_h(middle) < targets) == rising
            left = torch.where(below, middle, left)
            right = torch.where(below, right, middle)
        cuts = (left + right) / 2
        # Two panels, [cut(4), cut(0)] and [cut(0), cut(-40)], each Gauss-Legendre in theta.
        unit_nodes, unit_weights = _legendre(_NUM_NODES)
        starts, ends = cuts[..., :2], cuts[..., 1:]
        half = (ends - starts) / 2
        theta = starts.unsqueeze(-1) + half.unsqueeze(-1) * (unit_nodes + 1)  # (..., 2, n)
        theta = theta.reshape(x.shape + (-1,))
        weights = (unit_weights * half.abs().unsqueeze(-1)).reshape(x.shape + (-1,))

    # The integrand, differentiable in the parameters at the fixed nodes.
    s = log_h(theta)
    integral = (weights * torch.exp(s - s.exp()).nan_to_num(0.0)).sum(-1)
    prefactor_general = torch.log(a / (math.pi * (a - 1).abs() * distance))
    prefactor_one = -torch.log(2 * b_one)
    log_f = torch.log(integral) + torch.where(near_one, prefactor_one, prefactor_general)
    # At x = zeta the integral degenerates; Nolan gives the value in closed form.
    at_zeta = ~near_one & ((x - zeta).abs() < 1e-12)
    log_f_zeta = (
        torch.lgamma(1 + 1 / a)
        + torch.log(torch.cos(theta0))
        - math.log(math.pi)
        - torch.log1p(zeta * zeta) / (2 * a)
    )
    log_f = torch.where(at_zeta, log_f_zeta, log_f)
    log_cauchy = -math.log(math.pi) - torch.log1p(x * x)
    return torch.where(cauchy, log_cauchy, log_f)
