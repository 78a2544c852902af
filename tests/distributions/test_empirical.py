"""Empirical: shapes, weighted moments, log_prob by value equality, sampling."""

import math

import pytest
import torch

from tracegraph.distributions import Empirical, ExpandedDistribution

SAMPLES = torch.tensor([[0.0, 1.0, 1.0, 3.0], [2.0, 2.0, 5.0, 6.0]])
LOG_W = torch.tensor([[0.0, 1.0, 2.0, 3.0], [0.0, 0.0, 0.0, 0.0]])


def test_empirical_shapes_from_log_weights():
    d = Empirical(torch.zeros(2, 5, 3), torch.zeros(2, 5))
    assert d.batch_shape == (2,) and d.event_shape == (3,)
    assert d.sample_size == 10
    assert d.sample().shape == (2, 3) and d.sample((4, 1)).shape == (4, 1, 2, 3)


@pytest.mark.parametrize("log_w_shape", [(2,), (3, 2, 1), (4,)])
def test_empirical_mismatched_log_weights_raise(log_w_shape):
    with pytest.raises(ValueError, match="leading shape of samples"):
        Empirical(torch.zeros(3, 2), torch.zeros(log_w_shape))


def test_empirical_mean_and_variance_are_weighted():
    d = Empirical(SAMPLES, LOG_W)
    w = torch.softmax(LOG_W, -1)
    mean = (w * SAMPLES).sum(-1)
    assert torch.allclose(d.mean, mean)
    assert torch.allclose(d.variance, (w * (SAMPLES - mean[:, None]) ** 2).sum(-1))
    assert d.log_weights is LOG_W  # kept unnormalized


def test_empirical_log_prob_sums_weights_of_equal_samples():
    d = Empirical(SAMPLES, LOG_W)
    lp = d.log_prob(torch.tensor([1.0, 2.0]))
    w = torch.softmax(LOG_W, -1)
    assert torch.allclose(lp, torch.stack([w[0, 1:3].sum(), w[1, :2].sum()]).log())
    assert d.log_prob(torch.tensor([7.0, 2.0]))[0] == -math.inf


def test_empirical_log_prob_compares_whole_events():
    d = Empirical(torch.tensor([[0.0, 1.0], [0.0, 2.0]]), torch.zeros(2))
    assert torch.isclose(d.log_prob(torch.tensor([0.0, 2.0])), torch.tensor(0.5).log())
    assert d.log_prob(torch.tensor([0.0, 3.0])) == -math.inf


def test_empirical_log_prob_of_batched_value_raises():
    with pytest.raises(ValueError, match="value.shape must be"):
        Empirical(SAMPLES, LOG_W).log_prob(torch.zeros(3, 2))


def test_empirical_discrete_samples_have_no_mean():
    d = Empirical(torch.tensor([1, 2, 2]), torch.zeros(3))
    assert torch.isclose(d.log_prob(torch.tensor(2)), torch.tensor(2 / 3).log())
    with pytest.raises(ValueError, match="floating dtype"):
        _ = d.mean
    with pytest.raises(ValueError, match="floating dtype"):
        _ = d.variance


def test_empirical_sample_draws_categorical_indices():
    d = Empirical(SAMPLES, LOG_W)
    torch.manual_seed(1)
    got = d.sample((3,))
    torch.manual_seed(1)
    idx = torch.distributions.Categorical(logits=LOG_W).sample((3,))
    assert torch.equal(got, SAMPLES.gather(1, idx.T).T)


def test_empirical_sample_frequencies_follow_weights():
    # 20000 draws from weights (0.1, 0.9): the frequency's standard error is
    # sqrt(0.09 / 20000) = 0.0021; 4 standard errors.
    d = Empirical(torch.tensor([0.0, 1.0]), torch.tensor([0.1, 0.9]).log())
    freq = d.sample((20000,)).mean()
    assert abs(float(freq) - 0.9) < 4 * math.sqrt(0.09 / 20000)


def test_empirical_sample_keeps_gradient_to_samples():
    samples = torch.randn(4, requires_grad=True)
    assert Empirical(samples, torch.zeros(4)).sample().requires_grad


def test_empirical_support_is_the_samples_and_expand_wraps():
    d = Empirical(SAMPLES, LOG_W)
    assert d.enumerate_support() is SAMPLES
    assert d.has_enumerate_support and not d.has_rsample
    assert isinstance(d.expand((3, 2)), ExpandedDistribution)
