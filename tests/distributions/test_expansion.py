import torch

import tracegraph.distributions as dist
from tracegraph.distributions.expansion import expand_tensor, finish_expand


def test_expand_tensor_keeps_event_dims():
    assert expand_tensor(torch.zeros(3), torch.Size([2]), 1).shape == (2, 3)
    assert expand_tensor(torch.zeros(()), torch.Size([4, 2])).shape == (4, 2)


def test_finish_expand_copies_validation_and_has_rsample():
    d = dist.Logistic(0.0, 1.0, validate_args=False).has_rsample_(False)
    new = dist.Logistic.__new__(dist.Logistic)
    new.loc, new.scale = d.loc.expand(3), d.scale.expand(3)
    out = finish_expand(d, new, torch.Size([3]))
    assert out is new and new.batch_shape == (3,) and new._validate_args is False
    assert new.has_rsample is False
