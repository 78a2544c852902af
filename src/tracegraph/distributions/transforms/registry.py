"""``biject_to``/``transform_to`` registrations for Pyro's constraints.

Registered in torch's own registries (as Pyro does), so
``torch.distributions.biject_to(constraints.ordered_vector)`` works, and so does
a param or a guide site with any of these constraints.  ``transform_to`` of
torch's ``positive_definite`` becomes ``LowerCholeskyTransform`` followed by
``L -> L L^T``, as in Pyro.

>>> import torch
>>> from tracegraph.distributions import constraints
>>> t = torch.distributions.biject_to(constraints.ordered_vector)
>>> constraints.ordered_vector.check(t(torch.randn(4)))
tensor(True)
"""

from __future__ import annotations

from torch.distributions import biject_to, constraints, transform_to
from torch.distributions.transforms import (
    ComposeTransform,
    CorrCholeskyTransform,
    ExpTransform,
    LowerCholeskyTransform,
    Transform,
)

from tracegraph.distributions import constraints as our_constraints
from tracegraph.distributions.transforms.cholesky import (
    CholeskyTransform,
    CorrMatrixCholeskyTransform,
    UnitLowerCholeskyTransform,
)
from tracegraph.distributions.transforms.normalize import Normalize
from tracegraph.distributions.transforms.ordered import OrderedTransform
from tracegraph.distributions.transforms.softplus import (
    SoftplusLowerCholeskyTransform,
    SoftplusTransform,
)

__all__: list[str] = []


@biject_to.register(our_constraints.corr_matrix)
@transform_to.register(our_constraints.corr_matrix)
def _transform_to_corr_matrix(constraint: constraints.Constraint) -> Transform:
    return ComposeTransform([CorrCholeskyTransform(), CorrMatrixCholeskyTransform().inv])


@biject_to.register(our_constraints.ordered_vector)
@transform_to.register(our_constraints.ordered_vector)
def _transform_to_ordered_vector(constraint: constraints.Constraint) -> Transform:
    return OrderedTransform()


@biject_to.register(our_constraints.positive_ordered_vector)
@transform_to.register(our_constraints.positive_ordered_vector)
def _transform_to_positive_ordered_vector(constraint: constraints.Constraint) -> Transform:
    return ComposeTransform([OrderedTransform(), ExpTransform()])


@biject_to.register(our_constraints.softplus_positive)
@transform_to.register(our_constraints.softplus_positive)
def _transform_to_softplus_positive(constraint: constraints.Constraint) -> Transform:
    return SoftplusTransform()


@transform_to.register(constraints.positive_definite)
def _transform_to_positive_definite(constraint: constraints.Constraint) -> Transform:
    return ComposeTransform([LowerCholeskyTransform(), CholeskyTransform().inv])


@transform_to.register(our_constraints.sphere)
def _transform_to_sphere(constraint: constraints.Constraint) -> Transform:
    return Normalize()


@transform_to.register(our_constraints.softplus_lower_cholesky)
def _transform_to_softplus_lower_cholesky(constraint: constraints.Constraint) -> Transform:
    return SoftplusLowerCholeskyTransform()


@transform_to.register(our_constraints.unit_lower_cholesky)
def _transform_to_unit_lower_cholesky(constraint: constraints.Constraint) -> Transform:
    return UnitLowerCholeskyTransform()
