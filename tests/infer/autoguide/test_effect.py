"""The handler autoguides: lazy params, amortized plates, medians, subclassing,
training with both ELBOs."""

from __future__ import annotations

import pytest
import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph import poutine
from tracegraph.infer import SVI, Predictive, Trace_ELBO, TraceGraph_ELBO
from tracegraph.infer.autoguide import (
    AutoHierarchicalNormalMessenger,
    AutoNormalMessenger,
    AutoRegressiveMessenger,
)
from tracegraph.optim import Adam

DATA = torch.tensor([0.5, 1.0, 1.5])


def model(data):
    a = tracegraph.sample("a", dist.Normal(3.0, 2.0))
    tracegraph.deterministic("d", a * 2)
    with tracegraph.plate("data", len(data)):
        c = tracegraph.sample("c", dist.Gamma(2.0, 2.0))
        tracegraph.sample("obs", dist.Normal(a + c, 1.0), obs=data)


def params():
    store = tracegraph.get_param_store()
    return {k: tuple(store[k].shape) for k in store.keys()}


def test_normal_messenger_makes_params_on_first_use():
    guide = AutoNormalMessenger(model)
    out = guide(DATA)
    assert sorted(out) == ["a", "c", "d", "obs"]
    assert params() == {"locs.a": (), "scales.a": (), "locs.c": (3,), "scales.c": (3,)}
    assert tracegraph.param("locs.a").item() == pytest.approx(3.0)  # init_to_mean
    model_trace, guide_trace = guide.get_traces()
    assert guide_trace.stochastic_nodes == ["a", "c"]
    assert type(model_trace.nodes["a"]["fn"]).__name__ == "Normal"
    assert type(guide_trace.nodes["a"]["fn"]).__name__ == "TransformedDistribution"


def test_normal_messenger_amortized_plate_shares_params():
    guide = AutoNormalMessenger(model, amortized_plates=("data",))
    guide(DATA)
    assert params()["locs.c"] == ()


def test_normal_messenger_median_runs_the_model_on_the_medians():
    guide = AutoNormalMessenger(model)
    median = guide.median(DATA)
    assert median["a"].item() == pytest.approx(3.0)
    assert median["d"].item() == pytest.approx(6.0)


def test_hierarchical_messenger_mean_follows_the_prior():
    guide = AutoHierarchicalNormalMessenger(model, hierarchical_sites=["c"], init_weight=0.5)
    guide(DATA)
    assert params() == {
        "locs.a": (),
        "scales.a": (),
        "locs.c": (3,),
        "scales.c": (3,),
        "weights.c": (3,),
    }
    assert torch.allclose(tracegraph.param("weights.c"), torch.full((3,), 0.5))
    # The posterior mean starts at the prior's: median c = prior mean 1 (Gamma(2, 2)).
    assert torch.allclose(guide.median(DATA)["c"], torch.ones(3), atol=1e-5)


def test_regressive_messenger_is_an_affine_map_of_the_prior():
    guide = AutoRegressiveMessenger(model)
    guide(DATA)
    # loc = (1 - scale) * initial value: the posterior mean starts near it.
    assert tracegraph.param("locs.a").item() == pytest.approx(3.0 * 0.9)
    tr = poutine.trace(guide).get_trace(DATA)
    fn = tr.nodes["a"]["fn"]
    assert type(fn).__name__ == "TransformedDistribution" and len(fn.transforms) == 3


def test_messenger_subclass_overrides_one_site():
    class Custom(AutoNormalMessenger):
        def get_posterior(self, name, prior):
            if name == "a":
                loc = tracegraph.param("a_loc", lambda: torch.tensor(0.0))
                return dist.Normal(loc, 0.5)
            return super().get_posterior(name, prior)

    guide = Custom(model)
    guide(DATA)
    assert set(params()) == {"a_loc", "locs.c", "scales.c"}
    assert guide.upstream_value("a") is not None


@pytest.mark.parametrize(
    "cls", [AutoNormalMessenger, AutoHierarchicalNormalMessenger, AutoRegressiveMessenger]
)
@pytest.mark.parametrize("elbo", [Trace_ELBO, TraceGraph_ELBO])
def test_messengers_train_and_predict(cls, elbo):
    guide = cls(model)
    svi = SVI(model, guide, Adam({"lr": 0.01}), elbo())
    losses = [svi.step(DATA) for _ in range(3)]
    assert all(torch.isfinite(torch.tensor(losses)))
    out = Predictive(model, guide=guide, num_samples=4)(DATA)
    assert out["c"].shape == (4, 3) and out["obs"].shape == (4, 3)


def test_messenger_with_vectorized_particles_keeps_plate_params():
    guide = AutoNormalMessenger(model)
    elbo = Trace_ELBO(num_particles=4, vectorize_particles=True)
    svi = SVI(model, guide, Adam({"lr": 0.01}), elbo)
    assert torch.isfinite(torch.tensor(svi.step(DATA)))
    # The particle plate is outside the guide: no param per particle.
    assert params()["locs.c"] == (3,) and params()["locs.a"] == ()
