"""Summaries of importance weights held in a ``log_weights`` attribute.

>>> import torch
>>> class Weighted(LogWeightsMixin):
...     def __init__(self, log_weights):
...         self.log_weights = log_weights
>>> w = Weighted(torch.tensor([0.0, 0.0, 0.0, 0.0]))
>>> w.get_ESS(), w.get_log_normalizer()
(tensor(4.), tensor(0.))
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch

from tracegraph.errors import TracegraphWarning

__all__ = ["LogWeightsMixin"]


class LogWeightsMixin:
    """Effective sample size, normalizer estimate and normalized weights of the
    unnormalized log weights in ``self.log_weights`` (a tensor with the samples
    along dim 0, or a list of numbers or tensors).

    An empty ``log_weights`` gives a warning and ``0`` / ``None``, as in Pyro.

    >>> class Weighted(LogWeightsMixin):
    ...     log_weights = [0.0, 1.0]
    >>> Weighted().get_normalized_weights()
    tensor([0.2689, 0.7311])
    """

    #: A tensor (samples along dim 0) or a list of numbers or tensors.
    log_weights: Any

    def _stacked_log_weights(self) -> torch.Tensor | None:
        log_w: Any = self.log_weights
        if len(log_w) == 0:
            return None
        if isinstance(log_w, torch.Tensor):
            return log_w
        if all(isinstance(x, torch.Tensor) for x in log_w):
            return torch.stack(list(log_w))
        return torch.tensor([float(x) for x in log_w])

    def get_log_normalizer(self) -> torch.Tensor | None:
        """The estimate of the normalizing constant's log: the log of the mean of
        the unnormalized weights.

        >>> class Weighted(LogWeightsMixin):
        ...     log_weights = torch.tensor([0.0, 2.0 ** 0.5]).log()
        >>> Weighted().get_log_normalizer().exp()
        tensor(0.7071)
        """
        log_w = self._stacked_log_weights()
        if log_w is None:
            warnings.warn(
                "The log_weights list is empty, can not compute normalizing constant "
                "estimate; hint: call run(...) first",
                TracegraphWarning,
                stacklevel=2,
            )
            return None
        return log_w.logsumexp(0) - math.log(log_w.size(0))

    def get_normalized_weights(self, log_scale: bool = False) -> torch.Tensor | None:
        """The self-normalized weights (summing to 1 along dim 0), or their logs.

        :param log_scale: return log weights.

        >>> class Weighted(LogWeightsMixin):
        ...     log_weights = torch.tensor([0.0, 0.0])
        >>> Weighted().get_normalized_weights(log_scale=True).exp()
        tensor([0.5000, 0.5000])
        """
        log_w = self._stacked_log_weights()
        if log_w is None:
            warnings.warn(
                "The log_weights list is empty. There is nothing to normalize; hint: "
                "call run(...) first",
                TracegraphWarning,
                stacklevel=2,
            )
            return None
        normalized = log_w - log_w.logsumexp(0)
        return normalized if log_scale else normalized.exp()

    def get_ESS(self) -> torch.Tensor | int:
        """The effective sample size ``(sum w)^2 / sum w^2`` (Kish).

        >>> class Weighted(LogWeightsMixin):
        ...     log_weights = torch.tensor([0.0, -float("inf")])
        >>> Weighted().get_ESS()
        tensor(1.)
        """
        log_w = self._stacked_log_weights()
        if log_w is None:
            warnings.warn(
                "The log_weights list is empty, effective sample size is zero; hint: "
                "call run(...) first",
                TracegraphWarning,
                stacklevel=2,
            )
            return 0
        return torch.exp(2 * log_w.logsumexp(0) - (2 * log_w).logsumexp(0))
