"""Small tensor helpers distributions need: like-typed constants, gathering, and
deep copies that detach or move every tensor inside an object.

>>> eye_like(torch.zeros(2, dtype=torch.float64), 2)
tensor([[1., 0.],
        [0., 1.]], dtype=torch.float64)
"""

from __future__ import annotations

import copy
import ctypes
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["deep_to", "detach", "eye_like", "gather", "scalar_like"]


def scalar_like(prototype: torch.Tensor, fill_value: Any) -> torch.Tensor:
    """A 0-dim tensor holding ``fill_value`` with ``prototype``'s dtype and device.

    >>> scalar_like(torch.zeros(3, dtype=torch.long), 7)
    tensor(7)
    """
    return torch.tensor(fill_value, dtype=prototype.dtype, device=prototype.device)


def eye_like(value: torch.Tensor, m: int, n: int | None = None) -> torch.Tensor:
    """An ``m`` by ``n`` (default ``m``) identity matrix with ``value``'s dtype and device.

    >>> eye_like(torch.zeros(1), 2, 3)
    tensor([[1., 0., 0.],
            [0., 1., 0.]])
    """
    return torch.eye(m, m if n is None else n, dtype=value.dtype, device=value.device)


def gather(value: torch.Tensor, index: torch.Tensor, dim: int) -> torch.Tensor:
    """``torch.gather`` after broadcasting ``value`` and ``index`` against each other,
    with ``dim`` of ``index`` kept at size 1 on ``value``'s side.

    :param value: the tensor to pick from.
    :param index: positions along ``dim``; broadcasts with ``value`` elsewhere.
    :param dim: the dim to pick along (negative counts from the right).
    :returns: the picked values, of the broadcast shape with size ``index.size(dim)``
        along ``dim``.

    >>> v = torch.arange(12.0).reshape(3, 4)
    >>> gather(v, torch.tensor([[1], [3], [0]]), -1)
    tensor([[1.],
            [7.],
            [8.]])
    """
    # Broadcast every dim but ``dim``, where each side keeps its own size.
    shape = list(
        torch.broadcast_shapes(value.narrow(dim, 0, 1).shape, index.narrow(dim, 0, 1).shape)
    )
    value_shape, index_shape = list(shape), list(shape)
    value_shape[dim] = value.size(dim)
    index_shape[dim] = index.size(dim)
    return value.expand(value_shape).gather(dim, index.expand(index_shape))


def _copy_mapping_tensors(obj: Any, fn: Callable[[Any], Any]) -> Any:
    # copy.deepcopy looks every object up in its memo by id before copying it; a
    # memo that answers that lookup for tensors (and modules) with fn(obj) makes
    # deepcopy map them instead of copying their data.  The object is alive while
    # deepcopy asks about it, so its id resolves to it.
    class _Memo(dict[int, Any]):
        def get(self, key: int, default: Any = None) -> Any:
            if key in self:
                return self[key]
            found = ctypes.cast(key, ctypes.py_object).value if key != id(self) else None
            if isinstance(found, torch.Tensor | torch.nn.Module):
                mapped = fn(found)
                if mapped is not _COPY:
                    self[key] = mapped
                    return mapped
            return default

    return copy.deepcopy(obj, _Memo())


_COPY = object()


def detach(obj: Any) -> Any:
    """A deep copy of ``obj`` in which every tensor is detached (sharing its data).

    :param obj: any Python object.
    :returns: the copy; a tensor reached twice is detached once.

    >>> x = torch.ones(2, requires_grad=True) * 2
    >>> out = detach({"a": x, "b": [x]})
    >>> out["a"].requires_grad, out["a"] is out["b"][0], out["a"].data_ptr() == x.data_ptr()
    (False, True, True)
    """
    return _copy_mapping_tensors(
        obj, lambda t: t.detach() if isinstance(t, torch.Tensor) else _COPY
    )


def deep_to(obj: Any, *args: Any, **kwargs: Any) -> Any:
    """A deep copy of ``obj`` with ``.to(*args, **kwargs)`` applied to every tensor.

    Like ``torch.Tensor.to``, a tensor that needs no change is kept as it is.
    ``torch.nn.Module`` objects are first moved in place (as ``Module.to`` does),
    then copied.

    :param obj: any Python object.
    :param args: as for ``torch.Tensor.to`` (a dtype, a device, ...).
    :returns: the copy.

    >>> deep_to({"x": torch.ones(1)}, torch.float64)["x"].dtype
    torch.float64
    """

    def move(x: Any) -> Any:
        if isinstance(x, torch.nn.Module):
            x.to(*args, **kwargs)
            return _COPY
        return x.to(*args, **kwargs)

    return _copy_mapping_tensors(obj, move)
