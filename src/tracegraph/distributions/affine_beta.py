"""``AffineBeta``: a Beta variable moved to ``[loc, loc + scale]``.

>>> import torch
>>> d = AffineBeta(torch.tensor(2.0), torch.tensor(2.0), torch.tensor(-1.0), torch.tensor(2.0))
>>> d.mean, d.support
(tensor(0.), Interval(lower_bound=-1.0, upper_bound=1.0))
"""

from __future__ import annotations

from typing import Any

import torch
from torch.distributions import AffineTransform, constraints
from torch.distributions.utils import broadcast_all

from tracegraph.distributions import torch as _torch_wrappers
from tracegraph.distributions.torch_distribution import Shape
from tracegraph.distributions.util import broadcast_shape

__all__ = ["AffineBeta"]

Number = torch.Tensor | float


class AffineBeta(_torch_wrappers.TransformedDistribution):  # type: ignore[misc, name-defined]
    """``loc + scale * X`` with ``X ~ Beta(concentration1, concentration0)``.

    Samples of the Beta are clamped one machine epsilon inside ``(0, 1)``, so
    that neither the value nor its gradients are infinite at the boundary.

    :param concentration1: the Beta's first concentration (alpha), positive.
    :param concentration0: the Beta's second concentration (beta), positive.
    :param loc: the lower end of the support.
    :param scale: the width of the support, positive.
    :param validate_args: torch's per-instance validation switch.

    >>> d = AffineBeta(1.0, 1.0, 0.0, 4.0)
    >>> d.log_prob(torch.tensor(1.0)), d.sample_size
    (tensor(-1.3863), tensor(2.))
    """

    arg_constraints = {
        "concentration1": constraints.positive,
        "concentration0": constraints.positive,
        "loc": constraints.real,
        "scale": constraints.positive,
    }

    def __init__(
        self,
        concentration1: Number,
        concentration0: Number,
        loc: Number,
        scale: Number,
        validate_args: bool | None = None,
    ):
        concentration1, concentration0 = broadcast_all(concentration1, concentration0)
        dtype = concentration1.dtype
        loc = torch.as_tensor(loc, dtype=dtype, device=concentration1.device)
        scale = torch.as_tensor(scale, dtype=dtype, device=concentration1.device)
        base_dist = _torch_wrappers.Beta(concentration1, concentration0, validate_args=False)
        transform = AffineTransform(loc=loc, scale=scale)
        super().__init__(base_dist, transform, validate_args=validate_args)

    @staticmethod
    def infer_shapes(  # type: ignore[override]  # Pyro's subclasses name their args
        concentration1: tuple[int, ...],
        concentration0: tuple[int, ...],
        loc: tuple[int, ...],
        scale: tuple[int, ...],
    ) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """``(batch_shape, event_shape)`` from the parameters' shapes.

        >>> AffineBeta.infer_shapes((2,), (), (3, 1), ())
        ((3, 2), ())
        """
        return tuple(broadcast_shape(concentration1, concentration0, loc, scale)), ()

    def expand(self, batch_shape: Shape, _instance: Any = None) -> Any:
        """Expand the Beta to ``batch_shape``; ``loc`` and ``scale`` broadcast.

        >>> AffineBeta(2.0, 3.0, 0.0, 1.0).expand((2,)).base_dist.batch_shape
        torch.Size([2])
        """
        new = self._get_checked_instance(AffineBeta, _instance)
        return super().expand(batch_shape, _instance=new)

    def sample(self, sample_shape: Shape = torch.Size()) -> torch.Tensor:
        """A clamped Beta draw, moved and scaled.

        >>> AffineBeta(2.0, 3.0, 0.0, 1.0).sample((2,)).shape
        torch.Size([2])
        """
        with torch.no_grad():
            return self.rsample(sample_shape)

    def rsample(self, sample_shape: Shape = torch.Size()) -> torch.Tensor:
        """A reparameterized Beta draw, clamped inside ``(0, 1)``, moved and scaled.

        >>> c = torch.tensor(2.0, requires_grad=True)
        >>> AffineBeta(c, 3.0, 0.0, 1.0).rsample().requires_grad
        True
        """
        x = self.base_dist.rsample(torch.Size(sample_shape))
        eps = torch.finfo(x.dtype).eps
        x = x.clamp(min=eps, max=1 - eps)
        for t in self.transforms:
            x = t(x)
        return x

    @property
    def concentration1(self) -> torch.Tensor:
        """The Beta's first concentration."""
        return self.base_dist.concentration1  # type: ignore[attr-defined, no-any-return]

    @property
    def concentration0(self) -> torch.Tensor:
        """The Beta's second concentration."""
        return self.base_dist.concentration0  # type: ignore[attr-defined, no-any-return]

    @property
    def sample_size(self) -> torch.Tensor:
        """``concentration1 + concentration0``."""
        return self.concentration1 + self.concentration0

    @property
    def loc(self) -> torch.Tensor:
        """The lower end of the support."""
        return self.transforms[0].loc  # type: ignore[attr-defined, no-any-return]

    @property
    def scale(self) -> torch.Tensor:
        """The width of the support."""
        return self.transforms[0].scale  # type: ignore[attr-defined, no-any-return]

    @property
    def low(self) -> torch.Tensor:
        """``loc``."""
        return self.loc

    @property
    def high(self) -> torch.Tensor:
        """``loc + scale``."""
        return self.loc + self.scale

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self) -> Any:
        """The interval ``[loc, loc + scale]``."""
        return constraints.interval(self.low, self.high)

    @property
    def mean(self) -> torch.Tensor:
        """``loc + scale * alpha / (alpha + beta)``."""
        return self.loc + self.scale * self.base_dist.mean

    @property
    def variance(self) -> torch.Tensor:
        """``scale**2 * Beta variance``."""
        return self.scale.pow(2) * self.base_dist.variance
