"""Primitive random draws that tracegraph's own samplers are built from.

Inverse-CDF and transformation samplers need uniforms strictly inside
``(0, 1)`` (an exact zero would map to an infinite value) and standard
exponentials; both come from torch's global generator.

>>> import torch
>>> u = open_uniform(torch.Size([1000]), torch.zeros(()))
>>> bool((u > 0).all() and (u < 1).all())
True
"""

from __future__ import annotations

import torch

__all__ = ["open_uniform", "standard_exponential"]


def open_uniform(shape: torch.Size, like: torch.Tensor) -> torch.Tensor:
    """Uniform draws in ``(0, 1)``, never exactly zero, with ``like``'s dtype and device.

    :param shape: the shape of the draws.
    :param like: a tensor whose dtype and device the draws take.
    :returns: a tensor of independent uniforms.

    >>> open_uniform(torch.Size([2, 3]), torch.zeros((), dtype=torch.float64)).dtype
    torch.float64
    """
    tiny = torch.finfo(like.dtype).tiny
    return torch.empty(shape, dtype=like.dtype, device=like.device).uniform_(tiny, 1.0)


def standard_exponential(shape: torch.Size, like: torch.Tensor) -> torch.Tensor:
    """Exponential(1) draws with ``like``'s dtype and device, all positive and finite.

    :param shape: the shape of the draws.
    :param like: a tensor whose dtype and device the draws take.
    :returns: a tensor of independent standard exponentials.

    >>> bool((standard_exponential(torch.Size([100]), torch.zeros(())) > 0).all())
    True
    """
    return -open_uniform(shape, like).log()
