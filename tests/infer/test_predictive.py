"""Predictive and WeighedPredictive: sites returned, shapes, conditioning, weights."""

import pytest
import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph.errors import TracegraphWarning
from tracegraph.infer import Predictive, WeighedPredictive
from tracegraph.infer.predictive_results import WeighedPredictiveResults


def model(data=None):
    z = tracegraph.sample("z", dist.Normal(0.0, 1.0))
    tracegraph.deterministic("d", z * 2)
    with tracegraph.plate("data", 4):
        tracegraph.sample("x", dist.Normal(z, 0.01), obs=data)
    return z * 2


def guide(data=None):
    loc = tracegraph.param("loc", torch.tensor(3.0))
    tracegraph.sample("z", dist.Normal(loc, 1e-3))


@pytest.mark.parametrize("parallel", [False, True])
def test_predictive_from_samples_conditions_latents_and_returns_the_rest(parallel):
    z = torch.tensor([1.0, -2.0])
    out = Predictive(model, posterior_samples={"z": z}, parallel=parallel)()
    assert set(out) == {"x", "d"}
    # One dim per plate dim the model uses (here 1) after the sample dim.
    assert out["x"].shape == (2, 4) and out["d"].shape == (2, 1)
    assert torch.allclose(out["x"].mean(-1), z, atol=0.05)
    assert torch.equal(out["d"].squeeze(-1), 2 * z)


@pytest.mark.parametrize("parallel", [False, True])
def test_predictive_from_guide_returns_every_model_site(parallel):
    out = Predictive(model, guide=guide, num_samples=3, parallel=parallel)()
    assert set(out) == {"z", "d", "x"}
    assert out["z"].shape == (3, 1) and out["x"].shape == (3, 4)
    assert torch.allclose(out["z"], torch.full((3, 1), 3.0), atol=0.01)


def test_predictive_return_sites_choose_and_ignore_unknown_names():
    out = Predictive(model, guide=guide, num_samples=3, return_sites=["z", "_RETURN", "nope"])()
    assert set(out) == {"z", "_RETURN"}
    assert torch.allclose(out["_RETURN"], 2 * out["z"].squeeze(-1))


def test_predictive_observed_sites_are_returned_as_observed():
    data = torch.arange(4.0)
    out = Predictive(model, posterior_samples={"z": torch.zeros(2)})(data)
    assert torch.equal(out["x"], data.expand(2, 4))


def test_predictive_parallel_runs_the_model_once_vectorized():
    calls = []

    def counted(data=None):
        calls.append(1)
        return model(data)

    Predictive(counted, posterior_samples={"z": torch.zeros(5)}, parallel=True)()
    # One hidden run to guess the plate nesting, one for the site shapes, one vectorized.
    assert len(calls) == 3
    calls.clear()
    Predictive(counted, posterior_samples={"z": torch.zeros(5)})()
    assert len(calls) == 2 + 5


def test_predictive_parallel_event_shaped_latent_keeps_its_event_dim():
    def event_model():
        z = tracegraph.sample("z", dist.Normal(torch.zeros(3), 1.0).to_event(1))
        with tracegraph.plate("data", 2):
            return tracegraph.sample("x", dist.Normal(z @ torch.ones(3), 0.01))

    z = torch.randn(5, 3)
    out = Predictive(event_model, posterior_samples={"z": z}, parallel=True)()
    assert out["x"].shape == (5, 2)
    assert torch.allclose(out["x"], z.sum(-1, keepdim=True).expand(5, 2), atol=0.05)


def test_predictive_num_samples_disagreeing_with_samples_warns():
    with pytest.warns(TracegraphWarning, match="Defaulting to 2"):
        p = Predictive(model, posterior_samples={"z": torch.zeros(2)}, num_samples=5)
    assert p.num_samples == 2


def test_predictive_invalid_configurations_raise():
    with pytest.raises(ValueError, match="num_samples must be specified"):
        Predictive(model)
    with pytest.raises(ValueError, match="cannot be provided with the `guide`"):
        Predictive(model, posterior_samples={"z": torch.zeros(2)}, guide=guide)
    with pytest.raises(RuntimeError, match="different leading"):
        Predictive(model, posterior_samples={"z": torch.zeros(2), "w": torch.zeros(3)})


