"""``MaskedDistribution``: a distribution whose log-density is zero where a mask is false.

>>> import torch
>>> import tracegraph.distributions as dist
>>> dist.Normal(torch.zeros(2), 1.0).mask(torch.tensor([1.0, 0.0])).log_prob(torch.zeros(2))
tensor([-0.9189, 0.0000])
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
from tracegraph.distributions.score_parts import ScoreParts, as_bool_mask, scale_and_mask
from tracegraph.distributions.shapes import broadcast_shape
from tracegraph.errors import SiteError

__all__ = ["MaskedDistribution"]


class MaskedDistribution(TorchDistribution):
    """A distribution whose log-density is zero where a mask is false.

    Sampling is unchanged.  A tensor mask broadcasts with the base's batch
    shape; both are expanded to the broadcast shape.

    :param base_dist: any ``torch.distributions`` object.
    :param mask: a bool, or a bool or 0/1 tensor (converted to bool).
    :raises SiteError: for another kind of mask, or a tensor with values other
        than 0 and 1 (checked while validation is on).
    :raises ShapeError: if ``mask`` does not broadcast with the base's batch shape.

    >>> import tracegraph.distributions as dist
    >>> d = MaskedDistribution(dist.Normal(0.0, 1.0), torch.tensor([False, True]))
    >>> d.batch_shape, d.log_prob(torch.zeros(2))
    (torch.Size([2]), tensor([ 0.0000, -0.9189]))
    """

    arg_constraints: dict[str, constraints.Constraint] = {}

    def __init__(self, base_dist: torch.distributions.Distribution, mask: torch.Tensor | bool):
        batch_shape = base_dist.batch_shape
        if mask is None:
            raise SiteError(
                f"{type(base_dist).__name__}.mask(None): expected a bool or a bool or 0/1 "
                "tensor; hint: use mask(True) for no mask"
            )
        checked = as_bool_mask(mask, f"{type(base_dist).__name__}.mask()")
        assert checked is not None
        if isinstance(checked, torch.Tensor):
            try:
                batch_shape = torch.Size(broadcast_shape(checked.shape, base_dist.batch_shape))
            except ValueError as exc:
                exc.add_note(
                    f"in {type(base_dist).__name__}.mask(...): the mask has shape "
                    f"{tuple(checked.shape)} and the distribution batch_shape "
                    f"{tuple(base_dist.batch_shape)}; a mask must broadcast to the batch shape"
                )
                raise
            checked = checked.expand(batch_shape)
            if base_dist.batch_shape != batch_shape:
                base_dist = expand_or_wrap(base_dist, batch_shape)
        self.base_dist = base_dist
        self._mask = checked
        super().__init__(batch_shape, base_dist.event_shape, validate_args=False)

    def _native_has_rsample(self) -> bool:
        return bool(self.base_dist.has_rsample)

    def expand(self, batch_shape: Shape, _instance: Any = None) -> MaskedDistribution:
        batch_shape = torch.Size(batch_shape)
        mask = self._mask if isinstance(self._mask, bool) else self._mask.expand(batch_shape)
        new = MaskedDistribution(expand_or_wrap(self.base_dist, batch_shape), mask)
        return self._keep_has_rsample(new)

    @property
    def support(self) -> Any:
        return self.base_dist.support

    @property  # type: ignore[misc]
    def has_enumerate_support(self) -> bool:  # type: ignore[override]
        return bool(self.base_dist.has_enumerate_support)

    def enumerate_support(self, expand: bool = True) -> torch.Tensor:
        return self.base_dist.enumerate_support(expand)

    @property
    def mean(self) -> torch.Tensor:
        return self.base_dist.mean

    @property
    def variance(self) -> torch.Tensor:
        return self.base_dist.variance

    def sample(self, sample_shape: Shape = ()) -> torch.Tensor:
        return self.base_dist.sample(torch.Size(sample_shape))

    def rsample(self, sample_shape: Shape = ()) -> torch.Tensor:
        return self.base_dist.rsample(torch.Size(sample_shape))

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._mask is False:
            # Skip the base entirely: a fully masked value may lie outside its support.
            shape = broadcast_shape(value.shape[: value.dim() - self.event_dim], self.batch_shape)
            dtype = value.dtype if value.is_floating_point() else torch.get_default_dtype()
            return torch.zeros(shape, dtype=dtype, device=value.device)
        log_prob = self.base_dist.log_prob(value)
        if self._mask is True:
            return log_prob
        return torch.where(self._mask, log_prob, log_prob.new_zeros(()))

    def score_parts(self, value: torch.Tensor) -> ScoreParts:  # type: ignore[override]
        """The base's score parts with ``log_prob`` and ``entropy_term`` masked.

        >>> import tracegraph.distributions as dist
        >>> d = dist.Normal(torch.zeros(2), 1.0).mask(torch.tensor([True, False]))
        >>> d.score_parts(torch.zeros(2)).entropy_term
        tensor([-0.9189, 0.0000])
        """
        if self._mask is False or self.has_rsample != bool(self.base_dist.has_rsample):
            return super().score_parts(value)
        return score_parts_of(self.base_dist, value).scale_and_mask(mask=self._mask)

    def conjugate_update(self, other: Any) -> tuple[Any, torch.Tensor]:
        """The base's :meth:`~Distribution.conjugate_update`, masked: where the mask
        is false the log-normalizer is 0.

        >>> import tracegraph.distributions as dist
        >>> f = dist.Gamma(torch.ones(2), 1.0).mask(torch.tensor([True, False]))
        >>> updated, log_normalizer = f.conjugate_update(dist.Gamma(torch.ones(2), 2.0))
        >>> type(updated).__name__, log_normalizer
        ('MaskedDistribution', tensor([-0.4055,  0.0000]))
        """
        base: Any = self.base_dist
        updated, log_normalizer = base.conjugate_update(other)
        updated = updated.mask(self._mask)
        return updated, scale_and_mask(log_normalizer, mask=self._mask)


register_wrapper("masked", MaskedDistribution)
