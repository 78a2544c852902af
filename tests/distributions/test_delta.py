import pickle

import pytest
import torch

from tracegraph.distributions import Delta, MaskedDistribution
from tracegraph.errors import ShapeError


def test_delta_log_prob_log_density_at_v_and_minus_inf_elsewhere():
    d = Delta(torch.tensor([1.0, 2.0]), log_density=-0.5)
    out = d.log_prob(torch.tensor([1.0, 3.0]))
    assert torch.equal(out, torch.tensor([-0.5, -float("inf")]))


def test_delta_log_prob_event_dim_requires_whole_event_equal():
    d = Delta(torch.tensor([[0.0, 1.0], [2.0, 3.0]]), event_dim=1)
    x = torch.tensor([[0.0, 1.0], [2.0, 4.0]])
    assert d.batch_shape == (2,) and d.event_shape == (2,)
    assert torch.equal(d.log_prob(x), torch.tensor([0.0, -float("inf")]))


def test_delta_rsample_returns_v_broadcast_with_gradient_path():
    v = torch.tensor([1.0, 2.0], requires_grad=True)
    x = Delta(v, event_dim=1).rsample((3,))
    assert x.shape == (3, 2) and torch.equal(x, v.detach().expand(3, 2))
    x.sum().backward()
    assert v.grad is not None and torch.equal(v.grad, torch.full((2,), 3.0))


def test_delta_sample_and_call_paths():
    v = torch.tensor(1.0, requires_grad=True)
    d = Delta(v)
    assert d.has_rsample and d().requires_grad
    assert not d.sample().requires_grad
    assert not d.has_rsample_(False)().requires_grad


def test_delta_log_density_gradient_flows_where_equal():
    log_density = torch.tensor(0.0, requires_grad=True)
    Delta(torch.tensor(1.0), log_density).log_prob(torch.tensor(1.0)).backward()
    assert log_density.grad is not None and log_density.grad == 1.0


def test_delta_log_density_broadcasts_batch_shape():
    d = Delta(torch.tensor(1.0), log_density=torch.tensor([0.0, -1.0]))
    assert d.batch_shape == (2,) and d.v.shape == (2,)


def test_delta_event_dim_above_rank_raises():
    with pytest.raises(ShapeError, match="event_dim=2 .* expected event_dim <= 1"):
        Delta(torch.zeros(3), event_dim=2)


@pytest.mark.parametrize("event_dim", [-1, -3])
def test_delta_negative_event_dim_counts_as_zero_as_pyro(event_dim):
    v = torch.tensor([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]])
    d = Delta(v, log_density=torch.full((2, 3), -0.5), event_dim=event_dim)
    ref = Delta(v, log_density=torch.full((2, 3), -0.5), event_dim=0)
    assert (d.batch_shape, d.event_shape, d.event_dim) == ((2, 3), (), 0)
    x = v.clone()
    x[0, 1] = 7.0
    assert torch.equal(d.log_prob(x), ref.log_prob(x))
    assert d.expand((4, 2, 3)).batch_shape == (4, 2, 3)


def test_delta_integer_value_log_prob_is_float():
    d = Delta(torch.tensor(2))
    out = d.log_prob(torch.tensor([2, 3]))
    assert out.dtype == torch.get_default_dtype()
    assert torch.equal(out, torch.tensor([0.0, -float("inf")]))


def test_delta_expand_and_moments():
    d = Delta(torch.tensor([1.0, 2.0]), event_dim=1).expand((3,))
    assert type(d) is Delta and d.batch_shape == (3,) and d.v.shape == (3, 2)
    assert torch.equal(d.mean, d.v) and torch.equal(d.variance, torch.zeros(3, 2))


def test_delta_validation_rejects_nan_value():
    with pytest.raises(ValueError):
        Delta(torch.tensor(0.0)).log_prob(torch.tensor(float("nan")))


def test_delta_mask_false_log_prob_zero():
    d = Delta(torch.tensor([1.0, 2.0]), event_dim=1).mask(False)
    assert isinstance(d, MaskedDistribution)
    assert torch.equal(d.log_prob(torch.tensor([5.0, 5.0])), torch.tensor(0.0))


def test_delta_score_parts_reparameterized_convention():
    d = Delta(torch.tensor(1.0))
    parts = d.score_parts(torch.tensor(1.0))
    assert parts.score_function == 0.0 and isinstance(parts.entropy_term, torch.Tensor)
    assert torch.equal(parts.entropy_term, torch.tensor(0.0))


def test_delta_pickles():
    d = pickle.loads(pickle.dumps(Delta(torch.tensor([1.0]), -2.0)))
    assert torch.equal(d.log_prob(torch.tensor([1.0])), torch.tensor([-2.0]))
