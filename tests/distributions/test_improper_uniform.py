import pytest
import torch
from torch.distributions import constraints

import tracegraph.distributions as dist


def test_improper_uniform_scores_zero_with_broadcast_batch_shape():
    d = dist.ImproperUniform(constraints.positive, (2,), (3,))
    assert d.support is constraints.positive
    assert torch.equal(d.log_prob(torch.ones(4, 2, 3)), torch.zeros(4, 2))
    assert torch.equal(d.log_prob(torch.ones(3)), torch.zeros(2))


def test_improper_uniform_refuses_to_sample_and_expands():
    d = dist.ImproperUniform(constraints.real, (), (2,))
    with pytest.raises(NotImplementedError):
        d.sample()
    e = d.expand((5,))
    assert type(e) is dist.ImproperUniform and e.batch_shape == (5,) and e.event_shape == (2,)
    assert d.to_event(0) is d and d.mask(False).log_prob(torch.zeros(2)) == 0
