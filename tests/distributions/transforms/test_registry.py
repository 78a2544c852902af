import pytest
import torch

from tracegraph.distributions import constraints

BIJECTIVE = ["corr_matrix", "ordered_vector", "positive_ordered_vector", "softplus_positive"]
PROJECTIONS = ["positive_definite", "sphere", "softplus_lower_cholesky", "unit_lower_cholesky"]


@pytest.mark.parametrize("name", BIJECTIVE)
def test_biject_to_and_transform_to_agree_for_bijective_constraints(name):
    c = getattr(constraints, name)
    b, t = torch.distributions.biject_to(c), torch.distributions.transform_to(c)
    x = torch.randn(5, 3, dtype=torch.float64)
    assert torch.allclose(b(x), t(x)) and c.check(b(x)).all()


@pytest.mark.parametrize("name", PROJECTIONS)
def test_transform_to_projects_onto_constraint(name):
    c = getattr(constraints, name)
    shape = (5, 3) if name == "sphere" else (5, 3, 3)
    y = torch.distributions.transform_to(c)(torch.randn(shape, dtype=torch.float64))
    assert c.check(y).all()
