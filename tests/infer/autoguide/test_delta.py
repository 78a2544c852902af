"""AutoDelta: MAP point masses, full-size local params, median."""

from __future__ import annotations

import pytest
import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph.infer import SVI, Trace_ELBO
from tracegraph.infer.autoguide import AutoDelta, init_to_mean
from tracegraph.infer.autoguide.utils import UnsupportedSiteError
from tracegraph.optim import Adam


def test_delta_params_have_support_constraints_and_full_size():
    def model():
        tracegraph.sample("a", dist.Normal(0.0, 1.0))
        tracegraph.sample("b", dist.Beta(2.0, 2.0).expand([2]).to_event(1))
        with tracegraph.plate("data", 5, subsample_size=3):
            tracegraph.sample("c", dist.Exponential(1.0))

    guide = AutoDelta(model)
    result = guide()
    store = tracegraph.get_param_store()
    assert [(k, tuple(store[k].shape)) for k in store.keys()] == [
        ("AutoDelta.a", ()),
        ("AutoDelta.b", (2,)),
        ("AutoDelta.c", (5,)),
    ]
    assert store._constraints["AutoDelta.c"] is dist.Exponential(1.0).support
    assert result["c"].shape == (3,)


def test_delta_finds_the_map_of_a_gamma_poisson_model():
    # Gamma(3, 1) prior, Poisson counts 4, 6: the posterior is Gamma(13, 3), whose
    # mode is 12 / 3 = 4.  Adam's constant steps leave a jitter well under 0.05.
    counts = torch.tensor([4.0, 6.0])

    def model():
        rate = tracegraph.sample("rate", dist.Gamma(3.0, 1.0))
        with tracegraph.plate("data", 2):
            tracegraph.sample("n", dist.Poisson(rate), obs=counts)

    guide = AutoDelta(model, init_loc_fn=init_to_mean)
    svi = SVI(model, guide, Adam({"lr": 0.05}), Trace_ELBO())
    for _ in range(600):
        svi.step()
    assert guide.median()["rate"].item() == pytest.approx(4.0, abs=0.05)


def test_delta_refuses_discrete_sites():
    def model():
        tracegraph.sample("k", dist.Bernoulli(0.5))

    with pytest.raises(UnsupportedSiteError, match="'k'"):
        AutoDelta(model)()
