"""The constraints Pyro adds to torch's that tracegraph's Pyro-specific distributions use.

``sphere`` (unit vectors), ``integer`` (any whole number), ``corr_matrix``
(correlation matrices) and ``ordered_vector`` (strictly increasing vectors) are
not in ``torch.distributions.constraints``.  They are subclasses of torch's
``Constraint``, so they work wherever one is expected; their ``repr`` and
``check`` follow Pyro's.

>>> import torch
>>> sphere.check(torch.tensor([[0.6, 0.8], [1.0, 1.0]]))
tensor([ True, False])
>>> ordered_vector.check(torch.tensor([1.0, 2.0, 2.0]))
tensor(False)
"""

from __future__ import annotations

import torch
from torch.distributions.constraints import Constraint

__all__ = ["corr_matrix", "integer", "ordered_vector", "sphere"]


class _Sphere(Constraint):
    """Unit vectors of any dimension (the rightmost dim is the event).

    A vector passes when its Euclidean norm is within ``10 * sqrt(dim)`` machine
    epsilons of one: the rounding a normalization leaves behind.

    >>> _Sphere().event_dim
    1
    """

    event_dim = 1

    def __init__(self) -> None:
        super().__init__()

    def check(self, value: torch.Tensor) -> torch.Tensor:
        eps = torch.finfo(value.dtype).eps
        tolerance = 10 * eps * value.size(-1) ** 0.5
        return (value.norm(dim=-1) - 1).abs() <= tolerance

    def __repr__(self) -> str:
        return "Sphere"


class _Integer(Constraint):
    """Whole numbers of either sign, stored in any dtype.

    >>> _Integer().check(torch.tensor([-2.0, 0.5]))
    tensor([ True, False])
    """

    is_discrete = True

    def check(self, value: torch.Tensor) -> torch.Tensor:
        return value % 1 == 0

    def __repr__(self) -> str:
        return "Integer"


class _CorrMatrix(Constraint):
    """Symmetric positive-definite matrices with a unit diagonal.

    >>> _CorrMatrix().check(torch.tensor([[1.0, 0.5], [0.5, 1.0]]))
    tensor(True)
    """

    event_dim = 2

    def check(self, value: torch.Tensor) -> torch.Tensor:
        symmetric = torch.isclose(value, value.mT).flatten(-2).all(-1)
        unit_diagonal = ((value.diagonal(dim1=-2, dim2=-1) - 1).abs() <= 1e-6).all(-1)
        positive = torch.linalg.cholesky_ex(value).info == 0
        return symmetric & unit_diagonal & positive


class _OrderedVector(Constraint):
    """Vectors whose entries strictly increase.

    >>> _OrderedVector().check(torch.tensor([[0.0, 1.0], [1.0, 0.0]]))
    tensor([ True, False])
    """

    event_dim = 1

    def check(self, value: torch.Tensor) -> torch.Tensor:
        if value.size(-1) < 2:
            return torch.ones(value.shape[:-1], dtype=torch.bool, device=value.device)
        return (value[..., 1:] > value[..., :-1]).all(-1)


sphere = _Sphere()
integer = _Integer()
corr_matrix = _CorrMatrix()
ordered_vector = _OrderedVector()
