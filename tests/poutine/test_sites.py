"""site_is_subsample, site_is_factor, site_is_deterministic (as Pyro decides)."""

from __future__ import annotations

import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph import poutine
from tracegraph.poutine.sites import (
    site_is_deterministic,
    site_is_factor,
    site_is_subsample,
)


def test_predicates_on_a_trace():
    def model():
        tracegraph.factor("f", torch.tensor(0.0))
        tracegraph.deterministic("d", torch.ones(1))
        with tracegraph.plate("p", 2):
            tracegraph.sample("x", dist.Normal(0.0, 1.0))

    tr = poutine.trace(model).get_trace()
    kinds = {
        name: (site_is_subsample(s), site_is_factor(s), site_is_deterministic(s))
        for name, s in tr.nodes.items()
    }
    assert kinds == {
        "_INPUT": (False, False, False),
        "f": (False, True, False),
        "d": (False, False, True),
        "p": (True, False, False),
        "x": (False, False, False),
        "_RETURN": (False, False, False),
    }


def test_site_is_subsample_decided_by_the_distribution_not_infer():
    assert not site_is_subsample({"type": "sample", "infer": {"_subsample": True}, "fn": None})


def test_plate_index_site_infer_is_empty_as_pyro():
    def model():
        with tracegraph.plate("data", 5, subsample_size=2):
            pass

    site = poutine.trace(model).get_trace().nodes["data"]
    assert site["infer"] == {} and site_is_subsample(site)


def test_site_is_factor_ignores_observed_flag_and_masked_units_as_pyro():
    unit = dist.Unit(torch.tensor(0.0))
    assert site_is_factor({"type": "sample", "is_observed": False, "fn": unit})
    assert not site_is_factor({"type": "sample", "fn": unit.mask(False)})
    assert not site_is_factor({"type": "param", "fn": unit})
