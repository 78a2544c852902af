"""Transforms onto ordered vectors: from the reals, and from the simplex.

>>> import torch
>>> OrderedTransform()(torch.tensor([1.0, 0.0, 0.0]))
tensor([1., 2., 3.])
"""

from __future__ import annotations

import torch
from torch.distributions import constraints
from torch.distributions.transforms import Transform

from tracegraph.distributions.constraints import ordered_vector

__all__ = ["OrderedTransform", "SimplexToOrderedTransform"]


class OrderedTransform(Transform):
    """Real vectors to increasing ones: ``y_0 = x_0``, ``y_i = y_(i-1) + exp(x_i)``.

    >>> import torch
    >>> t = OrderedTransform()
    >>> t.inv(torch.tensor([0.0, 1.0, 3.0]))
    tensor([0.0000, 0.0000, 0.6931])
    """

    domain = constraints.real_vector
    codomain = ordered_vector
    bijective = True

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        z = torch.cat([x[..., :1], x[..., 1:].exp()], dim=-1)
        return torch.cumsum(z, dim=-1)

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        return torch.cat([y[..., :1], (y[..., 1:] - y[..., :-1]).log()], dim=-1)

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x[..., 1:].sum(-1)


class SimplexToOrderedTransform(Transform):
    """Category probabilities to ordered cutpoints (Betancourt's ordinal regression
    prior): with ``c_k = anchor_point + logit(p_1 + ... + p_k)``, the
    probabilities are differences of the logistic CDF at consecutive cutpoints.
    ``K`` probabilities give ``K - 1`` cutpoints.

    :param anchor_point: a nuisance location (a scalar, or broadcastable with the
        batch shape); default 0.

    >>> import torch
    >>> t = SimplexToOrderedTransform()
    >>> t(torch.tensor([0.25, 0.5, 0.25]))
    tensor([-1.0986,  1.0986])
    """

    domain = constraints.simplex
    codomain = ordered_vector

    def __init__(self, anchor_point: torch.Tensor | float | None = None) -> None:
        super().__init__()
        self.anchor_point = anchor_point if anchor_point is not None else torch.tensor(0.0)

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        cumulative = torch.cumsum(x[..., :-1], dim=-1)
        return self.anchor_point + torch.logit(cumulative)

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        upper = torch.sigmoid(self.anchor_point - y)
        ones = torch.ones_like(upper[..., :1])
        zeros = torch.zeros_like(upper[..., :1])
        bounds = torch.cat([ones, upper, zeros], dim=-1)
        return bounds[..., :-1] - bounds[..., 1:]

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        # dy_k/dcum_k = 1 / (cum_k (1 - cum_k)); cum is x through a unit triangle.
        s = torch.sigmoid(self.anchor_point - y)
        return -torch.log(s * (1 - s)).sum(-1)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SimplexToOrderedTransform) and bool(
            torch.equal(torch.as_tensor(self.anchor_point), torch.as_tensor(other.anchor_point))
        )

    def __hash__(self) -> int:
        return hash(type(self))

    def forward_shape(self, shape: torch.Size | tuple[int, ...]) -> torch.Size:
        return torch.Size(shape[:-1]) + (shape[-1] - 1,)

    def inverse_shape(self, shape: torch.Size | tuple[int, ...]) -> torch.Size:
        return torch.Size(shape[:-1]) + (shape[-1] + 1,)
