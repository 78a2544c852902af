"""``Independent``: torch's ``Independent`` with the mixin; ``to_event`` builds it.

>>> import torch
>>> import tracegraph.distributions as dist
>>> dist.Normal(torch.zeros(2, 3), 1.0).to_event(1).event_shape
torch.Size([3])
"""

from __future__ import annotations

from typing import Any

import torch

from tracegraph.distributions.mixin import (
    TorchDistributionMixin,
    register_wrapper,
    score_parts_of,
    too_many_event_dims,
)
from tracegraph.distributions.score_parts import ScoreParts
from tracegraph.distributions.shapes import sum_rightmost
from tracegraph.errors import ShapeError
from tracegraph.ops.provenance import reduce_untracked

__all__ = ["Independent"]


class Independent(TorchDistributionMixin, torch.distributions.Independent):
    """``torch.distributions.Independent`` with the mixin; :meth:`to_event` builds it.

    >>> import tracegraph.distributions as dist
    >>> d = Independent(dist.Normal(torch.zeros(3), 1.0), 1)
    >>> d.log_prob(torch.zeros(3))
    tensor(-2.7568)
    """

    @staticmethod
    def infer_shapes(**kwargs: Any) -> tuple[torch.Size, torch.Size]:  # type: ignore[override]
        """Not available: the shapes depend on the base distribution, not on shapes.

        :raises NotImplementedError: always.
        """
        raise NotImplementedError

    @property  # type: ignore[override]
    def _validate_args(self) -> bool:
        # Validation is the base distribution's: it does all the checking.
        return bool(self.base_dist._validate_args)

    @_validate_args.setter
    def _validate_args(self, value: bool) -> None:
        self.base_dist._validate_args = value

    def to_event(self, reinterpreted_batch_ndims: int | None = None) -> Any:
        """Move more batch dims into the event, or (negative) give event dims back.

        ``to_event(-k)`` undoes ``to_event(k)``: the result is the base distribution
        when no reinterpreted dims remain.

        :param reinterpreted_batch_ndims: how many; ``None`` means all batch dims.
        :returns: an ``Independent`` over the same base, or the base itself.
        :raises ShapeError: (a ``ValueError``) if more dims would move than exist.

        >>> import tracegraph.distributions as dist
        >>> d = dist.Normal(torch.zeros(2, 3), 1.0).to_event(1)
        >>> d.to_event(1).event_shape, type(d.to_event(-1)).__name__
        (torch.Size([2, 3]), 'Normal')
        """
        n = reinterpreted_batch_ndims
        if n is None:
            n = len(self.batch_shape)
        total = self.reinterpreted_batch_ndims + n
        if total < 0:
            raise ShapeError(
                f"Cannot remove event dimensions from {type(self)}: to_event({n}) but only "
                f"{self.reinterpreted_batch_ndims} dims were reinterpreted"
            )
        if total == 0:
            return self.base_dist
        if n > len(self.batch_shape):
            raise too_many_event_dims(self, n)
        return Independent(self.base_dist, total)

    def conjugate_update(self, other: Any) -> tuple[Any, torch.Tensor]:
        """The base's :meth:`~Distribution.conjugate_update`, over the event dims.

        :param other: an ``Independent`` with the same number of reinterpreted dims.
        :returns: ``(updated, log_normalizer)``; ``log_normalizer`` is summed over
            the reinterpreted dims.
        :raises ValueError: if ``other`` is not such an ``Independent``.

        >>> import tracegraph.distributions as dist
        >>> f = dist.Gamma(torch.ones(3), 1.0).to_event(1)
        >>> updated, log_normalizer = f.conjugate_update(dist.Gamma(torch.ones(3), 1.0).to_event(1))
        >>> updated.event_shape, log_normalizer.shape
        (torch.Size([3]), torch.Size([]))
        """
        n = self.reinterpreted_batch_ndims
        if not (
            isinstance(other, torch.distributions.Independent)
            and other.reinterpreted_batch_ndims == n
        ):
            raise ValueError(
                f"Independent.conjugate_update expects an Independent with "
                f"reinterpreted_batch_ndims={n}, got {other!r}"
            )
        updated, log_normalizer = self.base_dist.conjugate_update(other.base_dist)
        return updated.to_event(n), sum_rightmost(log_normalizer, n)

    def score_parts(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> ScoreParts:
        """Sum the base distribution's score parts over the reinterpreted dims.

        Asking the base keeps a base's own ``score_parts`` (if it defines one).

        >>> import tracegraph.distributions as dist
        >>> d = Independent(dist.Normal(torch.zeros(3), 1.0), 1)
        >>> d.score_parts(torch.zeros(3)).score_function
        0
        """
        if self.has_rsample != bool(self.base_dist.has_rsample):
            return super().score_parts(x, *args, **kwargs)
        lp, sf, et = score_parts_of(self.base_dist, x)
        n = self.reinterpreted_batch_ndims
        summed = _sum_events(lp, n)
        # The parts are often one tensor (or 0.0) twice: sum it once.
        return ScoreParts(
            summed,
            summed if sf is lp else _sum_events(sf, n),
            summed if et is lp else _sum_events(et, n),
        )

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """Torch's ``Independent.log_prob``; a tracked log-density is summed untracked
        (the sum depends on exactly what its summands do)."""
        return _sum_events(self.base_dist.log_prob(value), self.reinterpreted_batch_ndims)


def _sum_events(t: Any, n: int) -> Any:
    # sum_rightmost; a tracked log-density's sum runs untracked (same provenance).
    if n == 0 or not isinstance(t, torch.Tensor):
        return sum_rightmost(t, n)
    return reduce_untracked(t, lambda x: sum_rightmost(x, n))


register_wrapper("independent", Independent)
