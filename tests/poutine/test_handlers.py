"""Semantics of each lowercase handler in ``tracegraph.poutine.handlers``."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph import poutine
from tracegraph.errors import HandlerError, SiteError
from tracegraph.poutine.runtime import get_handler_stack


def chain():
    z = tracegraph.sample("z", dist.Normal(0.0, 1.0))
    return tracegraph.sample("x", dist.Normal(z, 1.0))


def observed_chain():
    z = tracegraph.sample("z", dist.Normal(0.0, 1.0))
    tracegraph.sample("x", dist.Normal(z, 1.0), obs=torch.tensor(0.5))
    return z


def with_param():
    s = tracegraph.param("s", torch.tensor(0.5), constraint=dist.constraints.positive)
    return tracegraph.sample("z", dist.Normal(0.0, s))


# -- trace -------------------------------------------------------------------


def seed_004_model(x):
    s = tracegraph.param("s", torch.tensor(0.5))
    z = tracegraph.sample("z", dist.Normal(x, s))
    return z**2


def test_trace_seed_004_example_nodes_and_log_density():
    tr = poutine.trace(seed_004_model).get_trace(0.0)
    assert list(tr.nodes.keys()) == ["_INPUT", "s", "z", "_RETURN"]
    assert tr.stochastic_nodes == ["z"]
    assert tr.param_nodes == ["s"]
    assert tr.observation_nodes == []
    z = tr.nodes["z"]["value"]
    # Normal(0, 0.5) density, by hand.
    expected = -0.5 * math.log(2 * math.pi) - math.log(0.5) - z.item() ** 2 / (2 * 0.25)
    assert tr.log_prob_sum().item() == pytest.approx(expected, abs=1e-5)
    assert torch.equal(tr.nodes["_RETURN"]["value"], z**2)
    assert tr.nodes["s"]["value"].unconstrained() is not None


def test_trace_input_node_holds_args_and_kwargs():
    def model(a, b=2):
        return a + b

    tr = poutine.trace(model).get_trace(1, b=3)
    assert tr.nodes["_INPUT"]["args"] == (1,) and tr.nodes["_INPUT"]["kwargs"] == {"b": 3}
    assert tr.nodes["_INPUT"]["type"] == "args" and tr.nodes["_RETURN"]["type"] == "return"
    assert tr.nodes["_RETURN"]["value"] == 4


def test_trace_call_returns_value_and_keeps_last_trace():
    traced = poutine.trace(chain)
    value = traced()
    assert torch.equal(traced.trace.nodes["x"]["value"], value)
    first = traced.trace
    traced()
    assert traced.trace is not first


def test_trace_get_trace_gives_a_new_trace_each_call():
    traced = poutine.trace(chain)
    a, b = traced.get_trace(), traced.get_trace()
    assert a is not b and not torch.equal(a.nodes["z"]["value"], b.nodes["z"]["value"])


def test_trace_flat_graph_has_no_edges():
    tr = poutine.trace(chain, graph_type="flat").get_trace()
    assert tr.graph_type == "flat" and list(tr.edges) == []


def test_trace_dense_graph_links_earlier_sample_sites():
    tr = poutine.trace(observed_chain, graph_type="dense").get_trace()
    assert tr.graph_type == "dense"
    assert sorted(tr.edges) == [("z", "x")]


def test_trace_param_only_records_only_params():
    tr = poutine.trace(with_param, param_only=True).get_trace()
    assert tr.param_nodes == ["s"] and tr.stochastic_nodes == []
    # As Pyro: no input and return nodes either.
    assert list(tr.nodes) == ["s"]


def test_trace_as_context_manager_records_sites_without_input_nodes():
    with poutine.trace() as tm:
        chain()
    assert list(tm.trace.nodes) == ["z", "x"]
    assert tm.get_trace() is tm.trace


def test_trace_messenger_as_decorator_gives_trace_handler():
    traced = poutine.trace(graph_type="dense")(chain)
    assert isinstance(traced, poutine.TraceHandler)
    tr = traced.get_trace()  # type: ignore[attr-defined]
    assert list(tr.nodes) == ["_INPUT", "z", "x", "_RETURN"] and tr.graph_type == "dense"


def test_trace_nested_traces_both_record():
    with poutine.trace() as outer:
        inner = poutine.trace(chain).get_trace()
    assert list(outer.trace.nodes) == ["z", "x"]
    assert list(inner.nodes) == ["_INPUT", "z", "x", "_RETURN"]
    assert torch.equal(outer.trace.nodes["x"]["value"], inner.nodes["x"]["value"])


# -- replay ------------------------------------------------------------------


def test_replay_latent_takes_guide_value():
    guide_tr = poutine.trace(chain).get_trace()
    tr = poutine.trace(poutine.replay(chain, trace=guide_tr)).get_trace()
    for name in ("z", "x"):
        assert torch.equal(tr.nodes[name]["value"], guide_tr.nodes[name]["value"])


def test_replay_observed_site_keeps_observation():
    guide_tr = poutine.trace(chain).get_trace()  # "x" is latent there
    tr = poutine.trace(poutine.replay(observed_chain, trace=guide_tr)).get_trace()
    assert torch.equal(tr.nodes["z"]["value"], guide_tr.nodes["z"]["value"])
    assert tr.nodes["x"]["value"] == 0.5 and tr.nodes["x"]["is_observed"]


def test_replay_site_missing_from_trace_is_drawn():
    def guide():
        tracegraph.sample("z", dist.Normal(0.0, 1.0))

    guide_tr = poutine.trace(guide).get_trace()
    tr = poutine.trace(poutine.replay(chain, trace=guide_tr)).get_trace()
    assert torch.equal(tr.nodes["z"]["value"], guide_tr.nodes["z"]["value"])
    assert not tr.nodes["x"]["is_observed"] and tr.nodes["x"]["value"] is not None


def test_replay_params_replaces_param_values():
    value = tracegraph.param("saved_s", torch.tensor(3.0))
    tr = poutine.trace(poutine.replay(with_param, params={"s": value})).get_trace()
    assert tr.nodes["s"]["value"] is value
    assert "s" not in tracegraph.get_param_store()


def test_replay_params_plain_tensor_raises_assertion_error_as_pyro():
    replayed = poutine.replay(with_param, params={"s": torch.tensor(3.0)})
    with pytest.raises(AssertionError, match="param 's' must be a constrained value"):
        replayed()


def test_replay_copies_guide_infer_options():
    def guide():
        tracegraph.sample("z", dist.Bernoulli(0.5), infer={"baseline": {"use": True}})

    def model():
        tracegraph.sample("z", dist.Bernoulli(0.3))

    guide_tr = poutine.trace(guide).get_trace()
    tr = poutine.trace(poutine.replay(model, trace=guide_tr)).get_trace()
    assert tr.nodes["z"]["infer"] == {"baseline": {"use": True}}
    tr.nodes["z"]["infer"]["extra"] = 1
    assert "extra" not in guide_tr.nodes["z"]["infer"]


def test_replay_guide_site_observed_raises_naming_site():
    model_tr = poutine.trace(observed_chain).get_trace()  # "x" observed here
    with pytest.raises(SiteError, match="'x'"):
        poutine.replay(chain, trace=model_tr)()


def test_replay_without_trace_or_params_raises():
    with pytest.raises(HandlerError, match="trace="):
        poutine.replay(chain)


# -- condition -----------------------------------------------------------------


def test_condition_dict_sets_value_and_observed_flag():
    tr = poutine.trace(poutine.condition(chain, data={"z": torch.tensor(2.0)})).get_trace()
    assert tr.nodes["z"]["value"] == 2.0 and tr.nodes["z"]["is_observed"]
    assert tr.observation_nodes == ["z"] and tr.stochastic_nodes == ["x"]
    # The downstream site's distribution was built from the conditioned value.
    assert tr.nodes["x"]["fn"].loc == 2.0


def test_condition_trace_data_uses_its_sample_values():
    data_tr = poutine.trace(chain).get_trace()
    conditioned = poutine.condition(chain, data=data_tr)
    tr = poutine.trace(conditioned).get_trace()
    assert tr.observation_nodes == ["z", "x"]
    assert torch.equal(tr.nodes["x"]["value"], data_tr.nodes["x"]["value"])


def test_condition_none_value_leaves_site_latent():
    tr = poutine.trace(poutine.condition(chain, data={"z": None})).get_trace()
    assert tr.stochastic_nodes == ["z", "x"]


def test_condition_missing_data_raises():
    with pytest.raises(HandlerError, match="data="):
        poutine.condition(chain)


def test_condition_outer_condition_wins():
    # As Pyro: handlers process inner first, so the outer one writes last.
    inner = poutine.condition(chain, data={"z": torch.tensor(1.0)})
    tr = poutine.trace(poutine.condition(inner, data={"z": torch.tensor(9.0)})).get_trace()
    assert tr.nodes["z"]["value"] == 9.0


# -- block -----------------------------------------------------------------------


def three_sites():
    tracegraph.param("p", torch.tensor(1.0))
    tracegraph.sample("a", dist.Normal(0.0, 1.0))
    tracegraph.sample("b", dist.Normal(0.0, 1.0), obs=torch.tensor(0.0))


def _visible(**kwargs):
    return [
        n
        for n in poutine.trace(poutine.block(three_sites, **kwargs)).get_trace().nodes
        if not n.startswith("_")
    ]


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        ({}, []),
        ({"hide_all": False}, ["p", "a", "b"]),
        ({"expose_all": True, "hide_all": False}, ["p", "a", "b"]),
        ({"hide": ["a"]}, ["p", "b"]),
        ({"expose": ["a"]}, ["a"]),
        ({"hide_types": ["param"]}, ["a", "b"]),
        ({"expose_types": ["sample"]}, ["a"]),
        ({"hide_types": ["observe"]}, ["p", "a"]),
        ({"expose_types": ["observe"]}, ["b"]),
        ({"expose_types": ["param"], "expose": ["a"]}, ["p", "a"]),
        ({"hide_all": False, "expose_all": True, "hide": ["p"]}, ["a", "b"]),
        # As Pyro: expose_all does not undo what a given expose list turns on.
        ({"hide_all": False, "expose_all": True, "expose": ["a"]}, ["a"]),
        ({"hide_fn": lambda msg: msg["name"] == "b"}, ["p", "a"]),
        ({"expose_fn": lambda msg: msg["name"] == "b"}, ["b"]),
    ],
)
def test_block_visible_sites(kwargs, expected):
    assert _visible(**kwargs) == expected


def test_block_hidden_site_still_runs_and_inner_handlers_see_it():
    with poutine.trace() as outer:
        inner = poutine.trace(poutine.block(three_sites, hide=["a"])).get_trace()
    assert "a" not in outer.trace.nodes
    # trace(block(m)) is inside the block's caller, not inside the block: it sees
    # what the block lets through; a trace inside the block sees everything.
    assert "a" not in inner.nodes
    with poutine.trace() as outer2, poutine.block(hide=["a"]), poutine.trace() as inner2:
        three_sites()
    assert list(inner2.trace.nodes) == ["p", "a", "b"]
    assert list(outer2.trace.nodes) == ["p", "b"]


def test_block_inside_plate_does_not_hide_subsample_effect():
    data = torch.arange(10.0)
    with tracegraph.plate("data", 10, subsample_size=3) as idx:
        with poutine.block():
            rows = tracegraph.subsample(data)
    assert torch.equal(rows, data[idx])


def test_block_both_functions_raises():
    with pytest.raises(HandlerError, match="not both"):
        poutine.block(hide_fn=bool, expose_fn=bool)


@pytest.mark.parametrize(
    "kwargs", [{"hide": ["a"], "expose": ["a"]}, {"hide_types": ["x"], "expose_types": ["x"]}]
)
def test_block_hide_and_expose_same_raises(kwargs):
    # An AssertionError, as Pyro's assert.
    with pytest.raises(AssertionError, match="both hide and expose"):
        poutine.block(**kwargs)


@pytest.mark.parametrize("kwargs", [{"expose_all": True}, {"expose_all": True, "hide": ["a"]}])
def test_block_expose_all_with_default_hide_all_raises_assertion_error(kwargs):
    with pytest.raises(AssertionError, match="hide_all=True .* expose_all=True"):
        poutine.block(**kwargs)


def test_block_functions_skip_the_list_checks_as_pyro():
    blocked = poutine.block(hide_fn=lambda msg: False, expose_all=True, hide=["a"], expose=["a"])
    assert blocked.hide_fn is not None


def test_block_string_instead_of_list_is_one_name():
    # Pyro runs hide="z" too (it tests ``name in "z"``).
    def model():
        tracegraph.sample("z", dist.Normal(0.0, 1.0))
        tracegraph.sample("a", dist.Normal(0.0, 1.0))

    tr = poutine.trace(poutine.block(model, hide="za")).get_trace()
    assert list(tr.nodes) == ["_INPUT", "z", "a", "_RETURN"]
    tr = poutine.trace(poutine.block(model, hide="z")).get_trace()
    assert list(tr.nodes) == ["_INPUT", "a", "_RETURN"]


# -- scale / mask ---------------------------------------------------------------------


def test_scale_multiplies_site_scale_and_log_prob():
    plain = poutine.trace(observed_chain).get_trace()
    scaled = poutine.trace(poutine.replay(poutine.scale(observed_chain, scale=2.5), trace=plain))
    tr = scaled.get_trace()
    assert tr.nodes["z"]["scale"] == 2.5 and tr.nodes["x"]["scale"] == 2.5
    assert tr.log_prob_sum().item() == pytest.approx(2.5 * plain.log_prob_sum().item())


def test_scale_nested_scales_multiply():
    tr = poutine.trace(poutine.scale(poutine.scale(chain, scale=2.0), scale=3.0)).get_trace()
    assert tr.nodes["z"]["scale"] == 6.0


def test_scale_tensor_scale_broadcasts_in_plate():
    def model():
        with tracegraph.plate("data", 2):
            tracegraph.sample("x", dist.Normal(0.0, 1.0), obs=torch.zeros(2))

    s = torch.tensor([1.0, 3.0])
    tr = poutine.trace(poutine.scale(model, scale=s)).get_trace()
    tr.compute_log_prob()
    expected = s * dist.Normal(0.0, 1.0).log_prob(torch.zeros(2))
    assert torch.allclose(tr.nodes["x"]["log_prob"], expected)


def test_mask_false_zeroes_log_prob():
    tr = poutine.trace(poutine.mask(observed_chain, mask=False)).get_trace()
    assert tr.nodes["x"]["mask"] is False
    assert float(tr.log_prob_sum()) == 0.0


def test_mask_combines_with_existing_mask_by_and():
    def model():
        with tracegraph.plate("data", 3):
            with poutine.mask(mask=torch.tensor([True, True, False])):
                tracegraph.sample("x", dist.Normal(0.0, 1.0))

    tr = poutine.trace(poutine.mask(model, mask=torch.tensor([False, True, True]))).get_trace()
    assert tr.nodes["x"]["mask"].tolist() == [False, True, False]
    tr.compute_log_prob()
    assert (tr.nodes["x"]["log_prob"] != 0).tolist() == [False, True, False]


# -- seed --------------------------------------------------------------------------


def test_seed_same_seed_same_values_across_generators():
    def model():
        return (
            tracegraph.sample("z", dist.Normal(0.0, 1.0)),
            random.random(),
            np.random.rand(),
        )

    a, b = poutine.seed(model, rng_seed=7)(), poutine.seed(model, rng_seed=7)()
    c = poutine.seed(model, rng_seed=8)()
    assert a == b and a[0] != c[0] and a[1] != c[1] and a[2] != c[2]


def test_seed_restores_random_state_on_exit():
    tracegraph.set_rng_seed(1)
    expected = torch.rand(3)
    tracegraph.set_rng_seed(1)
    poutine.seed(chain, rng_seed=123)()
    assert torch.equal(torch.rand(3), expected)


def test_seed_restores_random_state_when_model_raises():
    def bad():
        torch.rand(5)
        raise ValueError("boom")

    tracegraph.set_rng_seed(2)
    expected = torch.rand(1)
    tracegraph.set_rng_seed(2)
    with pytest.raises(ValueError, match="boom"):
        poutine.seed(bad, rng_seed=5)()
    assert torch.equal(torch.rand(1), expected)


# -- broadcast / messenger form ------------------------------------------------------------------


def test_broadcast_expands_to_plate_size():
    def model():
        with tracegraph.plate("data", 4):
            return tracegraph.sample("x", dist.Normal(0.0, 1.0))

    assert poutine.broadcast(model)().shape == (4,)


@pytest.mark.parametrize(
    "handler, kwargs, cls",
    [
        (poutine.trace, {}, poutine.TraceMessenger),
        (poutine.replay, {"params": {}}, poutine.ReplayMessenger),
        (poutine.condition, {"data": {}}, poutine.ConditionMessenger),
        (poutine.block, {}, poutine.BlockMessenger),
        (poutine.scale, {"scale": 2.0}, poutine.ScaleMessenger),
        (poutine.mask, {"mask": True}, poutine.MaskMessenger),
        (poutine.seed, {"rng_seed": 0}, poutine.SeedMessenger),
        (poutine.do, {"data": {}}, poutine.DoMessenger),
        (poutine.uncondition, {}, poutine.UnconditionMessenger),
        (poutine.infer_config, {"config_fn": lambda m: {}}, poutine.InferConfigMessenger),
        (poutine.substitute, {"data": {}}, poutine.SubstituteMessenger),
        (poutine.escape, {"escape_fn": lambda m: False}, poutine.EscapeMessenger),
        (poutine.lift, {"prior": dist.Normal(0.0, 1.0)}, poutine.LiftMessenger),
        (poutine.broadcast, {}, poutine.BroadcastMessenger),
    ],
)
def test_handler_without_fn_returns_messenger_usable_both_ways(handler, kwargs, cls):
    msngr = handler(**kwargs)
    assert isinstance(msngr, cls)
    # As in Pyro, seed stays off the handler stack (under it alone a program runs
    # as outside inference).
    outside = cls is poutine.SeedMessenger
    with msngr:
        assert get_handler_stack() == (() if outside else (msngr,))
    wrapped = handler(chain, **kwargs)
    assert isinstance(wrapped, poutine.HandledFunction)
    assert wrapped.__name__ == "chain"  # type: ignore[attr-defined]
    assert isinstance(wrapped(), torch.Tensor)


def test_seed_alone_runs_outside_inference_observed_site_warns():
    # Pyro's seed does not join the handler stack: an observed site under it
    # alone warns as outside any handler, and the same instance may be nested.
    msngr = poutine.seed(rng_seed=4)
    with msngr, msngr:
        assert get_handler_stack() == ()
        with pytest.warns(RuntimeWarning, match="outside of inference at x"):
            observed_chain()
    assert torch.equal(poutine.seed(chain, rng_seed=4)(), poutine.seed(chain, rng_seed=4)())
