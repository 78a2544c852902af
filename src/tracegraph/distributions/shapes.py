"""Shape arithmetic of log-densities: broadcasting shapes, summing out dims.

>>> broadcast_shape((3, 1), (4,))
(3, 4)
>>> sum_rightmost(torch.ones(2, 3, 4), 2)
tensor([12., 12.])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, overload

import torch

from tracegraph.errors import ShapeError

__all__ = ["broadcast_shape", "sum_leftmost", "sum_rightmost"]


def _mismatch(shapes: Sequence[Sequence[int]], strict: bool) -> ShapeError:
    listed = " vs ".join(str(tuple(s)) for s in shapes)
    rule = (
        "only missing leading dims may be added (strict)"
        if strict
        else "each dim, aligned from the right, must be equal or 1"
    )
    return ShapeError(
        f"shape mismatch: objects cannot be broadcast to a single shape: {listed}; {rule}; "
        "hint: check plate sizes and the batch_shape of the distribution"
    )


def broadcast_shape(*shapes: Sequence[int], **kwargs: Any) -> tuple[int, ...]:
    """Broadcast shapes with torch's rules, as ``np.broadcast`` does for arrays.

    :param shapes: any number of shapes (tuples, lists or ``torch.Size``).
    :param strict: keyword; if true, dims may only be *added* on the left, never
        resized from 1 (extend-but-not-resize broadcasting).  Default false.
    :returns: the broadcast shape, a tuple.
    :raises ShapeError: (a ``ValueError``) if the shapes do not broadcast; the
        message lists them all.

    >>> broadcast_shape((3, 1), (4,), ())
    (3, 4)
    >>> broadcast_shape((1, 4), (3, 4), strict=True)
    Traceback (most recent call last):
    ...
    tracegraph.errors.ShapeError: shape mismatch: objects cannot be broadcast to a single shape: ...
    """
    strict = bool(kwargs.pop("strict", False))
    reversed_shape: list[int] = []
    for shape in shapes:
        for i, size in enumerate(reversed(shape)):
            if i >= len(reversed_shape):
                reversed_shape.append(size)
            elif reversed_shape[i] != size:
                if strict:
                    raise _mismatch(shapes, strict)
                if reversed_shape[i] == 1:
                    reversed_shape[i] = size
                elif size != 1:
                    raise _mismatch(shapes, strict)
    return tuple(reversed(reversed_shape))


@overload
def sum_rightmost(value: torch.Tensor, dim: float) -> torch.Tensor: ...
@overload
def sum_rightmost(value: float, dim: float) -> float: ...
def sum_rightmost(value: torch.Tensor | float, dim: float) -> torch.Tensor | float:
    """Sum out the ``dim`` rightmost dims of ``value``.

    ``dim = 0`` sums nothing; ``float("inf")`` (or more dims than ``value`` has)
    sums everything; a negative ``dim`` keeps the ``-dim`` leftmost dims and sums
    the rest.  Numbers pass through unchanged, so a term that is the constant
    ``0`` stays one.

    :param value: a tensor or a number.
    :param dim: how many rightmost dims to sum.
    :returns: the reduced tensor, or ``value`` itself when there is nothing to sum.

    >>> sum_rightmost(torch.ones(2, 3), 1)
    tensor([3., 3.])
    >>> sum_rightmost(torch.ones(2, 3, 4), -1).shape
    torch.Size([2])
    >>> sum_rightmost(0.0, 3), sum_rightmost(torch.ones(2, 3), float("inf"))
    (0.0, tensor(6.))
    """
    if not isinstance(value, torch.Tensor):
        return value
    if dim == math.inf:
        return value.sum()
    n = int(dim)
    if n < 0:
        n += value.dim()
    if n == 0:
        return value
    if n > 0 and n <= value.dim():
        return value.sum(tuple(range(-n, 0)))
    # Out of range either way: Python's slice rules decide what is kept.
    return value.reshape(value.shape[:-n] + (-1,)).sum(-1)


@overload
def sum_leftmost(value: torch.Tensor, dim: float) -> torch.Tensor: ...
@overload
def sum_leftmost(value: float, dim: float) -> float: ...
def sum_leftmost(value: torch.Tensor | float, dim: float) -> torch.Tensor | float:
    """Sum out the ``dim`` leftmost dims of ``value``.

    ``dim = 0`` sums nothing; ``float("inf")`` (or more dims than ``value`` has)
    sums everything; a negative ``dim`` keeps the ``-dim`` rightmost dims.

    :param value: a tensor or a number.
    :param dim: how many leftmost dims to sum.
    :returns: the reduced tensor, or ``value`` itself when there is nothing to sum.

    >>> x = torch.ones(2, 3, 4)
    >>> sum_leftmost(x, 1).shape, sum_leftmost(x, -1).shape
    (torch.Size([3, 4]), torch.Size([4]))
    """
    if not isinstance(value, torch.Tensor):
        return value
    if dim == math.inf:
        return value.sum()
    n = int(dim)
    if n < 0:
        n += value.dim()
    if n == 0:
        return value
    if n > 0 and n <= value.dim():
        return value.sum(tuple(range(n)))
    return value.reshape((-1,) + value.shape[n:]).sum(0)
