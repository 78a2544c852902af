import pytest
import torch

import tracegraph.distributions as dist
from tracegraph.distributions.kl import kl_divergence


def test_kl_delta_is_negative_log_prob_of_the_point():
    p, q = dist.Delta(torch.tensor([0.5, 1.0])), dist.Normal(torch.zeros(2), 1.0)
    assert torch.equal(kl_divergence(p, q), -q.log_prob(torch.tensor([0.5, 1.0])))


def test_kl_masked_is_zero_where_either_mask_is_false():
    a, b = dist.Normal(torch.zeros(3), 1.0), dist.Normal(torch.ones(3), 2.0)
    full = kl_divergence(a, b)
    kl = kl_divergence(
        a.mask(torch.tensor([True, False, True])), b.mask(torch.tensor([True, True, False]))
    )
    assert torch.equal(kl, torch.stack([full[0], torch.tensor(0.0), torch.tensor(0.0)]))
    assert kl_divergence(a.mask(False), b.mask(True)) == 0.0
    assert torch.equal(kl_divergence(a.mask(True), b.mask(True)), full)


def test_kl_independent_compares_event_dims_however_nested():
    a, b = dist.Normal(torch.zeros(2, 3), 1.0), dist.Normal(torch.ones(2, 3), 2.0)
    expected = kl_divergence(a, b).sum()
    assert torch.allclose(kl_divergence(a.to_event(1).to_event(1), b.to_event(2)), expected)
    assert torch.allclose(kl_divergence(a.to_event(2), b.to_event(1).to_event(1)), expected)
    with pytest.raises(NotImplementedError):
        kl_divergence(a.to_event(1), b.to_event(2))


def test_kl_diagonal_normal_against_multivariate_normal():
    p = dist.Normal(torch.zeros(2, 3), 0.5).to_event(1)
    q = dist.MultivariateNormal(torch.ones(3), torch.eye(3) * 2.0)
    reference = kl_divergence(dist.MultivariateNormal(torch.zeros(2, 3), torch.eye(3) * 0.25), q)
    assert torch.allclose(kl_divergence(p, q), reference)
    with pytest.raises(NotImplementedError):
        kl_divergence(dist.Normal(torch.zeros(2, 3), 1.0).to_event(2), q)
