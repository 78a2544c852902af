"""``SineSkewed``: sine-skewing of a symmetric distribution on the d-torus
(Ameijeiras-Alonso & Ley 2019).

>>> import math, torch
>>> import tracegraph.distributions as dist
>>> base = dist.Uniform(-math.pi * torch.ones(2), math.pi).to_event(1)
>>> d = SineSkewed(base, torch.tensor([0.3, -0.4]))
>>> d.event_shape, d.sample((5,)).shape
(torch.Size([2]), torch.Size([5, 2]))
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch.distributions import constraints

from tracegraph.distributions.argument_errors import ShapeAssertionError
from tracegraph.distributions.mixin import expand_or_wrap
from tracegraph.distributions.sine_bivariate_von_mises import wrap_angle
from tracegraph.distributions.torch_distribution import Shape, TorchDistribution
from tracegraph.distributions.util import broadcast_shape
from tracegraph.errors import TracegraphWarning

__all__ = ["SineSkewed"]


class SineSkewed(TorchDistribution):
    """``p(x) = base(x) (1 + sum_d skewness_d sin(x_d - loc_d))`` on the d-torus.

    ``base_dist`` must be symmetric about its location ``loc`` (taken as its
    ``mean``: a von Mises' ``loc``, the ``(phi_loc, psi_loc)`` of
    :class:`SineBivariateVonMises`, the centre of a ``Uniform(-pi, pi)``) with
    event shape ``(d,)``; then the density stays normalized when
    ``sum_d |skewness_d| <= 1``.  A draw keeps a base draw ``y`` with probability
    ``(1 + sum_d skewness_d sin(y_d - loc_d)) / 2`` and reflects it to
    ``2 loc - y`` otherwise (wrapped to ``[-pi, pi)``).

    :param base_dist: a distribution on the d-torus with event shape ``(d,)``.
    :param skewness: one weight per event dim, each in ``[-1, 1]``.
    :param validate_args: torch's per-instance validation switch.
    :raises ShapeAssertionError: if ``skewness`` does not have one weight per event dim.

    A ``TracegraphWarning`` says so when ``sum_d |skewness_d| > 1``.

    >>> import torch
    >>> import tracegraph.distributions as dist
    >>> base = dist.VonMises(torch.zeros(2), 2.0).to_event(1)
    >>> SineSkewed(base, torch.tensor([0.5, 0.0])).log_prob(torch.tensor([0.0, 0.0]))
    tensor(-1.3237)
    """

    arg_constraints = {"skewness": constraints.independent(constraints.interval(-1.0, 1.0), 1)}
    support = constraints.independent(constraints.real, 1)

    def __init__(
        self,
        base_dist: torch.distributions.Distribution,
        skewness: torch.Tensor,
        validate_args: bool | None = None,
    ):
        event_shape = base_dist.event_shape
        if len(event_shape) != 1 or skewness.dim() < 1 or skewness.size(-1) != event_shape[0]:
            raise ShapeAssertionError(
                "Sine Skewing is only valid with a skewness parameter for each dimension of "
                f"`base_dist.event_shape`; got event_shape {tuple(event_shape)} and skewness "
                f"of shape {tuple(skewness.shape)}"
            )
        if (skewness.abs().sum(-1) > 1).any():
            warnings.warn(
                "Total skewness weight shouldn't exceed one.", TracegraphWarning, stacklevel=2
            )
        batch_shape = broadcast_shape(skewness.shape[:-1], base_dist.batch_shape)
        if base_dist.batch_shape != batch_shape:
            base_dist = expand_or_wrap(base_dist, torch.Size(batch_shape))
        self.skewness = skewness.expand(batch_shape + event_shape)
        self.base_dist = base_dist
        super().__init__(batch_shape, event_shape, validate_args=validate_args)

    def _loc(self) -> torch.Tensor:
        return self.base_dist.mean  # type: ignore[no-any-return]

    def expand(self, batch_shape: Shape, _instance: Any = None) -> Any:
        """Expand the base distribution and the skewness to ``batch_shape``.

        >>> import math, torch
        >>> import tracegraph.distributions as dist
        >>> base = dist.Uniform(-math.pi * torch.ones(2), math.pi).to_event(1)
        >>> SineSkewed(base, torch.tensor([0.3, 0.1])).expand((4,)).skewness.shape
        torch.Size([4, 2])
        """
        batch_shape = torch.Size(batch_shape)
        new = SineSkewed(
            expand_or_wrap(self.base_dist, batch_shape),
            self.skewness.expand(batch_shape + self.event_shape),
            validate_args=False,
        )
        new._validate_args = self._validate_args
        return self._keep_has_rsample(new)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """``base.log_prob(value) + log1p(sum_d skewness_d sin(value_d - loc_d))``."""
        if self._validate_args:
            self._validate_sample(value)
        skew = (self.skewness * torch.sin(value - self._loc())).sum(-1)
        return self.base_dist.log_prob(value) + torch.log1p(skew)

    def sample(self, sample_shape: Shape = torch.Size()) -> torch.Tensor:
        """A base draw, kept or reflected about the location (see the class docstring).

        >>> import math, torch
        >>> import tracegraph.distributions as dist
        >>> base = dist.Uniform(-math.pi * torch.ones(2), math.pi).to_event(1)
        >>> x = SineSkewed(base, torch.tensor([0.9, 0.0])).sample((1000,))
        >>> bool(((x >= -math.pi) & (x < math.pi)).all())
        True
        """
        with torch.no_grad():
            y = self.base_dist.sample(torch.Size(sample_shape))
            loc = self._loc()
            keep_prob = 0.5 * (1 + (self.skewness * torch.sin(y - loc)).sum(-1))
            keep = torch.rand_like(keep_prob) < keep_prob
            return wrap_angle(torch.where(keep.unsqueeze(-1), y, 2 * loc - y))
