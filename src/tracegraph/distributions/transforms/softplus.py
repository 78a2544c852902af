"""Softplus bijections: onto the positive reals, and onto Cholesky factors.

>>> import torch
>>> t = SoftplusTransform()
>>> torch.allclose(t.inv(t(torch.tensor([-3.0, 0.0, 4.0]))), torch.tensor([-3.0, 0.0, 4.0]))
True
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.distributions import constraints
from torch.distributions.transforms import Transform

__all__ = ["SoftplusLowerCholeskyTransform", "SoftplusTransform"]


def _softplus_inverse(y: torch.Tensor) -> torch.Tensor:
    # log(exp(y) - 1), written to stay finite for large y.
    return y + torch.log(-torch.expm1(-y))


class SoftplusTransform(Transform):
    """``y = log(1 + exp(x))``; an alternative to ``exp`` that grows linearly.

    >>> import torch
    >>> SoftplusTransform()(torch.tensor(0.0))
    tensor(0.6931)
    """

    domain = constraints.real
    codomain = constraints.positive
    bijective = True
    sign = +1

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SoftplusTransform)

    def __hash__(self) -> int:
        return hash(type(self))

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        return F.softplus(x)

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        return _softplus_inverse(y)

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return -F.softplus(-x)


class SoftplusLowerCholeskyTransform(Transform):
    """Square matrices to lower-triangular ones with a positive diagonal: keep the
    strict lower triangle, pass the diagonal through softplus, drop the rest.

    >>> import torch
    >>> SoftplusLowerCholeskyTransform()(torch.zeros(2, 2))
    tensor([[0.6931, 0.0000],
            [0.0000, 0.6931]])
    """

    domain = constraints.independent(constraints.real, 2)
    codomain = constraints.lower_cholesky

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SoftplusLowerCholeskyTransform)

    def __hash__(self) -> int:
        return hash(type(self))

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        diagonal = F.softplus(x.diagonal(dim1=-2, dim2=-1))
        return x.tril(-1) + torch.diag_embed(diagonal)

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        diagonal = _softplus_inverse(y.diagonal(dim1=-2, dim2=-1))
        return y.tril(-1) + torch.diag_embed(diagonal)
