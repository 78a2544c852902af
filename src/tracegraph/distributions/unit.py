"""``Unit``: the empty-valued distribution behind ``factor``.

>>> Unit(torch.tensor([-1.0, -2.0])).sample().shape
torch.Size([2, 0])
"""

from __future__ import annotations

from typing import Any

import torch
from torch.distributions import constraints

from tracegraph.distributions.mixin import Shape, TorchDistribution
from tracegraph.distributions.util import broadcast_shape

__all__ = ["Unit"]


class Unit(TorchDistribution):
    """A distribution over the empty value whose log-density is ``log_factor``.

    ``factor(name, log_factor)`` observes an empty tensor under ``Unit(log_factor)``,
    which adds ``log_factor`` to the model's log-joint without a random value.
    Values have shape ``batch_shape + (0,)``.

    :param log_factor: a tensor (or number); its shape is the batch shape.
    :param has_rsample: whether ``log_factor`` is differentiable through
        reparameterized samples; ``None`` leaves it unspecified, which reads as
        ``False`` (as Pyro) and which a guide may not do under validation (see
        :attr:`has_rsample_specified`).
    :param validate_args: torch's per-instance validation switch.

    >>> u = Unit(torch.tensor([0.5, -1.0]))
    >>> u.log_prob(u.sample())
    tensor([ 0.5000, -1.0000])
    """

    arg_constraints = {"log_factor": constraints.real}
    support = constraints.independent(constraints.real, 1)

    def __init__(
        self,
        log_factor: torch.Tensor | float,
        *,
        has_rsample: bool | None = None,
        validate_args: bool | None = None,
    ):
        self.log_factor = torch.as_tensor(log_factor, dtype=_float_dtype(log_factor))
        super().__init__(self.log_factor.shape, torch.Size((0,)), validate_args=validate_args)
        if has_rsample is not None:
            self.has_rsample = has_rsample

    def _native_has_rsample(self) -> bool:
        return False

    @property
    def has_rsample_specified(self) -> bool:
        """Whether ``has_rsample`` was given (at construction or set later).

        >>> Unit(0.0).has_rsample_specified, Unit(0.0, has_rsample=True).has_rsample_specified
        (False, True)
        """
        return "_has_rsample_override" in self.__dict__

    def expand(self, batch_shape: Shape, _instance: Any = None) -> Unit:
        """Broadcast ``log_factor`` to a new batch shape.

        >>> Unit(0.0).expand((3,)).log_factor
        tensor([0., 0., 0.])
        """
        batch_shape = torch.Size(batch_shape)
        new = self._get_checked_instance(Unit, _instance)
        new.log_factor = self.log_factor.expand(batch_shape)
        super(Unit, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        if self.has_rsample_specified:
            # Kept even when it equals the default: a guide's factor inside a plate
            # must stay "specified".
            new.has_rsample = self.has_rsample
        return new

    def sample(self, sample_shape: Shape = ()) -> torch.Tensor:
        """An empty tensor of shape ``sample_shape + batch_shape + (0,)``.

        >>> Unit(torch.zeros(2)).sample((3,)).shape
        torch.Size([3, 2, 0])
        """
        return self.log_factor.new_empty(self.shape(sample_shape))

    def rsample(self, sample_shape: Shape = ()) -> torch.Tensor:
        """Same as :meth:`sample`: an empty value has nothing to differentiate.

        >>> Unit(0.0).rsample().shape
        torch.Size([0])
        """
        return self.sample(sample_shape)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """``log_factor``, broadcast with the batch dims of ``value``.

        >>> Unit(torch.tensor(-3.0)).log_prob(torch.empty(2, 0))
        tensor([-3., -3.])
        """
        if self._validate_args:
            self._validate_sample(value)
        return self.log_factor.expand(broadcast_shape(value.shape[:-1], self.batch_shape))


def _float_dtype(value: object) -> torch.dtype | None:
    # Keep a tensor's own floating dtype; give numbers and integer tensors the default.
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return None
    return torch.get_default_dtype()
