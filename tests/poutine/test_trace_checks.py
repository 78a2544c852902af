"""check_traces_match, check_site_shape and check_if_enumerated (Pyro's rules)."""

from __future__ import annotations

import math

import pytest
import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph import poutine
from tracegraph.errors import ShapeError
from tracegraph.poutine.runtime import CondIndepStackFrame as F
from tracegraph.poutine.trace_checks import (
    check_if_enumerated,
    check_site_shape,
    check_traces_match,
)


def _trace(fn):
    return poutine.trace(fn).get_trace()


def test_check_traces_match_warns_on_different_site_sets():
    a = _trace(lambda: tracegraph.sample("a", dist.Normal(0.0, 1.0)))

    def more():
        tracegraph.sample("a", dist.Normal(0.0, 1.0))
        tracegraph.sample("b", dist.Normal(0.0, 1.0), obs=torch.tensor(0.0))

    with pytest.warns(UserWarning, match="Model vars changed"):
        check_traces_match(a, _trace(more))


def test_check_traces_match_missing_site_raises_key_error():
    a = _trace(lambda: tracegraph.sample("a", dist.Normal(0.0, 1.0)))
    with pytest.warns(UserWarning), pytest.raises(KeyError, match="no site named 'a'"):
        check_traces_match(a, _trace(lambda: None))


def test_check_traces_match_shape_difference_raises_value_error():
    a = _trace(lambda: tracegraph.sample("b", dist.Normal(torch.zeros(2), 1.0)))
    b = _trace(lambda: tracegraph.sample("b", dist.Normal(torch.zeros(3), 1.0)))
    with pytest.raises(ShapeError, match=r"Site dims disagree at site 'b': torch.Size\(\[2\]\) vs"):
        check_traces_match(a, b)


def _site(shape, *frames):
    return {"name": "b", "log_prob": torch.zeros(shape), "cond_indep_stack": frames}


@pytest.mark.parametrize(
    "shape, frames, nesting",
    [
        ((2,), (F("p", -1, 2, 0),), 1),
        ((1, 2), (F("p", -1, 2, 0),), 2),
        ((2, 5), (F("p", -2, 2, 0),), 2),  # an undeclared dim may be anything
        ((5, 2, 1), (F("p", -2, 2, 0),), 2),  # dims left of max_plate_nesting ignored
        ((3,), (), 0),
        ((2,), (F("p", -1, 2, 0), F("s", None, 2, 1)), 1),  # sequential frames ignored
    ],
)
def test_check_site_shape_accepts_as_pyro(shape, frames, nesting):
    check_site_shape(_site(shape, *frames), nesting)


@pytest.mark.parametrize(
    "shape, frames, nesting, match",
    [
        ((3, 2), (F("p", -1, 2, 0),), 2, r"expected \[2\], actual \[3, 2\]"),
        ((), (F("p", -1, 2, 0),), 2, r"expected \[2\], actual \[\]"),
        ((3,), (), 1, r"expected \[\], actual \[3\]"),
        ((5, 2, 1), (F("p", -2, 2, 0),), 3, r"expected \[2, \*\]"),
        ((2, 1), (F("p", -2, 2, 0),), 1, "plate stack overflow.*at least 2"),
        ((4, 2), (F("p", -1, 2, 0),), math.inf, r"actual \[4, 2\]"),
    ],
)
def test_check_site_shape_refuses_as_pyro(shape, frames, nesting, match):
    # Pyro raises ValueError; ours are its subclasses (ShapeError, PlateError).
    with pytest.raises(ValueError, match=match):
        check_site_shape(_site(shape, *frames), nesting)


def test_check_if_enumerated_warns_naming_the_sites():
    def guide():
        tracegraph.sample("a", dist.Bernoulli(0.5), infer={"enumerate": "parallel"})
        tracegraph.sample("b", dist.Bernoulli(0.5))

    with pytest.warns(UserWarning, match=r"enumeration are sampled instead: \['a'\]"):
        check_if_enumerated(_trace(guide))
