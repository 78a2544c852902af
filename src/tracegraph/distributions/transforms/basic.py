"""Elementwise bijections from activation functions: ELU and leaky ReLU.

>>> import torch
>>> t = ELUTransform()
>>> x = torch.tensor([-1.0, 2.0])
>>> torch.allclose(t.inv(t(x)), x)
True
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.distributions import constraints
from torch.distributions.transforms import Transform

__all__ = ["ELUTransform", "LeakyReLUTransform", "elu", "leaky_relu"]


class ELUTransform(Transform):
    """``y = ELU(x)``: ``x`` for ``x > 0``, ``exp(x) - 1`` otherwise.

    >>> import torch
    >>> ELUTransform()(torch.tensor([0.0, 1.0]))
    tensor([0., 1.])
    """

    domain = constraints.real
    codomain = constraints.positive
    bijective = True
    sign = +1

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ELUTransform)

    def __hash__(self) -> int:
        return hash(type(self))

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        return F.elu(x)

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        return torch.where(y < 0, torch.log1p(y), y)

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return -F.relu(-x)


class LeakyReLUTransform(Transform):
    """``y = LeakyReLU(x)`` with slope 0.01 below zero.

    >>> import torch
    >>> LeakyReLUTransform()(torch.tensor([-1.0, 1.0]))
    tensor([-0.0100,  1.0000])
    """

    domain = constraints.real
    codomain = constraints.real
    bijective = True
    sign = +1

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LeakyReLUTransform)

    def __hash__(self) -> int:
        return hash(type(self))

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x)

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(y, negative_slope=100.0)

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.where(x >= 0.0, torch.zeros_like(x), torch.ones_like(x) * math.log(0.01))


def elu() -> ELUTransform:
    """An :class:`ELUTransform` (for symmetry with the flow constructors).

    >>> elu()
    ELUTransform()
    """
    return ELUTransform()


def leaky_relu() -> LeakyReLUTransform:
    """A :class:`LeakyReLUTransform` (for symmetry with the flow constructors).

    >>> leaky_relu()
    LeakyReLUTransform()
    """
    return LeakyReLUTransform()
