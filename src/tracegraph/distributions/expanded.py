"""``ExpandedDistribution``: a distribution broadcast to a larger batch shape, for
classes that cannot ``expand`` themselves.

>>> import torch
>>> import tracegraph.distributions as dist
>>> ExpandedDistribution(dist.Normal(torch.zeros(3, 1), 1.0), (2, 3, 4)).sample().shape
torch.Size([2, 3, 4])
"""

from __future__ import annotations

from typing import Any

import torch

from tracegraph.distributions import constraints
from tracegraph.distributions.mixin import (
    Shape,
    TorchDistribution,
    expand_or_wrap,
    register_wrapper,
    score_parts_of,
)
from tracegraph.distributions.score_parts import ScoreParts
from tracegraph.distributions.shapes import broadcast_shape
from tracegraph.errors import ShapeError

__all__ = ["ExpandedDistribution"]


class ExpandedDistribution(TorchDistribution):
    """A base distribution broadcast to a larger batch shape, with independent draws.

    Used for distributions that cannot ``expand`` themselves.  New dims on the
    left and size-1 dims that grow get fresh draws, never copies.

    :param base_dist: any ``torch.distributions`` object.
    :param batch_shape: the new batch shape; the base's must broadcast to it.
    :raises ShapeError: if the base's batch shape does not broadcast to ``batch_shape``.

    >>> import tracegraph.distributions as dist
    >>> d = ExpandedDistribution(dist.Normal(torch.zeros(3, 1), 1.0), (2, 3, 4))
    >>> d.sample().shape, d.log_prob(torch.zeros(2, 3, 4)).shape
    (torch.Size([2, 3, 4]), torch.Size([2, 3, 4]))
    """

    arg_constraints: dict[str, constraints.Constraint] = {}

    def __init__(self, base_dist: torch.distributions.Distribution, batch_shape: Shape = ()):
        batch_shape = torch.Size(batch_shape)
        try:
            fits = broadcast_shape(base_dist.batch_shape, batch_shape) == batch_shape
        except ShapeError:
            fits = False
        if not fits:
            raise ShapeError(
                f"Cannot broadcast distribution of shape {base_dist.batch_shape} to shape "
                f"{tuple(batch_shape)}: expanding {type(base_dist).__name__}, a dim may only "
                "grow from 1 or be added on the left"
            )
        self.base_dist = base_dist
        super().__init__(batch_shape, base_dist.event_shape, validate_args=False)

    def _native_has_rsample(self) -> bool:
        return bool(self.base_dist.has_rsample)

    def expand(self, batch_shape: Shape, _instance: Any = None) -> ExpandedDistribution:
        return self._keep_has_rsample(ExpandedDistribution(self.base_dist, batch_shape))

    @property
    def support(self) -> Any:
        return self.base_dist.support

    @property
    def mean(self) -> torch.Tensor:
        return self.base_dist.mean.expand(self.shape())

    @property
    def variance(self) -> torch.Tensor:
        return self.base_dist.variance.expand(self.shape())

    def _draw(self, sample_shape: Shape, draw: Any) -> torch.Tensor:
        base_batch = self.base_dist.batch_shape
        lead = self.batch_shape[: len(self.batch_shape) - len(base_batch)]
        tail = self.batch_shape[len(lead) :]
        grown = [i for i, (old, new) in enumerate(zip(base_batch, tail)) if old != new]
        outer = torch.Size(sample_shape) + lead
        # Grown size-1 dims are drawn as extra leading sample dims, then moved into place.
        extra = torch.Size(tail[i] for i in grown)
        value = draw(outer + extra)
        if not grown:
            return value
        kept = torch.Size(size for i, size in enumerate(base_batch) if i not in grown)
        value = value.reshape(outer + extra + kept + self.event_shape)
        start = len(outer)
        return value.movedim(
            tuple(range(start, start + len(extra))), tuple(start + i for i in grown)
        )

    def sample(self, sample_shape: Shape = ()) -> torch.Tensor:
        return self._draw(sample_shape, self.base_dist.sample)

    def rsample(self, sample_shape: Shape = ()) -> torch.Tensor:
        return self._draw(sample_shape, self.base_dist.rsample)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        log_prob = self.base_dist.log_prob(value)
        return log_prob.expand(broadcast_shape(log_prob.shape, self.batch_shape))

    def score_parts(self, value: torch.Tensor) -> ScoreParts:  # type: ignore[override]
        """The base's score parts, each expanded to the batch shape.

        >>> import tracegraph.distributions as dist
        >>> d = ExpandedDistribution(dist.Bernoulli(0.3), (2,))
        >>> d.score_parts(torch.zeros(2)).score_function
        tensor([-0.3567, -0.3567])
        """
        if self.has_rsample != bool(self.base_dist.has_rsample):
            return super().score_parts(value)
        parts = score_parts_of(self.base_dist, value)
        return ScoreParts(*(self._expand_term(term) for term in parts))

    def _expand_term(self, term: Any) -> Any:
        if not isinstance(term, torch.Tensor):
            return term
        return term.expand(broadcast_shape(term.shape, self.batch_shape))

    @property  # type: ignore[misc]
    def has_enumerate_support(self) -> bool:  # type: ignore[override]
        return bool(self.base_dist.has_enumerate_support)

    def enumerate_support(self, expand: bool = True) -> torch.Tensor:
        """The base's support values, over this batch shape when ``expand``.

        >>> import tracegraph.distributions as dist
        >>> ExpandedDistribution(dist.Bernoulli(0.5), (3,)).enumerate_support().shape
        torch.Size([2, 3])
        """
        samples = self.base_dist.enumerate_support(expand=False)
        # Drop the base's size-1 batch dims, then add ours.
        event = samples.shape[samples.dim() - self.event_dim :]
        samples = samples.reshape((-1,) + (1,) * len(self.batch_shape) + event)
        if expand:
            samples = samples.expand((-1,) + self.batch_shape + event)
        return samples

    def conjugate_update(self, other: Any) -> tuple[Any, torch.Tensor]:
        """The base's :meth:`~Distribution.conjugate_update`, expanded to this batch shape.

        >>> import tracegraph.distributions as dist
        >>> f = ExpandedDistribution(dist.Gamma(1.0, 1.0), (2,))
        >>> updated, log_normalizer = f.conjugate_update(dist.Gamma(1.0, 2.0))
        >>> updated.batch_shape, log_normalizer.shape
        (torch.Size([2]), torch.Size([2]))
        """
        base: Any = self.base_dist
        updated, log_normalizer = base.conjugate_update(other)
        batch_shape = torch.Size(broadcast_shape(updated.batch_shape, self.batch_shape))
        if updated.batch_shape != batch_shape:
            updated = expand_or_wrap(updated, batch_shape)
        return updated, log_normalizer.expand(broadcast_shape(log_normalizer.shape, batch_shape))


register_wrapper("expanded", ExpandedDistribution)

