"""Handled functions pickle (for multiprocessing, checkpointing) and keep working."""

from __future__ import annotations

import pickle

import pytest
import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph import poutine


# Module-level so that pickle can find them by name.
def model():
    s = tracegraph.param("s", torch.tensor(1.0), constraint=dist.constraints.positive)
    z = tracegraph.sample("z", dist.Normal(0.0, s))
    tracegraph.sample("x", dist.Normal(z, 1.0), obs=torch.tensor(0.5))
    return z


def is_x(msg):
    return msg["name"] == "x"


def enumerate_config(msg):
    return {"enumerate": "parallel"}


def param_model():
    return tracegraph.param("w", torch.tensor(0.0))


def _roundtrip(fn):
    return pickle.loads(pickle.dumps(fn))


def _trace(fn):
    return poutine.trace(fn).get_trace()


def test_pickle_trace_handler_keeps_options():
    traced = _roundtrip(poutine.trace(model, graph_type="dense", param_only=True))
    tr = traced.get_trace()
    assert tr.graph_type == "dense" and tr.param_nodes == ["s"] and tr.stochastic_nodes == []


def guide():
    return tracegraph.sample("z", dist.Normal(1.0, 1.0))


def test_pickle_trace_handler_after_a_run():
    traced = poutine.trace(guide)
    traced()
    loaded = _roundtrip(traced)
    assert list(loaded.trace.nodes) == ["_INPUT", "z", "_RETURN"]


def test_pickle_trace_with_param_site():
    traced = poutine.trace(model)
    traced()
    loaded = _roundtrip(traced)
    assert list(loaded.trace.nodes) == ["_INPUT", "s", "z", "x", "_RETURN"]


def test_pickle_replay_with_trace():
    guide_tr = _trace(guide)
    loaded = _roundtrip(poutine.replay(model, trace=guide_tr))
    assert torch.equal(loaded(), guide_tr.nodes["z"]["value"])


def test_pickle_replay_with_params():
    # As Pyro, replayed params must be values as the param store hands them out.
    saved = tracegraph.param("s_saved", torch.tensor(3.0))
    loaded = _roundtrip(poutine.replay(model, params={"s": saved}))
    assert _trace(loaded).nodes["s"]["value"] == 3.0


def test_pickle_condition():
    loaded = _roundtrip(poutine.condition(model, data={"z": torch.tensor(2.0)}))
    tr = _trace(loaded)
    assert tr.nodes["z"]["value"] == 2.0 and tr.nodes["z"]["is_observed"]


@pytest.mark.parametrize(
    "kwargs, visible",
    [
        ({}, []),
        ({"hide": ["x"]}, ["s", "z"]),
        ({"expose_types": ["param"]}, ["s"]),
        ({"hide_fn": is_x}, ["s", "z"]),
        ({"expose_fn": is_x}, ["x"]),
    ],
)
def test_pickle_block(kwargs, visible):
    loaded = _roundtrip(poutine.block(model, **kwargs))
    assert [n for n in _trace(loaded).nodes if not n.startswith("_")] == visible


def test_pickle_scale_with_tensor():
    loaded = _roundtrip(poutine.scale(model, scale=torch.tensor(4.0)))
    assert _trace(loaded).nodes["z"]["scale"] == 4.0


def test_pickle_mask():
    loaded = _roundtrip(poutine.mask(model, mask=torch.tensor(False)))
    assert not _trace(loaded).nodes["z"]["mask"]


def test_pickle_seed_reproduces_values():
    seeded = poutine.seed(model, rng_seed=11)
    loaded = _roundtrip(seeded)
    # Under seed alone the model runs outside inference (as in Pyro): its
    # observed site warns.
    with pytest.warns(RuntimeWarning, match="outside of inference"):
        assert torch.equal(loaded(), seeded())


def test_pickle_seed_while_running_handler_not_captured():
    msngr = poutine.seed(rng_seed=3)
    with msngr:
        loaded = _roundtrip(msngr)
    assert loaded.rng_seed == 3 and loaded._saved == []


def test_pickle_do():
    loaded = _roundtrip(poutine.do(model, data={"z": torch.tensor(7.0)}))
    assert loaded() == 7.0


def test_pickle_uncondition():
    loaded = _roundtrip(poutine.uncondition(model))
    assert _trace(loaded).stochastic_nodes == ["z", "x"]


def test_pickle_infer_config():
    loaded = _roundtrip(poutine.infer_config(model, config_fn=enumerate_config))
    assert _trace(loaded).nodes["z"]["infer"] == {"enumerate": "parallel"}


def test_pickle_substitute():
    loaded = _roundtrip(poutine.substitute(param_model, data={"w": torch.tensor(0.25)}))
    assert loaded() == 0.25


def test_pickle_escape():
    loaded = _roundtrip(poutine.escape(model, escape_fn=is_x))
    with pytest.raises(poutine.NonlocalExit) as info:
        loaded()
    assert info.value.site["name"] == "x"
    assert _roundtrip(info.value).site["name"] == "x"


@pytest.mark.parametrize(
    "prior", [dist.Gamma(2.0, 2.0), {"s": dist.Gamma(2.0, 2.0)}], ids=["dist", "dict"]
)
def test_pickle_lift(prior):
    loaded = _roundtrip(poutine.lift(model, prior=prior))
    tr = _trace(loaded)
    assert tr.param_nodes == [] and tr.stochastic_nodes == ["s", "z"]


def test_pickle_broadcast():
    loaded = _roundtrip(poutine.broadcast(model))
    assert loaded().shape == ()


def test_pickle_nested_handlers():
    nested = poutine.trace(
        poutine.condition(poutine.scale(model, scale=2.0), data={"z": torch.tensor(1.0)})
    )
    tr = _roundtrip(nested).get_trace()
    assert tr.nodes["z"]["value"] == 1.0 and tr.nodes["x"]["scale"] == 2.0
