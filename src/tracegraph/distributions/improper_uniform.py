"""``ImproperUniform``: a flat log-density of zero over a constrained set.

It turns a sample site into a factor-graph variable (the value comes from
elsewhere, e.g. an initialisation or MCMC), so it cannot be sampled.

>>> import torch
>>> from torch.distributions import constraints
>>> d = ImproperUniform(constraints.positive, (2,), ())
>>> d.log_prob(torch.ones(3, 2))
tensor([[0., 0.],
        [0., 0.],
        [0., 0.]])
"""

from __future__ import annotations

from typing import Any

import torch
from torch.distributions import constraints

from tracegraph.distributions.expansion import finish_expand
from tracegraph.distributions.torch_distribution import Shape, TorchDistribution
from tracegraph.distributions.util import broadcast_shape

__all__ = ["ImproperUniform"]


class ImproperUniform(TorchDistribution):
    """A distribution with ``log_prob`` zero everywhere on ``support`` and no sampler.

    For a proper distribution that samples but scores zero, use
    ``dist.Normal(0, 1).expand(shape).to_event(n).mask(False)`` instead.

    :param support: the set the values live in (a torch ``Constraint``).
    :param batch_shape: the batch shape.
    :param event_shape: the event shape.

    >>> from torch.distributions import constraints
    >>> ImproperUniform(constraints.real, (), (3,)).log_prob(torch.zeros(3))
    tensor(0.)
    """

    arg_constraints: dict[str, constraints.Constraint] = {}

    def __init__(
        self, support: constraints.Constraint, batch_shape: Shape, event_shape: Shape
    ) -> None:
        self._support = support
        super().__init__(torch.Size(batch_shape), torch.Size(event_shape))

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self) -> Any:
        """The constraint given to the constructor."""
        return self._support

    def expand(self, batch_shape: Shape, _instance: Any = None) -> Any:
        """The same support with a new batch shape.

        >>> from torch.distributions import constraints
        >>> ImproperUniform(constraints.real, (), ()).expand((4,)).batch_shape
        torch.Size([4])
        """
        batch_shape = torch.Size(batch_shape)
        new = self._get_checked_instance(ImproperUniform, _instance)
        new._support = self._support
        return finish_expand(self, new, batch_shape)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """Zeros of shape ``value``'s batch part broadcast with ``batch_shape``.

        Values are not checked against the support.
        """
        batch = value.shape[: value.dim() - self.event_dim]
        shape = broadcast_shape(batch, self.batch_shape)
        # Like Pyro, in the default dtype whatever the value's.
        return torch.zeros(shape, device=value.device)

    def sample(self, sample_shape: Shape = torch.Size()) -> torch.Tensor:
        """Always raises: an improper distribution has no sampler.

        :raises NotImplementedError: always.

        >>> from torch.distributions import constraints
        >>> ImproperUniform(constraints.real, (), ()).sample()
        Traceback (most recent call last):
        ...
        NotImplementedError: ImproperUniform does not support sampling
        """
        raise NotImplementedError("ImproperUniform does not support sampling")
