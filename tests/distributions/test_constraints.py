import pytest
import torch

from tracegraph.distributions import constraints

PYRO_EXTRAS = [
    "corr_cholesky_constraint",
    "corr_matrix",
    "integer",
    "ordered_vector",
    "positive_ordered_vector",
    "softplus_lower_cholesky",
    "softplus_positive",
    "sphere",
    "unit_lower_cholesky",
]


def test_constraints_reexports_every_torch_constraint():
    for name in torch.distributions.constraints.__all__:
        assert getattr(constraints, name) is getattr(torch.distributions.constraints, name)
    assert set(constraints.__all__) == set(torch.distributions.constraints.__all__) | set(
        PYRO_EXTRAS
    )


def test_constraints_work_with_torch_biject_to():
    t = torch.distributions.biject_to(constraints.positive)
    assert t(torch.tensor(0.0)) == 1.0


def test_integer_refuses_fractions_inf_and_nan():
    x = torch.tensor([1.0, -2.0, 0.5, float("inf"), float("nan")])
    assert constraints.integer.check(x).tolist() == [True, True, False, False, False]
    assert constraints.integer.is_discrete and repr(constraints.integer) == "Integer"


def test_ordered_vector_strictly_increasing_over_last_dim():
    x = torch.tensor([[1.0, 2.0, 3.0], [1.0, 1.0, 3.0]])
    assert constraints.ordered_vector.check(x).tolist() == [True, False]
    assert constraints.ordered_vector.event_dim == 1


def test_positive_ordered_vector_needs_positive_entries():
    x = torch.tensor([[0.5, 2.0], [-1.0, 2.0], [0.0, 1.0]])
    assert constraints.positive_ordered_vector.check(x).tolist() == [True, False, False]


def test_sphere_tolerance_scales_with_dtype_eps_and_sqrt_dim():
    # |norm - 1| <= 10 eps sqrt(dim): 1.5e-6 passes in float32 for dim 2, 2e-6 does not.
    assert constraints.sphere.check(torch.tensor([1.0 + 1.5e-6, 0.0]))
    assert not constraints.sphere.check(torch.tensor([1.0 + 2.5e-6, 0.0]))
    assert not constraints.sphere.check(torch.tensor([1.0 + 1e-7, 0.0], dtype=torch.float64))
    assert repr(constraints.sphere) == "Sphere"


def test_corr_matrix_needs_unit_diagonal_and_positive_definite():
    good = torch.tensor([[1.0, 0.5], [0.5, 1.0]])
    assert constraints.corr_matrix.check(good)
    assert not constraints.corr_matrix.check(torch.tensor([[1.0, 2.0], [2.0, 1.0]]))
    assert not constraints.corr_matrix.check(torch.tensor([[1.1, 0.5], [0.5, 1.0]]))


def test_unit_lower_cholesky_needs_exact_ones_on_diagonal():
    assert constraints.unit_lower_cholesky.check(torch.tensor([[1.0, 0.0], [3.0, 1.0]]))
    assert not constraints.unit_lower_cholesky.check(torch.tensor([[2.0, 0.0], [3.0, 1.0]]))
    assert not constraints.unit_lower_cholesky.check(torch.tensor([[1.0, 1.0], [3.0, 1.0]]))


def test_softplus_constraints_check_like_their_plain_versions():
    x = torch.tensor([1.0, 0.0, -1.0])
    assert torch.equal(constraints.softplus_positive.check(x), constraints.positive.check(x))
    assert repr(constraints.softplus_positive) == "SoftplusPositive(lower_bound=0.0)"
    m = torch.tensor([[1.0, 0.0], [3.0, 0.5]])
    assert constraints.softplus_lower_cholesky.check(m)


def test_corr_cholesky_constraint_is_torchs_corr_cholesky():
    assert constraints.corr_cholesky_constraint is torch.distributions.constraints.corr_cholesky


@pytest.mark.parametrize(
    "name, shape",
    [
        ("corr_matrix", (3,)),
        ("ordered_vector", (4,)),
        ("positive_ordered_vector", (4,)),
        ("softplus_positive", (4,)),
        ("softplus_lower_cholesky", (3, 3)),
        ("unit_lower_cholesky", (3, 3)),
        ("sphere", (3,)),
        ("positive_definite", (3, 3)),
    ],
)
def test_transform_to_maps_reals_into_each_pyro_constraint(name, shape):
    c = getattr(constraints, name)
    x = torch.randn((5,) + shape, dtype=torch.float64)
    y = torch.distributions.transform_to(c)(x)
    assert c.check(y).all()


@pytest.mark.parametrize(
    "name", ["corr_matrix", "ordered_vector", "positive_ordered_vector", "softplus_positive"]
)
def test_biject_to_round_trips_for_bijective_pyro_constraints(name):
    c = getattr(constraints, name)
    t = torch.distributions.biject_to(c)
    x = torch.randn(5, 3 if name == "corr_matrix" else 4, dtype=torch.float64)
    assert torch.allclose(t.inv(t(x)), x, atol=1e-8)


@pytest.mark.parametrize("name", ["sphere", "unit_lower_cholesky", "integer"])
def test_biject_to_refuses_non_bijective_pyro_constraints(name):
    with pytest.raises(NotImplementedError):
        torch.distributions.biject_to(getattr(constraints, name))
