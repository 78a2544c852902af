"""Levy alpha-stable distributions: ``Stable`` and ``StableWithLogProb``.

Samples come from the Chambers-Mallows-Stuck method (Chambers, Mallows & Stuck
1976; Weron 1996), reparameterized in every parameter; ``log_prob`` integrates
Nolan's (1997) one-dimensional integral representation numerically (see
:mod:`tracegraph.distributions.stable_log_prob`).  ``loc`` is Nolan's continuous
``S0`` location by default (``coords="S0"``); ``coords="S"`` gives the classical
``S`` (``S1``) location, discontinuous at ``stability = 1``.

>>> import torch
>>> d = Stable(torch.tensor(2.0), torch.tensor(0.0))  # Normal(0, sqrt(2))
>>> d.variance, d.rsample((3,)).shape
(tensor(2.), torch.Size([3]))
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.distributions import constraints
from torch.distributions.utils import broadcast_all

from tracegraph.distributions.argument_errors import ArgumentAssertionError
from tracegraph.distributions.expansion import finish_expand
from tracegraph.distributions.sampling import open_uniform, standard_exponential
from tracegraph.distributions.stable_log_prob import stable_standard_log_prob
from tracegraph.distributions.torch_distribution import Shape, TorchDistribution

__all__ = ["Stable", "StableWithLogProb"]

Number = torch.Tensor | float
# |stability - 1| below this uses the stability = 1 formulas (S0 is continuous there).
_NEAR_ONE = 1e-8
# Half-width of the central difference that gives stability-1 values an alpha-gradient.
_SMOOTHING = 1e-4


def _s0_loc(
    stability: torch.Tensor, skew: torch.Tensor, scale: torch.Tensor, loc: torch.Tensor, coords: str
) -> torch.Tensor:
    # The S0 location of a distribution given in ``coords``.  As in Pyro, "S" at
    # stability = 1 coincides with S0 (no ``2/pi skew scale log(scale)`` term, which
    # Nolan's S1 would add).
    if coords == "S0":
        return loc
    near_one = (stability - 1).abs() < _NEAR_ONE
    safe = torch.where(near_one, torch.full_like(stability, 0.5), stability)
    shift = skew * scale * torch.tan(math.pi / 2 * safe)
    return loc + torch.where(near_one, torch.zeros_like(shift), shift)


def _standard_s0_general(
    a: torch.Tensor, beta: torch.Tensor, v: torch.Tensor, w: torch.Tensor
) -> torch.Tensor:
    # stability != 1: the S1 draw of Weron (1996), then the S0 shift -beta tan(pi a / 2).
    t = beta * torch.tan(math.pi / 2 * a)
    b = torch.atan(t) / a
    s = (1 + t * t).pow(1 / (2 * a))
    tiny = torch.finfo(v.dtype).tiny
    inner = torch.cos(v - a * (v + b)).clamp(min=tiny) / w
    return (
        s
        * torch.sin(a * (v + b))
        / torch.cos(v).clamp(min=tiny).pow(1 / a)
        * inner.pow((1 - a) / a)
        - t
    )


def _standard_s0_sample(
    alpha: torch.Tensor, beta: torch.Tensor, v: torch.Tensor, w: torch.Tensor
) -> torch.Tensor:
    """A standard S0 draw from ``V ~ Uniform(-pi/2, pi/2)`` and ``W ~ Exponential(1)``.

    At stability 1 the value comes from the stability-1 formula, which does not
    depend on ``alpha``; its ``alpha``-gradient is the mean of the general
    formula's gradients at ``alpha -+ 1e-4`` (a central difference, error ``O(1e-8)``).
    """
    near_one = (alpha - 1).abs() < _NEAR_ONE
    safe = torch.where(near_one, torch.full_like(alpha, 0.5), alpha)
    general = _standard_s0_general(safe, beta, v, w)
    # stability == 1 (S1 and S0 agree for unit scale).
    half_pi = math.pi / 2
    lever = half_pi + beta * v
    one = (lever * torch.tan(v) - beta * torch.log(half_pi * w * torch.cos(v) / lever)) / half_pi
    if bool(near_one.any()):
        # Only alpha's gradient is borrowed; the others are the stability-1 formula's own.
        fixed = beta.detach()
        around = 0.5 * (
            _standard_s0_general(alpha + _SMOOTHING, fixed, v, w)
            + _standard_s0_general(alpha - _SMOOTHING, fixed, v, w)
        )
        one = one + (around - around.detach())
    return torch.where(near_one, one, general)


class Stable(TorchDistribution):
    """The Levy alpha-stable distribution ``S(stability, skew, scale, loc)``.

    :param stability: ``alpha`` in ``(0, 2]`` (2 is Normal, 1 is Cauchy-like).
    :param skew: ``beta`` in ``[-1, 1]``.
    :param scale: ``sigma``, positive.
    :param loc: Nolan's ``S0`` location (or the ``S`` location with ``coords="S"``).
    :param coords: ``"S0"`` (continuous in ``alpha``) or ``"S"``.
    :param validate_args: torch's per-instance validation switch.
    :raises ArgumentAssertionError: for another ``coords``.

    >>> d = Stable(torch.tensor(1.5), torch.tensor(0.3), torch.tensor(2.0), torch.tensor(1.0))
    >>> d.mean
    tensor(1.6000)
    """

    arg_constraints = {
        "stability": constraints.interval(0, 2),
        "skew": constraints.interval(-1, 1),
        "scale": constraints.positive,
        "loc": constraints.real,
    }
    support = constraints.real

    def __init__(
        self,
        stability: Number,
        skew: Number,
        scale: Number = 1.0,
        loc: Number = 0.0,
        coords: str = "S0",
        validate_args: bool | None = None,
    ):
        if coords not in ("S", "S0"):
            raise ArgumentAssertionError(f"coords must be 'S0' or 'S', got {coords!r}")
        self.stability, self.skew, self.scale, self.loc = broadcast_all(stability, skew, scale, loc)
        self.coords = coords
        super().__init__(self.loc.shape, validate_args=validate_args)

    def _native_has_rsample(self) -> bool:
        return True

    def expand(self, batch_shape: Shape, _instance: Any = None) -> Any:
        """Broadcast the parameters to ``batch_shape``.

        >>> Stable(1.5, 0.0, coords="S").expand((2,)).coords
        'S'
        """
        batch_shape = torch.Size(batch_shape)
        new = self._get_checked_instance(type(self), _instance)
        for name in ("stability", "skew", "scale", "loc"):
            setattr(new, name, getattr(self, name).expand(batch_shape))
        new.coords = self.coords
        return finish_expand(self, new, batch_shape)

    def rsample(self, sample_shape: Shape = torch.Size()) -> torch.Tensor:
        """Chambers-Mallows-Stuck draws, computed in float64; differentiable in every
        parameter.

        >>> Stable(1.8, 0.5).rsample((4,)).shape
        torch.Size([4])
        """
        shape = self.shape(sample_shape)
        like = self.loc.double()
        v = (open_uniform(shape, like) - 0.5) * math.pi
        w = standard_exponential(shape, like)
        alpha, beta, scale = self.stability.double(), self.skew.double(), self.scale.double()
        z = _standard_s0_sample(alpha, beta, v, w)
        loc0 = _s0_loc(alpha, beta, scale, self.loc.double(), self.coords)
        return (loc0 + scale * z).to(self.loc.dtype)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """The log-density, by numerical integration (slow compared to other
        distributions; accurate to about 1e-6 relative in the bulk).

        >>> Stable(torch.tensor(1.0), torch.tensor(0.0)).log_prob(torch.tensor(0.0))  # Cauchy
        tensor(-1.1447)
        """
        if self._validate_args:
            self._validate_sample(value)
        alpha, beta, scale = self.stability.double(), self.skew.double(), self.scale.double()
        loc0 = _s0_loc(alpha, beta, scale, self.loc.double(), self.coords)
        x = (value.double() - loc0) / scale
        result = stable_standard_log_prob(x, alpha, beta) - scale.log()
        return result.to(torch.promote_types(value.dtype, self.loc.dtype))

    @property
    def mean(self) -> torch.Tensor:
        """Finite for ``stability > 1``: ``loc`` in ``S``; ``loc - skew scale
        tan(pi stability / 2)`` in ``S0``; ``nan`` otherwise."""
        mean = self.loc
        if self.coords == "S0":
            mean = mean - self.skew * self.scale * torch.tan(math.pi / 2 * self.stability)
        return torch.where(self.stability > 1, mean, mean.new_full((), math.nan))

    @property
    def variance(self) -> torch.Tensor:
        """``2 scale**2`` for ``stability = 2``, else ``inf``."""
        var = 2 * self.scale.pow(2)
        return torch.where(self.stability == 2, var, var.new_full((), math.inf))


class StableWithLogProb(Stable):
    """:class:`Stable` that reparameterization strategies leave alone (in Pyro,
    ``MinimalReparam`` skips it and the stable reparameterizers refuse it).

    >>> StableWithLogProb(torch.tensor(2.0), torch.tensor(0.0)).variance
    tensor(2.)
    """
