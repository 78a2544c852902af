"""The point-mass distribution ``Delta``.

>>> d = Delta(torch.tensor([1.0, 2.0]), event_dim=1)
>>> d.sample((2,))
tensor([[1., 2.],
        [1., 2.]])
"""

from __future__ import annotations

from typing import Any

import torch
from torch.distributions import constraints

from tracegraph.distributions.mixin import Shape, TorchDistribution
from tracegraph.distributions.util import broadcast_shape
from tracegraph.errors import ShapeError

__all__ = ["Delta"]


class Delta(TorchDistribution):
    """A point mass at ``v``, carrying an optional log-density ``log_density``.

    ``log_prob(x)`` is ``log_density`` where ``x`` equals ``v`` in every event
    entry and ``-inf`` elsewhere.  Samples are ``v`` itself (``rsample`` keeps
    ``v``'s gradient path), so an amortized guide can place a point estimate.

    :param v: the location; its rightmost ``event_dim`` dims are the event shape.
    :param log_density: a number or tensor broadcasting with the batch shape.
    :param event_dim: how many rightmost dims of ``v`` form one event.
    :param validate_args: torch's per-instance validation switch.
    :raises ShapeError: if ``event_dim`` is larger than ``v.dim()`` (a negative
        one counts as 0, as in Pyro).

    >>> d = Delta(torch.tensor(2.0), log_density=-1.0)
    >>> d.log_prob(torch.tensor([2.0, 3.0]))
    tensor([-1., -inf])
    """

    arg_constraints = {"v": constraints.dependent, "log_density": constraints.real}

    def __init__(
        self,
        v: torch.Tensor | float,
        log_density: torch.Tensor | float = 0.0,
        event_dim: int = 0,
        validate_args: bool | None = None,
    ):
        v = torch.as_tensor(v)
        if event_dim > v.dim():
            raise ShapeError(
                f"Delta got event_dim={event_dim} for v of shape {tuple(v.shape)}; "
                f"expected event_dim <= {v.dim()}"
            )
        event_dim = max(event_dim, 0)  # a negative one counts as 0, as in Pyro
        dtype = v.dtype if v.is_floating_point() else torch.get_default_dtype()
        log_density = torch.as_tensor(log_density, dtype=dtype, device=v.device)
        split = v.dim() - event_dim
        batch_shape = broadcast_shape(v.shape[:split], log_density.shape)
        event_shape = v.shape[split:]
        self.v = v.expand(batch_shape + event_shape)
        self.log_density = log_density.expand(batch_shape)
        super().__init__(batch_shape, event_shape, validate_args=validate_args)

    def _native_has_rsample(self) -> bool:
        return True

    @property
    def support(self) -> Any:
        """Any real value (in every event entry); the mass sits at ``v``.

        >>> Delta(torch.zeros(2), event_dim=1).support.event_dim
        1
        """
        if self.event_dim == 0:
            return constraints.real
        return constraints.independent(constraints.real, self.event_dim)

    def expand(self, batch_shape: Shape, _instance: Any = None) -> Delta:
        """Broadcast ``v`` and ``log_density`` to a new batch shape.

        >>> Delta(torch.zeros(3), event_dim=1).expand((2,)).v.shape
        torch.Size([2, 3])
        """
        batch_shape = torch.Size(batch_shape)
        new = self._get_checked_instance(Delta, _instance)
        new.v = self.v.expand(batch_shape + self.event_shape)
        new.log_density = self.log_density.expand(batch_shape)
        super(Delta, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return self._keep_has_rsample(new)

    def rsample(self, sample_shape: Shape = ()) -> torch.Tensor:
        """Return ``v`` broadcast to ``sample_shape + batch_shape + event_shape``.

        >>> v = torch.tensor(1.0, requires_grad=True)
        >>> Delta(v).rsample((2,)).requires_grad
        True
        """
        return self.v.expand(self.shape(sample_shape))

    def sample(self, sample_shape: Shape = ()) -> torch.Tensor:
        """Like :meth:`rsample`, without a gradient path to ``v``.

        >>> v = torch.tensor(1.0, requires_grad=True)
        >>> Delta(v).sample().requires_grad
        False
        """
        # torch's default sample() runs rsample() under no_grad, but an expand
        # that changes nothing can hand back ``v`` itself, still requiring grad.
        return self.rsample(sample_shape).detach()

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """``log_density`` where ``x == v`` over the whole event, else ``-inf``.

        >>> Delta(torch.tensor([0.0, 1.0]), event_dim=1).log_prob(torch.tensor([0.0, 2.0]))
        tensor(-inf)
        """
        if self._validate_args:
            self._validate_sample(x)
        equal = x == self.v
        if self.event_dim:
            equal = equal.flatten(-self.event_dim).all(-1)
        return torch.where(equal, self.log_density, self.log_density.new_full((), -float("inf")))

    @property
    def mean(self) -> torch.Tensor:
        """``v``.

        >>> Delta(torch.tensor(3.0)).mean
        tensor(3.)
        """
        return self.v

    @property
    def variance(self) -> torch.Tensor:
        """Zero, with ``v``'s shape.

        >>> Delta(torch.tensor(3.0)).variance
        tensor(0.)
        """
        return torch.zeros_like(self.v)
