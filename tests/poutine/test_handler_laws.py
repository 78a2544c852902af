"""Algebraic laws of the handlers over a zoo of models.

* idempotence: applying ``condition``, ``replay``, ``block``, ``substitute``,
  ``infer_config``, ``uncondition``, ``do``, ``mask`` or ``seed`` twice (same
  arguments) records the same trace as applying it once;
* ``scale`` is not idempotent: two scales multiply;
* ``trace`` commutes with ``condition`` and ``replay``: tracing the conditioned
  (replayed) model records what conditioning (replaying) the traced model records.

Each comparison runs both programs from the same seed, so "the same trace"
means the same sites in the same order with equal values, observed flags,
scales, masks, plate frames, inference options and log-probabilities.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from zoo import PROGRAMS

import tracegraph
from tracegraph import poutine

SEED = 123




# The zoo lives in tests/zoo.py.
ZOO = PROGRAMS
MODELS = sorted(ZOO)


# -- comparing traces ------------------------------------------------------------------


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        a, b = torch.as_tensor(a), torch.as_tensor(b)
        return a.shape == b.shape and bool(torch.equal(a.detach(), b.detach()))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, tuple | list) and isinstance(b, tuple | list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


SITE_KEYS = ("type", "is_observed", "value", "scale", "mask", "cond_indep_stack", "infer")


def assert_same_trace(a, b):
    assert list(a.nodes) == list(b.nodes)
    for name, site in a.nodes.items():
        other = b.nodes[name]
        for key in SITE_KEYS:
            assert _same(site.get(key), other.get(key)), f"site {name!r} differs in {key!r}"
    assert _same(a.log_prob_sum(), b.log_prob_sum())


def traced_from_seed(fn: Callable[[], Any]):
    tracegraph.set_rng_seed(SEED)
    return poutine.trace(fn).get_trace()


# -- idempotence ------------------------------------------------------------------------


def _config(msg):
    return {"flag": msg["name"]}


def _other_run(model):
    tracegraph.set_rng_seed(SEED + 1)
    return poutine.trace(model).get_trace()


IDEMPOTENT: dict[str, Callable[..., Any]] = {
    "condition": lambda m, site, v, g: poutine.condition(m, data={site: v}),
    "replay": lambda m, site, v, g: poutine.replay(m, trace=g),
    "block": lambda m, site, v, g: poutine.block(m, hide=[site]),
    "block_types": lambda m, site, v, g: poutine.block(m, expose_types=["sample"]),
    # substitute fixes params only (as Pyro): every param the model has.
    "substitute": lambda m, site, v, g: poutine.substitute(
        m, data={n: torch.full_like(g.nodes[n]["value"].detach(), 0.9) for n in g.param_nodes}
    ),
    "infer_config": lambda m, site, v, g: poutine.infer_config(m, config_fn=_config),
    "uncondition": lambda m, site, v, g: poutine.uncondition(m),
    "do": lambda m, site, v, g: poutine.do(m, data={site: v}),
    "mask": lambda m, site, v, g: poutine.mask(m, mask=torch.tensor(False)),
    "seed": lambda m, site, v, g: poutine.seed(m, rng_seed=5),
}


@pytest.mark.parametrize("handler", sorted(IDEMPOTENT))
@pytest.mark.parametrize("model_name", MODELS)
def test_law_handler_twice_equals_once(model_name, handler):
    model, site, value = ZOO[model_name]
    guide_tr = _other_run(model)
    apply = IDEMPOTENT[handler]
    once = traced_from_seed(apply(model, site, value, guide_tr))
    twice = traced_from_seed(apply(apply(model, site, value, guide_tr), site, value, guide_tr))
    assert_same_trace(once, twice)


@pytest.mark.parametrize("model_name", MODELS)
def test_law_replay_of_own_trace_reproduces_latents(model_name):
    model = ZOO[model_name][0]
    original = traced_from_seed(model)
    replayed = poutine.trace(poutine.replay(model, trace=original)).get_trace()
    assert_same_trace(original, replayed)


@pytest.mark.parametrize("model_name", MODELS)
def test_law_scale_twice_multiplies(model_name):
    model = ZOO[model_name][0]
    twice = traced_from_seed(poutine.scale(poutine.scale(model, scale=2.0), scale=3.0))
    product = traced_from_seed(poutine.scale(model, scale=6.0))
    assert_same_trace(twice, product)
    once = traced_from_seed(poutine.scale(model, scale=2.0))
    assert not _same(once.log_prob_sum(), twice.log_prob_sum())


# -- trace commutes with condition and replay ---------------------------------------------


@pytest.mark.parametrize("model_name", MODELS)
def test_law_trace_commutes_with_condition(model_name):
    model, site, value = ZOO[model_name]
    data = {site: value}
    outer_trace = traced_from_seed(poutine.condition(model, data=data))
    traced = poutine.trace(model)
    tracegraph.set_rng_seed(SEED)
    poutine.condition(traced, data=data)()
    assert_same_trace(outer_trace, traced.trace)
    assert outer_trace.nodes[site]["is_observed"]


@pytest.mark.parametrize("model_name", MODELS)
def test_law_trace_commutes_with_replay(model_name):
    model = ZOO[model_name][0]
    guide_tr = _other_run(model)
    outer_trace = traced_from_seed(poutine.replay(model, trace=guide_tr))
    traced = poutine.trace(model)
    tracegraph.set_rng_seed(SEED)
    poutine.replay(traced, trace=guide_tr)()
    assert_same_trace(outer_trace, traced.trace)
    for name in guide_tr.stochastic_nodes:
        assert _same(outer_trace.nodes[name]["value"], guide_tr.nodes[name]["value"])


@pytest.mark.parametrize("model_name", MODELS)
def test_law_condition_then_uncondition_keeps_data_in_infer(model_name):
    model, site, value = ZOO[model_name]
    tr = traced_from_seed(poutine.uncondition(poutine.condition(model, data={site: value})))
    assert not tr.nodes[site]["is_observed"]
    assert _same(tr.nodes[site]["infer"]["obs"], value)
