"""check_site_shape (Pyro's rule), check_if_enumerated, check_fully_reparametrized."""

import math

import pytest
import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph import poutine
from tracegraph.errors import PlateError, ShapeError, TracegraphWarning
from tracegraph.infer.validation import (
    check_fully_reparametrized,
    check_if_enumerated,
    check_site_shape,
)
from tracegraph.poutine.runtime import CondIndepStackFrame as F

A1 = F("a", -1, 3, 0)


def _site(shape, *frames):
    return {"name": "x", "log_prob": torch.zeros(shape), "cond_indep_stack": frames}


@pytest.mark.parametrize(
    ("shape", "mpn", "ok"),
    [((3,), 1, True), ((2, 3), 1, True), ((2, 3), 2, False), ((1,), 1, False), ((), 1, False),
     ((2, 3), math.inf, False), ((1, 3), 2, True)],
)
def test_check_site_shape_against_one_plate(shape, mpn, ok):
    if ok:
        check_site_shape(_site(shape, A1), mpn)
    else:
        with pytest.raises(ShapeError, match="invalid log_prob shape at site 'x'"):
            check_site_shape(_site(shape, A1), mpn)


def test_check_site_shape_lets_an_unowned_middle_dim_be_any_size():
    check_site_shape(_site((2, 5, 3), A1, F("b", -3, 2, 0)), 3)


def test_check_site_shape_plate_beyond_nesting_overflows():
    with pytest.raises(PlateError, match="at least 2"):
        check_site_shape(_site((3, 1), F("a", -2, 3, 0)), 1)


def test_check_site_shape_sequential_frames_do_not_count():
    with pytest.raises(ShapeError):
        check_site_shape(_site((3,), F("s", None, 3, 0)), 1)
    check_site_shape(_site((), F("s", None, 3, 0)), 1)


def test_check_if_enumerated_warns_naming_sites():
    def guide():
        tracegraph.sample("z", dist.Bernoulli(0.5), infer={"enumerate": "parallel"})
        tracegraph.sample("y", dist.Bernoulli(0.5), infer={"enumerate": "sequential"})
        tracegraph.sample("w", dist.Bernoulli(0.5))

    tr = poutine.trace(guide).get_trace()
    expected = r"enumeration are sampled instead: \['z', 'y'\]"
    with pytest.warns(TracegraphWarning, match=expected) as record:
        check_if_enumerated(tr)
    assert record[0].filename == __file__


def test_check_fully_reparametrized_refuses_score_function_terms():
    def guide():
        tracegraph.sample("x", dist.Normal(0.0, 1.0))
        tracegraph.sample("b", dist.Bernoulli(0.5))
        tracegraph.sample("m", dist.Bernoulli(0.5).mask(False))

    tr = poutine.trace(guide).get_trace()
    tr.compute_score_parts()
    check_fully_reparametrized(tr.nodes["x"])
    for name in ("b", "m"):  # masked or not, the score term is there
        with pytest.raises(NotImplementedError, match=f"site '{name}'"):
            check_fully_reparametrized(tr.nodes[name])