def test_predictive_call_returns_values_sorted_by_site_name():
    p = Predictive(model, posterior_samples={"z": torch.tensor([1.0, 2.0])})
    tracegraph.set_rng_seed(3)
    as_tuple = p.call()
    tracegraph.set_rng_seed(3)
    as_dict = p()
    assert isinstance(p, torch.nn.Module)
    assert len(as_tuple) == 2
    assert torch.equal(as_tuple[0], as_dict["d"]) and torch.equal(as_tuple[1], as_dict["x"])
    tracegraph.set_rng_seed(3)
    with pytest.warns(DeprecationWarning, match="forward"):
        assert torch.equal(p.get_samples()["x"], as_dict["x"])


def test_predictive_samples_are_detached():
    out = Predictive(model, guide=guide, num_samples=2)()
    assert not any(v.requires_grad for v in out.values())


def test_predictive_get_vectorized_trace_has_the_sample_plate():
    tr = Predictive(model, guide=guide, num_samples=3).get_vectorized_trace()
    assert tr.nodes["z"]["value"].shape == (3, 1)
    frames = [f.name for f in tr.nodes["x"]["cond_indep_stack"]]
    assert frames == ["_num_predictive_samples", "data"]
    assert tr.nodes["z"]["is_observed"]


def test_predictive_non_tensor_return_cannot_be_stacked():
    def returns_int():
        tracegraph.sample("z", dist.Normal(0.0, 1.0))
        return 7

    with pytest.raises(TypeError, match="non-tensor"):
        Predictive(returns_int, num_samples=2, return_sites=["_RETURN"])()
    out = Predictive(returns_int, num_samples=2, return_sites=["_RETURN"], parallel=True)()
    assert out["_RETURN"] == 7


# -- WeighedPredictive -----------------------------------------------------------------


def _weighed_model(data=None):
    z = tracegraph.sample("z", dist.Normal(0.0, 1.0))
    with tracegraph.plate("data", 3):
        tracegraph.sample("x", dist.Normal(z, 1.0), obs=data)


def _wide_guide(data=None):
    tracegraph.sample("z", dist.Normal(0.5, 2.0))


DATA = torch.tensor([0.3, 0.8, 1.1])


@pytest.mark.parametrize("parallel", [False, True])
def test_weighed_predictive_weights_are_model_minus_guide(parallel):
    def conditioned(data=None):
        _weighed_model(DATA)

    r = WeighedPredictive(_weighed_model, guide=_wide_guide, num_samples=4, parallel=parallel)(
        model_guide=conditioned
    )
    assert isinstance(r, WeighedPredictiveResults)
    z = r.samples["z"].reshape(4)
    guide_lp = dist.Normal(0.5, 2.0).log_prob(z)
    model_lp = dist.Normal(0.0, 1.0).log_prob(z)
    model_lp = model_lp + dist.Normal(z[:, None], 1.0).log_prob(DATA).sum(-1)
    assert torch.allclose(r.guide_log_prob, guide_lp)
    assert torch.allclose(r.model_log_prob, model_lp)
    assert torch.allclose(r.log_weights, model_lp - guide_lp)
    assert r.samples["x"].shape == (4, 3)


def test_weighed_predictive_default_target_is_the_model_trace():
    r = WeighedPredictive(_weighed_model, guide=_wide_guide, num_samples=3)()
    z = r.samples["z"].reshape(3)
    x = r.samples["x"]
    model_lp = dist.Normal(0.0, 1.0).log_prob(z) + dist.Normal(z[:, None], 1.0).log_prob(x).sum(-1)
    assert torch.allclose(r.model_log_prob, model_lp)


def test_weighed_predictive_call_gives_tuple_samples():
    r = WeighedPredictive(_weighed_model, guide=_wide_guide, num_samples=2).call()
    assert isinstance(r.samples, tuple) and [s.shape for s in r.samples] == [(2, 3), (2, 1)]


def test_weighed_predictive_needs_a_guide():
    with pytest.raises(TypeError, match="needs a guide"):
        WeighedPredictive(_weighed_model, posterior_samples={"z": torch.zeros(2)})()
