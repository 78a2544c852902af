"""``MaskedMixture``: each batch element comes from one of two distributions,
chosen by a boolean mask.

>>> import torch
>>> import tracegraph.distributions as dist
>>> d = MaskedMixture(torch.tensor([False, True]), dist.Normal(0.0, 1.0), dist.Normal(5.0, 1.0))
>>> d.mean
tensor([0., 5.])
"""

from __future__ import annotations

from typing import Any

import torch
from torch.distributions import constraints

from tracegraph.distributions.mixin import expand_or_wrap
from tracegraph.distributions.torch_distribution import Shape, TorchDistribution
from tracegraph.distributions.util import broadcast_shape
from tracegraph.errors import ShapeError, SiteError

__all__ = ["MaskedMixture"]


class _MaskedConstraint(constraints.Constraint):
    # Valid where the component chosen by the mask says so.
    def __init__(
        self, mask: torch.Tensor, first: constraints.Constraint, second: constraints.Constraint
    ) -> None:
        self.mask = mask
        self.first = first
        self.second = second
        self.event_dim = first.event_dim
        self.is_discrete = first.is_discrete and second.is_discrete
        super().__init__()

    def check(self, value: torch.Tensor) -> torch.Tensor:
        return torch.where(self.mask, self.second.check(value), self.first.check(value))

    def __repr__(self) -> str:
        return "MaskedConstraint()"


class MaskedMixture(TorchDistribution):
    """A deterministic mixture of two distributions: ``component1`` where
    ``mask`` is ``True``, ``component0`` where it is ``False``.

    Useful when the mask is itself sampled (a change point, say).  Both
    components must share an event shape; the batch shape is the broadcast of
    the mask's and the components'.

    :param mask: a bool tensor.
    :param component0: the distribution where ``mask`` is ``False``.
    :param component1: the distribution where ``mask`` is ``True``.
    :param validate_args: torch's per-instance validation switch.
    :raises SiteError: if ``mask`` is not a bool tensor.
    :raises ShapeError: if the components' event shapes differ.

    >>> import tracegraph.distributions as dist
    >>> d = MaskedMixture(torch.tensor([True, False]), dist.Normal(0.0, 1.0), dist.Normal(5.0, 2.0))
    >>> d.log_prob(torch.tensor([5.0, 0.0]))
    tensor([-1.6121, -0.9189])
    """

    arg_constraints: dict[str, constraints.Constraint] = {}

    def __init__(
        self,
        mask: torch.Tensor,
        component0: torch.distributions.Distribution,
        component1: torch.distributions.Distribution,
        validate_args: bool | None = None,
    ):
        if not (isinstance(mask, torch.Tensor) and mask.dtype == torch.bool):
            got = mask.dtype if isinstance(mask, torch.Tensor) else type(mask).__name__
            raise SiteError(
                f"Expected mask to be a BoolTensor but got {got}; hint: use mask.bool() or "
                "a comparison"
            )
        if component0.event_shape != component1.event_shape:
            raise ShapeError(
                f"components event_shape disagree: {component0.event_shape} vs "
                f"{component1.event_shape}"
            )
        batch_shape = broadcast_shape(mask.shape, component0.batch_shape, component1.batch_shape)
        # ``mask`` is an attribute here, as in Pyro (it shadows the ``mask()`` method).
        self.__dict__["mask"] = mask
        self.component0 = component0
        self.component1 = component1
        super().__init__(batch_shape, component0.event_shape, validate_args=validate_args)

    def _native_has_rsample(self) -> bool:
        return bool(self.component0.has_rsample) and bool(self.component1.has_rsample)

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self) -> Any:
        """The components' support if they share one, else a mask-dependent constraint."""
        if self.component0.support is self.component1.support:
            return self.component0.support
        first, second = self.component0.support, self.component1.support
        assert first is not None and second is not None
        return _MaskedConstraint(self._mask_tensor(), first, second)

    def _mask_tensor(self) -> torch.Tensor:
        return self.__dict__["mask"]  # type: ignore[no-any-return]

    def _event_mask(self) -> torch.Tensor:
        mask = self._mask_tensor()
        return mask.reshape(mask.shape + (1,) * self.event_dim)

    def expand(self, batch_shape: Shape, _instance: Any = None) -> Any:
        """Expand the mask and both components to ``batch_shape``.

        >>> import tracegraph.distributions as dist
        >>> mask = torch.tensor([True, False])
        >>> d = MaskedMixture(mask, dist.Normal(0.0, 1.0), dist.Normal(1.0, 1.0))
        >>> d.expand((3, 2)).component0.batch_shape
        torch.Size([3, 2])
        """
        batch_shape = torch.Size(batch_shape)
        new = MaskedMixture(
            self._mask_tensor().expand(batch_shape),
            expand_or_wrap(self.component0, batch_shape),
            expand_or_wrap(self.component1, batch_shape),
            validate_args=False,
        )
        new._validate_args = self._validate_args
        return self._keep_has_rsample(new)

    def _choose(self, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        return torch.where(self._event_mask(), x1, x0)

    def _components(self) -> tuple[Any, Any]:
        # Components with the full batch shape, so each batch element gets its own draw.
        c0, c1 = self.component0, self.component1
        if c0.batch_shape != self.batch_shape:
            c0 = expand_or_wrap(c0, self.batch_shape)
        if c1.batch_shape != self.batch_shape:
            c1 = expand_or_wrap(c1, self.batch_shape)
        return c0, c1

    def sample(self, sample_shape: Shape = torch.Size()) -> torch.Tensor:
        """Draw from both components and keep the draw the mask picks.

        >>> import tracegraph.distributions as dist
        >>> mask = torch.tensor([True, False])
        >>> d = MaskedMixture(mask, dist.Normal(0.0, 1.0), dist.Normal(1.0, 1.0))
        >>> d.sample((3,)).shape
        torch.Size([3, 2])
        """
        shape = torch.Size(sample_shape)
        c0, c1 = self._components()
        return self._choose(c0.sample(shape), c1.sample(shape))

    def rsample(self, sample_shape: Shape = torch.Size()) -> torch.Tensor:
        """Like :meth:`sample`, reparameterized through both components."""
        shape = torch.Size(sample_shape)
        c0, c1 = self._components()
        return self._choose(c0.rsample(shape), c1.rsample(shape))

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """``component1.log_prob`` where ``mask``, else ``component0.log_prob``."""
        if self._validate_args:
            self._validate_sample(value)
        return torch.where(
            self._mask_tensor(),
            self.component1.log_prob(value),
            self.component0.log_prob(value),
        )

    @property
    def mean(self) -> torch.Tensor:
        """The chosen component's mean, per batch element."""
        return self._choose(self.component0.mean, self.component1.mean).expand(self.shape())

    @property
    def variance(self) -> torch.Tensor:
        """The chosen component's variance, per batch element."""
        return self._choose(self.component0.variance, self.component1.variance).expand(self.shape())
