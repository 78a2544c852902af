"""Constraints: every one of ``torch.distributions.constraints``, plus Pyro's own.

Torch's constraints are re-exported as they are (the same objects), so
``biject_to``/``transform_to`` registrations made for torch apply here
unchanged.  Added, as in Pyro: :data:`corr_matrix`, :data:`integer`,
:data:`ordered_vector`, :data:`positive_ordered_vector`,
:data:`softplus_positive`, :data:`softplus_lower_cholesky`, :data:`sphere`,
:data:`unit_lower_cholesky` and the alias :data:`corr_cholesky_constraint`.
Their transforms are registered with torch's ``biject_to``/``transform_to``
by :mod:`tracegraph.distributions.transforms`, so a param with any of them
works.

>>> import torch
>>> ordered_vector.check(torch.tensor([1.0, 2.0, 5.0]))
tensor(True)
>>> positive is torch.distributions.constraints.positive
True
"""

import math

import torch
from torch.distributions.constraints import *  # noqa: F403
from torch.distributions.constraints import (
    Constraint,
    _GreaterThan,
    _LowerCholesky,
    corr_cholesky,
    lower_triangular,
    positive_definite,
)
from torch.distributions.constraints import __all__ as _torch_all

__all__ = sorted(
    set(_torch_all)
    | {
        "corr_cholesky_constraint",
        "corr_matrix",
        "integer",
        "ordered_vector",
        "positive_ordered_vector",
        "softplus_lower_cholesky",
        "softplus_positive",
        "sphere",
        "unit_lower_cholesky",
    }
)


class _Integer(Constraint):
    """Integer values (of any dtype); ``inf`` and ``nan`` are not integers."""

    is_discrete = True

    def check(self, value: torch.Tensor) -> torch.Tensor:
        return (value % 1) == 0

    def __repr__(self) -> str:
        return "Integer"


class _Sphere(Constraint):
    """Unit-length vectors (Euclidean norm over the last dim), to within
    ``reltol * eps * sqrt(dim)``."""

    event_dim = 1
    reltol = 10.0

    def check(self, value: torch.Tensor) -> torch.Tensor:
        eps = torch.finfo(value.dtype).eps
        tol = self.reltol * eps * math.sqrt(value.size(-1))
        return (value.norm(2, dim=-1) - 1).abs() <= tol

    def __repr__(self) -> str:
        return "Sphere"


class _OrderedVector(Constraint):
    """Vectors whose entries strictly increase along the last dim."""

    event_dim = 1

    def check(self, value: torch.Tensor) -> torch.Tensor:
        return (value[..., 1:] > value[..., :-1]).all(-1)


class _PositiveOrderedVector(Constraint):
    """Positive vectors whose entries strictly increase along the last dim.

    Its ``event_dim`` is 0, as in Pyro 1.9.2 (``check`` still reduces the last dim).
    """

    def check(self, value: torch.Tensor) -> torch.Tensor:
        return ordered_vector.check(value) & (value > 0).all(-1)


class _SoftplusPositive(_GreaterThan):
    """Positive reals, mapped to by a softplus rather than an exponential."""

    def __init__(self) -> None:
        super().__init__(lower_bound=0.0)


class _SoftplusLowerCholesky(_LowerCholesky):
    """Lower-triangular matrices with positive diagonal, mapped to through softplus."""


class _UnitLowerCholesky(Constraint):
    """Lower-triangular square matrices whose diagonal is exactly one."""

    event_dim = 2

    def check(self, value: torch.Tensor) -> torch.Tensor:
        is_lower = lower_triangular.check(value)
        return is_lower & (value.diagonal(dim1=-2, dim2=-1) == 1).all(-1)


class _CorrMatrix(Constraint):
    """Correlation matrices: symmetric positive definite with unit diagonal
    (to within 1e-6)."""

    event_dim = 2

    def check(self, value: torch.Tensor) -> torch.Tensor:
        unit_diagonal = ((value.diagonal(dim1=-2, dim2=-1) - 1).abs() < 1e-6).all(-1)
        return positive_definite.check(value) & unit_diagonal


corr_cholesky_constraint = corr_cholesky  # Pyro's older name
corr_matrix = _CorrMatrix()
integer = _Integer()
ordered_vector = _OrderedVector()
positive_ordered_vector = _PositiveOrderedVector()
softplus_lower_cholesky = _SoftplusLowerCholesky()
softplus_positive = _SoftplusPositive()
sphere = _Sphere()
unit_lower_cholesky = _UnitLowerCholesky()
