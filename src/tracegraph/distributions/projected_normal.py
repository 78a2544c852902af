"""Distributions of directions on the unit sphere: ``ProjectedNormal`` and ``VonMises3D``.

Both take one ``concentration`` vector whose direction is the mean direction
and whose length is the concentration.

>>> import torch
>>> ProjectedNormal(torch.tensor([0.0, 3.0])).mean
tensor([0., 1.])
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.distributions import constraints

from tracegraph.distributions.argument_errors import ShapeAssertionError
from tracegraph.distributions.expansion import finish_expand
from tracegraph.distributions.pyro_constraints import sphere
from tracegraph.distributions.torch_distribution import Shape, TorchDistribution
from tracegraph.errors import ShapeError

__all__ = ["ProjectedNormal", "VonMises3D"]

_LOG_TWO_PI = math.log(2 * math.pi)


def safe_normalize(x: torch.Tensor) -> torch.Tensor:
    """``x / |x|`` along the last dim; a zero vector maps to ``(1, 0, ..., 0)``.

    >>> safe_normalize(torch.tensor([[3.0, 4.0], [0.0, 0.0]]))
    tensor([[0.6000, 0.8000],
            [1.0000, 0.0000]])
    """
    norm = x.norm(dim=-1, keepdim=True)
    out = x / norm.clamp(min=torch.finfo(x.dtype).tiny)
    first = torch.zeros_like(x)
    first[..., 0] = 1
    return torch.where(norm == 0, first, out)


def _log_radial_integral(t: torch.Tensor, dim: int) -> torch.Tensor:
    """``log I_dim(t)`` with ``I_D(t) = int_0^inf r**(D-1) exp(-r**2/2 + r t) dr``.

    ``I_1(t) = sqrt(2 pi) Phi(t) exp(t**2/2)`` and ``I_{D+1} = dI_D/dt``, so
    ``I_D = A(t) I_1 + B(t)`` with polynomials ``A, B`` (non-negative for
    ``t >= 0``, where the sum is taken in log space; for ``t < 0`` ``I_1`` is
    small and the sum is taken in float64).
    """
    a_b = {
        2: (lambda s: s, lambda s: torch.ones_like(s)),
        3: (lambda s: 1 + s * s, lambda s: s),
        4: (lambda s: s * (3 + s * s), lambda s: 2 + s * s),
    }[dim]
    poly_a, poly_b = a_b
    t_pos = t.clamp(min=0)
    log_i1_pos = 0.5 * _LOG_TWO_PI + torch.special.log_ndtr(t_pos) + 0.5 * t_pos.pow(2)
    positive = torch.logaddexp(poly_a(t_pos).log() + log_i1_pos, poly_b(t_pos).log())
    t_neg = t.clamp(max=0).double()
    i1_neg = math.sqrt(math.pi / 2) * torch.special.erfcx(-t_neg / math.sqrt(2))
    value = poly_a(t_neg) * i1_neg + poly_b(t_neg)
    negative = value.clamp(min=torch.finfo(torch.float64).tiny).log().to(t.dtype)
    return torch.where(t >= 0, positive, negative)


class ProjectedNormal(TorchDistribution):
    """The direction ``x / |x|`` of ``x ~ Normal(concentration, I)``, in any dimension.

    Samples are reparameterized.  ``log_prob`` is implemented for dimensions 2,
    3 and 4 (the density integrates the Normal along each ray, in closed form;
    Hernandez-Stumpfhauser, Breidt & van der Woerd 2017).

    :param concentration: the mean direction times the concentration; the
        rightmost dim is the event.
    :param validate_args: torch's per-instance validation switch.

    >>> d = ProjectedNormal(torch.tensor([1.0, 2.0, 0.5]))
    >>> d.log_prob(torch.tensor([0.6, 0.8, 0.0]))
    tensor(-0.2787)
    """

    arg_constraints = {"concentration": constraints.real_vector}
    support = sphere

    def __init__(self, concentration: torch.Tensor, *, validate_args: bool | None = None):
        if concentration.dim() < 1:
            raise ShapeAssertionError(
                "ProjectedNormal expects concentration with at least one dim (the event); "
                f"got shape {tuple(concentration.shape)}"
            )
        self.concentration = concentration
        super().__init__(
            concentration.shape[:-1], concentration.shape[-1:], validate_args=validate_args
        )

    def _native_has_rsample(self) -> bool:
        return True

    @staticmethod
    def infer_shapes(  # type: ignore[override]  # Pyro's subclasses name their args
        concentration: tuple[int, ...],
    ) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """``(batch_shape, event_shape)`` from the concentration's shape.

        >>> ProjectedNormal.infer_shapes((4, 3))
        ((4,), (3,))
        """
        return tuple(concentration[:-1]), tuple(concentration[-1:])

    def expand(self, batch_shape: Shape, _instance: Any = None) -> Any:
        """Broadcast the concentration to ``batch_shape``.

        >>> ProjectedNormal(torch.ones(3)).expand((2,)).concentration.shape
        torch.Size([2, 3])
        """
        batch_shape = torch.Size(batch_shape)
        new = self._get_checked_instance(ProjectedNormal, _instance)
        new.concentration = self.concentration.expand(batch_shape + self.event_shape)
        return finish_expand(self, new, batch_shape)

    @property
    def mean(self) -> torch.Tensor:
        """The mean direction (the centroid on the sphere, not the Euclidean mean)."""
        return safe_normalize(self.concentration)

    @property
    def mode(self) -> torch.Tensor:
        """The mean direction."""
        return safe_normalize(self.concentration)

    def rsample(self, sample_shape: Shape = torch.Size()) -> torch.Tensor:
        """Normalize ``concentration + noise``; differentiable in the concentration.

        >>> ProjectedNormal(torch.zeros(3)).rsample((4,)).norm(dim=-1)
        tensor([1.0000, 1.0000, 1.0000, 1.0000])
        """
        shape = self.shape(sample_shape)
        c = self.concentration
        noise = torch.randn(shape, dtype=c.dtype, device=c.device)
        return safe_normalize(c + noise)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """The density on the sphere, with respect to its surface measure.

        :raises NotImplementedError: for dimensions other than 2, 3 and 4.

        >>> ProjectedNormal(torch.zeros(2)).log_prob(torch.tensor([1.0, 0.0]))  # uniform
        tensor(-1.8379)
        """
        if self._validate_args:
            self._validate_sample(value)
        dim = self.event_shape[0]
        if dim not in (2, 3, 4):
            raise NotImplementedError(
                f"ProjectedNormal.log_prob() is not implemented for dim = {dim}."
            )
        c = self.concentration
        t = (c * value).sum(-1)
        return -0.5 * dim * _LOG_TWO_PI - 0.5 * c.pow(2).sum(-1) + _log_radial_integral(t, dim)


class VonMises3D(TorchDistribution):
    """The von Mises-Fisher distribution on the 2-sphere:
    ``p(x) = kappa / (4 pi sinh(kappa)) exp(concentration . x)``, ``kappa = |concentration|``.

    Values are unit 3-vectors.  Only ``log_prob`` is implemented (as in Pyro).

    :param concentration: the mean direction times ``kappa``; rightmost dim 3.
    :param validate_args: torch's per-instance validation switch.
    :raises ShapeError: if the rightmost dim is not 3.

    >>> VonMises3D(torch.zeros(3)).log_prob(torch.tensor([0.0, 0.0, 1.0]))  # uniform
    tensor(-2.5310)
    """

    arg_constraints = {"concentration": constraints.real}
    support = sphere

    def __init__(self, concentration: torch.Tensor, validate_args: bool | None = None):
        if concentration.dim() < 1 or concentration.size(-1) != 3:
            raise ShapeError(
                "Expected concentration to have rightmost dim 3, actual shape = "
                f"{concentration.shape}"
            )
        self.concentration = concentration
        super().__init__(
            concentration.shape[:-1], concentration.shape[-1:], validate_args=validate_args
        )

    def expand(self, batch_shape: Shape, _instance: Any = None) -> Any:
        """Broadcast the concentration to ``batch_shape``.

        >>> VonMises3D(torch.ones(3)).expand((2,)).batch_shape
        torch.Size([2])
        """
        batch_shape = torch.Size(batch_shape)
        new = self._get_checked_instance(VonMises3D, _instance)
        new.concentration = self.concentration.expand(batch_shape + self.event_shape)
        return finish_expand(self, new, batch_shape)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """``concentration . value + log(kappa / (4 pi sinh kappa))``.

        >>> VonMises3D(torch.tensor([0.0, 0.0, 2.0])).log_prob(torch.tensor([0.0, 0.0, 1.0]))
        tensor(-1.1262)
        """
        if self._validate_args:
            self._validate_sample(value)
        c = self.concentration
        kappa = c.norm(dim=-1)
        # log(kappa / (2 sinh kappa)) = log(kappa / (1 - exp(-2 kappa))) - kappa, which
        # is -log 2 - kappa**2 / 6 + O(kappa**4) near zero (where kappa = 0 is uniform).
        small = kappa < 1e-3
        safe = torch.where(small, torch.ones_like(kappa), kappa)
        exact = safe.log() - torch.log(-torch.expm1(-2 * safe)) - safe
        log_ratio = torch.where(small, -math.log(2) - kappa.pow(2) / 6, exact)
        return (c * value).sum(-1) + log_ratio - _LOG_TWO_PI

    def sample(self, sample_shape: Shape = torch.Size()) -> torch.Tensor:
        """Not implemented (as in Pyro).

        :raises NotImplementedError: always.
        """
        raise NotImplementedError("VonMises3D.sample() is not implemented")
