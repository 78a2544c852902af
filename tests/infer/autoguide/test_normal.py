"""AutoNormal: params, the guide's density, subsampled local params, median and
quantiles."""

from __future__ import annotations

import pytest
import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph import poutine
from tracegraph.infer.autoguide import AutoNormal, init_to_value
from tracegraph.infer.autoguide.utils import UnsupportedSiteError


def model():
    tracegraph.sample("a", dist.Normal(0.0, 1.0))
    tracegraph.sample("b", dist.LogNormal(0.0, 1.0).expand([2]).to_event(1))
    tracegraph.sample("s", dist.Dirichlet(torch.ones(3)))


def test_normal_param_names_shapes_and_constraints():
    AutoNormal(model)()
    store = tracegraph.get_param_store()
    assert [(k, tuple(store[k].shape)) for k in store.keys()] == [
        ("AutoNormal.locs.a", ()),
        ("AutoNormal.scales.a", ()),
        ("AutoNormal.locs.b", (2,)),
        ("AutoNormal.scales.b", (2,)),
        ("AutoNormal.locs.s", (2,)),  # a simplex of 3 has 2 free coordinates
        ("AutoNormal.scales.s", (2,)),
    ]
    assert store._constraints["AutoNormal.scales.a"] is dist.constraints.softplus_positive
    assert torch.allclose(store["AutoNormal.scales.b"], torch.full((2,), 0.1))


def test_normal_guide_density_is_the_transformed_normal():
    guide = AutoNormal(model, init_scale=0.5)
    tr = poutine.trace(guide).get_trace()
    tr.compute_log_prob()
    loc = tracegraph.param("AutoNormal.locs.b")
    scale = tracegraph.param("AutoNormal.scales.b")
    expected = dist.TransformedDistribution(
        dist.Normal(loc, scale), [dist.transforms.ExpTransform()]
    ).log_prob(tr.nodes["b"]["value"]).sum()
    got = tr.nodes["b_unconstrained"]["log_prob_sum"] + tr.nodes["b"]["log_prob_sum"]
    assert torch.allclose(got, expected, atol=1e-5)
    assert tr.nodes["b_unconstrained"]["infer"] == {"is_auxiliary": True}


def test_normal_local_params_are_indexed_by_the_subsample():
    fixed = torch.tensor([4, 0])

    def local():
        with tracegraph.plate("data", 5, subsample_size=2):
            tracegraph.sample("z", dist.Normal(0.0, 1.0))

    guide = AutoNormal(local, create_plates=lambda: tracegraph.plate("data", 5, subsample=fixed))
    guide()
    tracegraph.get_param_store()["AutoNormal.locs.z"] = torch.arange(5.0) * 100
    tracegraph.get_param_store()["AutoNormal.scales.z"] = torch.full((5,), 1e-4)
    value = guide()["z"]
    assert torch.allclose(value, torch.tensor([400.0, 0.0]), atol=0.01)
    assert guide.median()["z"].shape == (5,)


def test_normal_median_and_quantiles():
    init = init_to_value(values={"a": torch.tensor(1.0), "b": torch.tensor([2.0, 3.0])})

    def small():
        tracegraph.sample("a", dist.Normal(0.0, 1.0))
        tracegraph.sample("b", dist.LogNormal(0.0, 1.0).expand([2]).to_event(1))

    guide = AutoNormal(small, init_loc_fn=init, init_scale=0.5)
    median = guide.median()
    assert median["a"].item() == pytest.approx(1.0)
    assert torch.allclose(median["b"], torch.tensor([2.0, 3.0]))
    q = guide.quantiles([0.1587, 0.5, 0.8413])  # -1, 0, +1 standard deviations
    assert q["a"].shape == (3,) and q["b"].shape == (3, 2)
    assert torch.allclose(q["a"], torch.tensor([0.5, 1.0, 1.5]), atol=1e-3)
    upper = torch.tensor([2.0, 3.0]) * torch.exp(torch.tensor(0.5))
    assert torch.allclose(q["b"][2], upper, atol=1e-3)


@pytest.mark.parametrize("bad", [0.0, -1.0, "0.1"])
def test_normal_init_scale_must_be_positive(bad):
    with pytest.raises(ValueError, match="Expected init_scale > 0"):
        AutoNormal(model, init_scale=bad)


def test_normal_names_a_discrete_site():
    def discrete():
        tracegraph.sample("k", dist.Categorical(torch.ones(3)))

    with pytest.raises(UnsupportedSiteError, match="discrete sample site 'k'.*AutoDiscrete"):
        AutoNormal(discrete)()
