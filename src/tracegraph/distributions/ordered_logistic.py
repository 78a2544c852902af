"""``OrderedLogistic``: a Categorical over ordered classes, parameterized by
cutpoints on a latent logistic scale.

>>> import torch
>>> d = OrderedLogistic(torch.tensor(0.0), torch.tensor([-1.0, 1.0]))
>>> d.probs
tensor([0.2689, 0.4621, 0.2689])
"""

from __future__ import annotations

from typing import Any

import torch
from torch.distributions import constraints

from tracegraph.distributions import torch as _torch_wrappers
from tracegraph.distributions.pyro_constraints import ordered_vector
from tracegraph.distributions.torch_distribution import Shape
from tracegraph.distributions.util import broadcast_shape

__all__ = ["OrderedLogistic"]


class OrderedLogistic(_torch_wrappers.Categorical):  # type: ignore[misc, name-defined]
    """Ordered categories ``0 .. C`` from a predictor and ``C`` increasing cutpoints.

    ``P(y <= k) = sigmoid(cutpoints[k] - predictor)``; the class probabilities
    are the differences of these cumulative probabilities.

    :param predictor: the latent location, any shape.
    :param cutpoints: strictly increasing cutpoints in the rightmost dim; the
        other dims broadcast with ``predictor``.
    :param validate_args: torch's per-instance validation switch.

    >>> d = OrderedLogistic(torch.tensor([0.5, -1.0]), torch.tensor([-1.0, 0.0, 2.0]))
    >>> d.batch_shape, d.support
    (torch.Size([2]), IntegerInterval(lower_bound=0, upper_bound=3))
    """

    arg_constraints = {"predictor": constraints.real, "cutpoints": ordered_vector}

    def __init__(
        self,
        predictor: torch.Tensor,
        cutpoints: torch.Tensor,
        validate_args: bool | None = None,
    ):
        predictor = torch.as_tensor(predictor)
        cutpoints = torch.as_tensor(cutpoints, dtype=predictor.dtype)
        batch_shape = broadcast_shape(predictor.shape, cutpoints.shape[:-1])
        self.predictor = predictor.expand(batch_shape)
        self.cutpoints = cutpoints.expand(batch_shape + cutpoints.shape[-1:])
        cumulative = torch.sigmoid(self.cutpoints - self.predictor.unsqueeze(-1))
        zeros = cumulative.new_zeros(batch_shape + (1,))
        ones = cumulative.new_ones(batch_shape + (1,))
        probs = torch.diff(torch.cat([zeros, cumulative, ones], dim=-1), dim=-1)
        super().__init__(probs=probs, validate_args=validate_args)

    def expand(self, batch_shape: Shape, _instance: Any = None) -> Any:
        """Broadcast the predictor, cutpoints and probabilities to ``batch_shape``.

        >>> d = OrderedLogistic(torch.tensor(0.0), torch.tensor([-1.0, 1.0])).expand((4,))
        >>> d.predictor.shape, d.cutpoints.shape, d.probs.shape
        (torch.Size([4]), torch.Size([4, 2]), torch.Size([4, 3]))
        """
        batch_shape = torch.Size(batch_shape)
        new = self._get_checked_instance(OrderedLogistic, _instance)
        new.predictor = self.predictor.expand(batch_shape)
        new.cutpoints = self.cutpoints.expand(batch_shape + self.cutpoints.shape[-1:])
        return super().expand(batch_shape, _instance=new)
