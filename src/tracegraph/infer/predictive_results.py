"""The result of a weighed prediction: samples with per-sample log weights.

>>> import torch
>>> zeros = torch.zeros(2)
>>> r = WeighedPredictiveResults({"x": torch.ones(2)}, zeros, zeros, zeros)
>>> r.get_ESS(), r.clone().samples["x"] is r.samples["x"]
(tensor(2.), False)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from tracegraph.infer.log_weights import LogWeightsMixin

__all__ = ["CloneMixin", "WeighedPredictiveResults"]


def _clone(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: v.clone() for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(v.clone() for v in value)
    return value.clone()


class CloneMixin:
    """Adds ``.clone()`` to a ``dataclasses.dataclass`` whose fields are tensors
    (or dicts or tuples of tensors): a new instance with every tensor cloned.

    >>> @dataclasses.dataclass
    ... class Pair(CloneMixin):
    ...     a: torch.Tensor
    ...     b: dict
    >>> p = Pair(torch.zeros(1), {"c": torch.ones(1)})
    >>> q = p.clone(); q.a += 1; p.a
    tensor([0.])
    """

    def clone(self) -> Any:
        """A copy with every tensor field cloned.

        :raises TypeError: if the class is not a dataclass.
        """
        if not dataclasses.is_dataclass(self):
            raise TypeError(f"{type(self).__name__}.clone needs a dataclass (CloneMixin)")
        values = {f.name: _clone(getattr(self, f.name)) for f in dataclasses.fields(self)}
        return type(self)(**values)


@dataclasses.dataclass(frozen=True, eq=False)
class WeighedPredictiveResults(LogWeightsMixin, CloneMixin):
    """Samples of a weighed predictive distribution and their weights.

    ``log_weights = model_log_prob - guide_log_prob``, one entry per sample.

    :param samples: ``{site: samples}`` (or a tuple of them, sorted by site name).
    :param log_weights: the samples' unnormalized log weights.
    :param guide_log_prob: the guide's log-density of each sample.
    :param model_log_prob: the model's log-density of each sample.

    >>> r = WeighedPredictiveResults({"x": torch.zeros(3)}, torch.tensor([0.0, 0.0, -1e9]),
    ...                              torch.zeros(3), torch.zeros(3))
    >>> r.get_ESS()
    tensor(2.)
    """

    samples: dict[str, torch.Tensor] | tuple[torch.Tensor, ...]
    log_weights: torch.Tensor  # type: ignore[assignment]
    guide_log_prob: torch.Tensor
    model_log_prob: torch.Tensor
