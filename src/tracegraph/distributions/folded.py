"""``FoldedDistribution``: the absolute value of a univariate variable.

>>> import torch
>>> import tracegraph.distributions as dist
>>> d = FoldedDistribution(dist.Normal(torch.tensor(0.0), 1.0))
>>> d.log_prob(torch.tensor(0.5)).exp()  # twice the Normal density at 0.5
tensor(0.7041)
"""

from __future__ import annotations

from typing import Any

import torch
from torch.distributions import AbsTransform, constraints

from tracegraph.distributions import torch as _torch_wrappers
from tracegraph.distributions.torch_distribution import Shape
from tracegraph.errors import ShapeError

__all__ = ["FoldedDistribution"]


class FoldedDistribution(_torch_wrappers.TransformedDistribution):  # type: ignore[misc, name-defined]
    """``|X|`` for a univariate ``X ~ base_dist``, with a ``log_prob``.

    The same as ``TransformedDistribution(base_dist, AbsTransform())``, whose
    transform is not invertible; here ``log_prob(y) = log(p(y) + p(-y))``.

    :param base_dist: a distribution with empty ``event_shape``.
    :param validate_args: torch's per-instance validation switch.
    :raises ShapeError: if ``base_dist`` has a nonempty event shape.

    >>> import tracegraph.distributions as dist
    >>> FoldedDistribution(dist.Normal(torch.zeros(2), 1.0)).sample((3,)).shape
    torch.Size([3, 2])
    """

    support = constraints.positive

    def __init__(
        self, base_dist: torch.distributions.Distribution, validate_args: bool | None = None
    ):
        if base_dist.event_shape:
            raise ShapeError(
                "Only univariate distributions can be folded; got event_shape "
                f"{tuple(base_dist.event_shape)}; hint: fold the univariate base, then "
                "call .to_event()"
            )
        super().__init__(base_dist, AbsTransform(), validate_args=validate_args)

    def expand(self, batch_shape: Shape, _instance: Any = None) -> Any:
        """Expand the base distribution to ``batch_shape``.

        >>> import tracegraph.distributions as dist
        >>> FoldedDistribution(dist.Normal(0.0, 1.0)).expand((2,)).batch_shape
        torch.Size([2])
        """
        new = self._get_checked_instance(FoldedDistribution, _instance)
        return super().expand(batch_shape, _instance=new)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """``logaddexp(base.log_prob(value), base.log_prob(-value))``.

        >>> import tracegraph.distributions as dist
        >>> FoldedDistribution(dist.Normal(1.0, 1.0)).log_prob(torch.tensor(0.5))
        tensor(-0.7307)
        """
        if self._validate_args:
            self._validate_sample(value)
        return torch.logaddexp(self.base_dist.log_prob(value), self.base_dist.log_prob(-value))
