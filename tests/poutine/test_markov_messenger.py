"""pyro.markov's observable effects without enumeration: ``_markov_scope`` and
``_markov_depth`` in ``infer``, frames kept or dropped, re-entry, loops left early."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph import poutine
from tracegraph.errors import HandlerError
from tracegraph.poutine.markov_messenger import MarkovMessenger
from tracegraph.poutine.runtime import get_handler_stack


def _scopes(tr):
    return {
        name: (dict(site["infer"].get("_markov_scope", {})), site["infer"].get("_markov_depth"))
        for name, site in tr.nodes.items()
        if site["type"] == "sample"
    }


def _normal(name):
    return tracegraph.sample(name, dist.Normal(0.0, 1.0))


def test_markov_iterator_sees_the_previous_step():
    def model():
        for t in tracegraph.markov(range(3)):
            _normal(f"x_{t}")

    assert _scopes(poutine.trace(model).get_trace()) == {
        "x_0": ({}, 1),
        "x_1": ({"x_0": 1}, 1),
        "x_2": ({"x_1": 1}, 1),
    }


def test_markov_history_two_sees_two_steps_and_zero_none():
    def model():
        for t in tracegraph.markov(range(4), history=2):
            _normal(f"x_{t}")
        for t in tracegraph.markov(range(2), history=0):
            _normal(f"z_{t}")

    scopes = _scopes(poutine.trace(model).get_trace())
    assert scopes["x_3"] == ({"x_1": 1, "x_2": 1}, 1)
    assert scopes["z_1"] == ({}, 1)


def test_markov_nested_handlers_count_each_scope():
    def model():
        for t in tracegraph.markov(range(2)):
            for s in tracegraph.markov(range(2)):
                _normal(f"x_{t}_{s}")

    scopes = _scopes(poutine.trace(model).get_trace())
    assert scopes["x_0_1"] == ({"x_0_0": 2}, 2)
    assert scopes["x_1_1"] == ({"x_1_0": 2, "x_0_0": 1, "x_0_1": 1}, 2)


@pytest.mark.parametrize(
    "keep, c_scope, d_scope",
    [(False, {"a": 1}, {}), (True, {"a": 1, "b": 1}, {"a": 1})],
)
def test_markov_keep_decides_whether_a_left_frame_stays_visible(keep, c_scope, d_scope):
    def model():
        mm = tracegraph.markov(keep=keep)
        with mm:
            _normal("a")
            with mm:
                _normal("b")
            with mm:
                _normal("c")
        with mm:
            _normal("d")

    scopes = _scopes(poutine.trace(model).get_trace())
    assert scopes["c"] == (c_scope, 1) and scopes["d"] == (d_scope, 1)


def test_markov_skips_params_and_plate_index_sites():
    def model():
        with tracegraph.markov():
            _normal("a")
            tracegraph.param("w", torch.zeros(1))
            with tracegraph.plate("p", 2):
                _normal("b")

    tr = poutine.trace(model).get_trace()
    assert tr.nodes["w"]["infer"] == {} and tr.nodes["p"]["infer"].get("_markov_scope") is None
    assert tr.nodes["b"]["infer"]["_markov_scope"] == Counter({"a": 1})


def test_markov_decorates_recursive_functions():
    @tracegraph.markov(history=2)
    def rec(t):
        _normal(f"r_{t}")
        if t < 3:
            rec(t + 1)

    scopes = _scopes(poutine.trace(rec).get_trace(0))
    assert scopes["r_3"] == ({"r_1": 1, "r_2": 1}, 1)


def test_markov_reentry_keeps_one_handler_on_the_stack():
    m = MarkovMessenger()
    with m:
        with m:
            assert get_handler_stack() == (m,) and m._pos == 1
    assert get_handler_stack() == () and m._stack == []


def test_markov_without_handlers_just_iterates():
    assert [t for t in tracegraph.markov([4, 5])] == [4, 5]
    assert get_handler_stack() == ()


def test_markov_break_leaves_no_handler_and_later_sites_are_outside():
    def model():
        for t in tracegraph.markov(range(5)):
            _normal(f"x_{t}")
            if t == 1:
                break
        _normal("after")

    tr = poutine.trace(model).get_trace()
    assert tr.nodes["after"]["infer"] == {}
    assert get_handler_stack() == ()


def test_markov_loop_closed_in_another_context_does_not_raise():
    import threading

    it = iter(tracegraph.markov(range(3)))
    next(it)
    errors = []
    t = threading.Thread(target=lambda: errors.append(it.close()))
    t.start()
    t.join()
    assert errors == [None]
    poutine.runtime._discard(get_handler_stack()[0])


@pytest.mark.parametrize("kwargs", [{"dim": -1}, {"name": "chain"}])
def test_markov_dim_and_name_not_implemented_as_pyro(kwargs):
    with pytest.raises(NotImplementedError):
        tracegraph.markov(**kwargs)


def test_markov_plain_handler_is_not_iterable():
    with pytest.raises(HandlerError, match="only markov\\(iterable\\)"):
        iter(MarkovMessenger()).__next__()
