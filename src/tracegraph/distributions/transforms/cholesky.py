"""Transforms between positive-definite matrices, correlation matrices and their
Cholesky factors.

>>> import torch
>>> p = torch.tensor([[4.0, 2.0], [2.0, 2.0]])
>>> CholeskyTransform()(p)
tensor([[2., 0.],
        [1., 1.]])
"""

from __future__ import annotations

import math
import warnings

import torch
from torch.distributions import constraints
from torch.distributions.transforms import CorrCholeskyTransform, Transform

from tracegraph.distributions.constraints import corr_matrix, unit_lower_cholesky

__all__ = [
    "CholeskyTransform",
    "CorrLCholeskyTransform",
    "CorrMatrixCholeskyTransform",
    "UnitLowerCholeskyTransform",
]


def _cholesky_log_abs_det(y: torch.Tensor, exponents: torch.Tensor) -> torch.Tensor:
    return (exponents * y.diagonal(dim1=-2, dim2=-1).log()).sum(-1)


class CholeskyTransform(Transform):
    """``y = cholesky(x)`` for a positive-definite ``x``; the inverse is ``y y^T``.

    >>> import torch
    >>> t = CholeskyTransform()
    >>> x = torch.tensor([[2.0, 0.5], [0.5, 1.0]])
    >>> torch.allclose(t.inv(t(x)), x)
    True
    """

    bijective = True
    domain = constraints.positive_definite
    codomain = constraints.lower_cholesky

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CholeskyTransform)

    def __hash__(self) -> int:
        return hash(type(self))

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        return torch.linalg.cholesky(x)

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        return torch.matmul(y, y.transpose(-1, -2))

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        # x = L L^T has |dx/dL| = 2^D prod_i L_ii^(D - i + 1), i = 1..D.
        n = x.size(-1)
        exponents = torch.arange(n, 0, -1, dtype=x.dtype, device=x.device)
        return -(n * math.log(2) + _cholesky_log_abs_det(y, exponents))


class CorrMatrixCholeskyTransform(CholeskyTransform):
    """``y = cholesky(x)`` for a correlation matrix ``x``: onto Cholesky factors
    with unit-length rows.

    >>> import torch
    >>> CorrMatrixCholeskyTransform()(torch.eye(2))
    tensor([[1., 0.],
            [0., 1.]])
    """

    bijective = True
    domain = corr_matrix  # type: ignore[assignment]
    codomain = constraints.corr_cholesky  # type: ignore[assignment]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CorrMatrixCholeskyTransform)

    def __hash__(self) -> int:
        return hash(type(self))

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        # Over the D(D-1)/2 free entries: |dx/dL| = prod_i L_ii^(D - i), i = 1..D.
        n = x.size(-1)
        exponents = torch.arange(n - 1, -1, -1, dtype=x.dtype, device=x.device)
        return -_cholesky_log_abs_det(y, exponents)


class CorrLCholeskyTransform(CorrCholeskyTransform):
    """Deprecated name of ``torch.distributions.transforms.CorrCholeskyTransform``
    (warns ``FutureWarning`` when made).

    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", FutureWarning)
    ...     CorrLCholeskyTransform()(torch.zeros(1)).shape
    torch.Size([2, 2])
    """

    def __init__(self, cache_size: int = 0) -> None:
        warnings.warn(
            "class CorrLCholeskyTransform is deprecated in favor of CorrCholeskyTransform.",
            FutureWarning,
            stacklevel=2,
        )
        super().__init__(cache_size=cache_size)


class UnitLowerCholeskyTransform(Transform):
    """Square matrices to lower-triangular ones with unit diagonal: keep the
    strict lower triangle.

    >>> import torch
    >>> UnitLowerCholeskyTransform()(torch.full((2, 2), 3.0))
    tensor([[1., 0.],
            [3., 1.]])
    """

    domain = constraints.independent(constraints.real, 2)
    codomain = unit_lower_cholesky

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UnitLowerCholeskyTransform)

    def __hash__(self) -> int:
        return hash(type(self))

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        return x.tril(-1) + torch.eye(x.size(-1), dtype=x.dtype, device=x.device)

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        return y
