"""Small operations that accept a tensor or a plain Python number alike.

Inference code meets both: a loss is a tensor until a term turns out to be
identically zero, and then it may be the number ``0``.

>>> import torch
>>> torch_item(torch.tensor(2.5)), torch_item(3), torch_exp(0.0)
(2.5, 3, 1.0)
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from numbers import Number
from typing import Any

import torch

__all__ = ["torch_backward", "torch_exp", "torch_item", "torch_sum", "zero_grads"]


def torch_item(x: Any) -> Any:
    """``x.item()`` for a tensor; a number is returned as it is.

    :param x: a one-element tensor or a number.
    :returns: a Python number.

    >>> torch_item(torch.tensor([4.0])), torch_item(1.5)
    (4.0, 1.5)
    """
    return x if isinstance(x, Number) else x.item()


def torch_backward(x: Any, retain_graph: bool | None = None) -> None:
    """``x.backward()`` for a tensor with a gradient graph; a no-op for a number
    or a tensor that does not require grad.

    :param x: the value to differentiate.
    :param retain_graph: passed to ``backward``.

    >>> w = torch.tensor(3.0, requires_grad=True)
    >>> torch_backward(w * w); w.grad
    tensor(6.)
    >>> torch_backward(2.0)  # nothing to do
    """
    if isinstance(x, torch.Tensor) and x.requires_grad:
        x.backward(retain_graph=retain_graph)


def torch_exp(x: Any) -> Any:
    """``x.exp()`` for a tensor, ``math.exp(x)`` for a number.

    >>> torch_exp(torch.tensor(0.0)), torch_exp(0)
    (tensor(1.), 1.0)
    """
    if isinstance(x, torch.Tensor):
        return x.exp()
    return math.exp(x)


def torch_sum(tensor: Any, dims: Iterable[int]) -> Any:
    """Sum ``tensor`` over those of ``dims`` that it has (negative dims count from
    the right; a dim beyond the tensor's rank is skipped).

    :param tensor: a tensor, or a number (returned as it is: it has no dims).
    :param dims: dims to sum out.
    :returns: the summed tensor.

    >>> torch_sum(torch.ones(2, 3), (-1, -3)).shape
    torch.Size([2])
    """
    if not isinstance(tensor, torch.Tensor):
        return tensor
    n = tensor.dim()
    present = sorted({d % n for d in dims if -n <= d < n})
    if not present:
        return tensor
    return tensor.sum(present)


def zero_grads(tensors: Iterable[torch.Tensor]) -> None:
    """Replace the gradient of each tensor that has one by zeros (a new tensor
    outside any graph, so a ``create_graph`` backward leaves no reference cycle).

    >>> w = torch.ones(2, requires_grad=True); (2 * w).sum().backward()
    >>> zero_grads([w]); w.grad
    tensor([0., 0.])
    """
    for p in tensors:
        if p.grad is not None:
            p.grad = torch.zeros_like(p.grad, requires_grad=False)
