"""Sums of per-site tensors across plates: which plates each site sits in, which
plate dims a set of sites does not share, a container summing tensors to a
target plate context, and a trace's log-prob summed down to one plate.

>>> import torch
>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> from tracegraph import poutine
>>> def model():
...     with tracegraph.plate("data", 3):
...         tracegraph.sample("x", dist.Normal(0.0, 1.0))
>>> tr = poutine.trace(model).get_trace()
>>> [f.name for f in get_plate_stacks(tr)["x"]]
['data']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch

from tracegraph.errors import ShapeError
from tracegraph.poutine.runtime import CondIndepStackFrame
from tracegraph.poutine.trace_struct import Trace
from tracegraph.poutine.util import site_is_subsample

__all__ = [
    "MultiFrameTensor",
    "get_dependent_plate_dims",
    "get_plate_stacks",
    "plate_log_prob_sum",
]


def get_plate_stacks(trace: Trace) -> dict[str, list[CondIndepStackFrame]]:
    """Each sample site's vectorized plates (sequential plates left out), in the
    order of its ``cond_indep_stack``.

    :param trace: a trace.
    :returns: ``{site name: [frame, ...]}`` for every sample site that is not a
        plate's subsample-index site.

    >>> get_plate_stacks(Trace())
    {}
    """
    return {
        name: [f for f in site["cond_indep_stack"] if f.vectorized]
        for name, site in trace.nodes.items()
        if site["type"] == "sample" and not site_is_subsample(site)
    }


def get_dependent_plate_dims(sites: Iterable[Mapping[str, Any]]) -> list[int]:
    """The dims of the vectorized plates that some but not all of ``sites`` sit in,
    sorted.

    :param sites: sample sites.
    :returns: sorted plate dims.

    >>> F = CondIndepStackFrame
    >>> a, b = F("a", -1, 2, 0), F("b", -2, 3, 0)
    >>> get_dependent_plate_dims([{"cond_indep_stack": (a,)}, {"cond_indep_stack": (a, b)}])
    [-2]
    """
    stacks = [{f for f in site["cond_indep_stack"] if f.vectorized} for site in sites]
    if not stacks:
        return []
    common = set.intersection(*stacks)
    every = set.union(*stacks)
    return sorted({f.dim for f in every - common if f.dim is not None})


def _frames_key(frames: Iterable[CondIndepStackFrame]) -> frozenset[CondIndepStackFrame]:
    return frozenset(f for f in frames if f.vectorized)


class MultiFrameTensor(dict[frozenset[CondIndepStackFrame], Any]):
    """Tensors that live in different plate contexts, kept summed per context.

    Each item is ``(cond_indep_stack, tensor)``; items of the same vectorized
    plates are added up.  :meth:`sum_to` sums every entry down to a target
    context: the dims of plates outside the target are summed out.  Used to add
    up the downstream costs of a site (Schulman et al. 2015).

    :param items: ``(frames, tensor)`` pairs.

    >>> F = CondIndepStackFrame
    >>> a = F("a", -1, 3, 0)
    >>> m = MultiFrameTensor(((a,), torch.ones(3)), ((), torch.tensor(5.0)))
    >>> m.sum_to((a,)), m.sum_to(())
    (tensor([6., 6., 6.]), tensor(8.))
    """

    def __init__(self, *items: tuple[Iterable[CondIndepStackFrame], Any]) -> None:
        super().__init__()
        self.add(*items)

    def add(self, *items: tuple[Iterable[CondIndepStackFrame], Any]) -> None:
        """Add each ``(frames, tensor)`` to the entry of its vectorized plates.

        :raises ShapeError: if a tensor lacks the dim of one of its plates.

        >>> m = MultiFrameTensor(); m.add(((), torch.tensor(1.0)), ((), torch.tensor(2.0)))
        >>> m[frozenset()]
        tensor(3.)
        """
        for frames, value in items:
            key = _frames_key(frames)
            ndim = value.dim() if isinstance(value, torch.Tensor) else 0
            short = [f for f in key if f.dim is not None and -f.dim > ndim]
            if short:
                raise ShapeError(
                    f"MultiFrameTensor: a value of shape {tuple(getattr(value, 'shape', ()))} "
                    f"has no dim for plate(s) {sorted(f.name for f in short)} "
                    f"(dims {sorted(f.dim for f in short if f.dim is not None)})"
                )
            self[key] = value + self[key] if key in self else value

    def sum_to(self, target_frames: Iterable[CondIndepStackFrame]) -> Any:
        """The sum of all entries in the context ``target_frames``: plate dims
        outside it are summed out, and size-1 dims on the left are dropped.

        :returns: a tensor (or ``0.0`` when empty).

        >>> MultiFrameTensor().sum_to(())
        0.0
        """
        target = _frames_key(target_frames)
        total: Any = 0.0
        for frames, value in self.items():
            dims = sorted(f.dim for f in frames - target if f.dim is not None)
            if dims:
                value = value.sum(dims, keepdim=True)
            total = total + value
        if isinstance(total, torch.Tensor):
            while total.dim() and total.shape[0] == 1:
                total = total.squeeze(0)
        return total

    def __repr__(self) -> str:
        entries = ",\n\t".join(f"({set(k) or '{}'}, ...)" for k in self)
        return f"{type(self).__name__}({entries})"


def plate_log_prob_sum(trace: Trace, plate_symbol: str) -> torch.Tensor:
    """The trace's log-prob summed over every dim except that of one plate.

    The trace's tensors must be packed (:meth:`Trace.pack_tensors`); the plate is
    named by its symbol (``trace.plate_to_symbol[name]``).  A site outside the
    plate adds its total to every entry.

    :param trace: a packed trace.
    :param plate_symbol: the plate's dim symbol.
    :returns: a tensor with one entry per index of the plate.

    >>> import tracegraph
    >>> import tracegraph.distributions as dist
    >>> from tracegraph import poutine
    >>> def model():
    ...     with tracegraph.plate("p", 2, dim=-2), tracegraph.plate("d", 3, dim=-1):
    ...         tracegraph.sample("x", dist.Normal(0.0, 1.0), obs=torch.zeros(2, 3))
    >>> tr = poutine.trace(model).get_trace(); tr.pack_tensors()
    >>> plate_log_prob_sum(tr, tr.plate_to_symbol["p"]).shape
    torch.Size([2])
    """
    total: Any = 0.0
    for site in trace.nodes.values():
        if site["type"] != "sample" or "packed" not in site:
            continue
        packed = site["packed"]
        log_prob = packed.get("log_prob")
        if log_prob is None:
            continue
        dims = packed["dims"]["log_prob"]
        if not isinstance(log_prob, torch.Tensor):
            total = total + log_prob
            continue
        keep = dims.find(plate_symbol)
        if keep < 0:
            total = total + log_prob.sum()
        else:
            others = [i for i in range(log_prob.dim()) if i != keep]
            total = total + (log_prob.sum(others) if others else log_prob)
    return torch.as_tensor(total)
