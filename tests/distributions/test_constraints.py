import torch

from tracegraph.distributions import constraints


def test_constraints_reexports_every_torch_constraint():
    for name in torch.distributions.constraints.__all__:
        assert getattr(constraints, name) is getattr(torch.distributions.constraints, name)
    assert constraints.__all__ == list(torch.distributions.constraints.__all__)


def test_constraints_work_with_torch_biject_to():
    t = torch.distributions.biject_to(constraints.positive)
    assert t(torch.tensor(0.0)) == 1.0
