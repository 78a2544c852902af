"""MHResampler: acceptance rule, transition counts, storage slices, convergence."""

import math

import pytest
import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph.infer import MHResampler, WeighedPredictive
from tracegraph.infer.predictive_results import WeighedPredictiveResults


def _fixed(values, log_weights):
    x = torch.tensor(values)
    lw = torch.tensor(log_weights)
    return WeighedPredictiveResults({"x": x}, lw, torch.zeros_like(lw), lw)


def test_mh_resampler_first_call_keeps_samples_then_accepts_by_weight_ratio():
    batches = iter(
        [_fixed([1.0, 2.0, 3.0], [0.0, 0.0, 0.0]), _fixed([4.0, 5.0, 6.0], [-math.inf, 5.0, 0.0])]
    )
    r = MHResampler(lambda: next(batches))
    assert r.get_total_transition_count() == 0
    first = r()
    assert torch.equal(first.samples["x"], torch.tensor([1.0, 2.0, 3.0]))
    assert torch.equal(r.transition_count, torch.zeros(3, dtype=torch.long))
    second = r()
    # weight ratio 0: never accepted; ratio e^5 > 1 and ratio 1: always accepted.
    assert torch.equal(second.samples["x"], torch.tensor([1.0, 5.0, 6.0]))
    assert torch.equal(second.log_weights, torch.tensor([0.0, 5.0, 0.0]))
    assert torch.equal(r.transition_count, torch.tensor([0, 1, 1]))
    assert r.get_min_sample_transition_count() == 0 and r.get_total_transition_count() == 2


def test_mh_resampler_acceptance_uses_uniform_draws():
    batches = iter([_fixed([0.0] * 4, [0.0] * 4), _fixed([1.0] * 4, [math.log(0.5)] * 4)])
    r = MHResampler(lambda: next(batches))
    r()
    torch.manual_seed(7)
    u = torch.rand(4)
    torch.manual_seed(7)
    out = r()
    assert torch.equal(out.samples["x"], (u < 0.5).float())


def test_mh_resampler_slices_select_stored_results():
    counter = iter(range(10))

    def sampler():
        i = float(next(counter))
        return _fixed([i, i], [0.0, 0.0])

    r = MHResampler(sampler, source_samples_slice=slice(0, 2), stored_samples_slice=slice(-2, None))
    for _ in range(4):
        r()
    # The slice is applied to the list after every call (Pyro's rule).
    assert torch.equal(r.get_source_samples().samples["x"], torch.tensor([0.0, 0.0, 1.0, 1.0]))
    assert torch.equal(r.get_stored_samples().samples["x"], torch.tensor([2.0, 2.0, 3.0, 3.0]))
    with pytest.raises(ValueError, match="no samples"):
        MHResampler(sampler).get_source_samples()


def test_mh_resampler_moves_guide_samples_to_the_target():
    # Target N(0, 1), guide N(0, 2): weights p/g.  After 30 steps on 2000
    # chains the mean of x^2 should be 1 (it starts at 4); the standard error of
    # a mean of x^2 over 2000 N(0,1) draws is sqrt(2/2000) = 0.032 (the chains'
    # correlation with the start is ignored: it has decayed); 5 standard errors.
    def model():
        return tracegraph.sample("x", dist.Normal(0.0, 1.0))

    def guide():
        tracegraph.sample("x", dist.Normal(0.0, 2.0))

    sampler = WeighedPredictive(model, guide=guide, num_samples=2000, parallel=True,
                                return_sites=["x"])
    r = MHResampler(sampler)
    for _ in range(30):
        out = r()
    x = out.samples["x"].reshape(-1)
    assert float((x**2).mean()) == pytest.approx(1.0, abs=5 * math.sqrt(2 / 2000))
