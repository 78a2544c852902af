import torch

from tracegraph.distributions import constraints
from tracegraph.distributions.transforms import Normalize


def test_normalize_projects_onto_the_sphere_and_zero_to_first_axis():
    x = torch.tensor([[3.0, 4.0], [0.0, 0.0]])
    y = Normalize()(x)
    assert torch.allclose(y, torch.tensor([[0.6, 0.8], [1.0, 0.0]]))
    assert constraints.sphere.check(y).all()
    assert torch.allclose(Normalize(p=1)(x[:1]), torch.tensor([[3 / 7, 4 / 7]]))
    assert Normalize() == Normalize(2) and Normalize() != Normalize(1)
