import torch

from tracegraph.distributions.pyro_constraints import corr_matrix, integer, ordered_vector, sphere


def test_sphere_accepts_normalized_vectors_within_rounding():
    x = torch.randn(100, 5)
    assert sphere.check(x / x.norm(dim=-1, keepdim=True)).all()
    assert not sphere.check(torch.tensor([1.001, 0.0])) and sphere.event_dim == 1
    assert repr(sphere) == "Sphere"


def test_integer_ordered_vector_and_corr_matrix():
    assert integer.check(torch.tensor([-3.0, 0.0, 2.5])).tolist() == [True, True, False]
    assert integer.is_discrete and repr(integer) == "Integer"
    assert ordered_vector.check(torch.tensor([[0.0, 1.0], [1.0, 1.0]])).tolist() == [True, False]
    assert ordered_vector.check(torch.tensor([3.0])) and ordered_vector.event_dim == 1
    good = torch.tensor([[1.0, 0.3], [0.3, 1.0]])
    assert corr_matrix.check(good) and corr_matrix.event_dim == 2
    assert not corr_matrix.check(torch.tensor([[1.0, 2.0], [2.0, 1.0]]))  # not positive definite
    assert not corr_matrix.check(torch.tensor([[2.0, 0.3], [0.3, 1.0]]))  # diagonal not one
