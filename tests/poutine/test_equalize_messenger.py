"""poutine.equalize: later matching sites take the first one's value."""

from __future__ import annotations

import pytest
import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph import poutine
from tracegraph.errors import HandlerError


def model():
    x = tracegraph.sample("x", dist.Normal(0.0, 1.0))
    y = tracegraph.sample("y", dist.Normal(5.0, 3.0))
    yy = tracegraph.sample("yy", dist.Normal(5.0, 3.0))
    return x, y, yy


def test_equalize_later_sites_become_deterministic_observations():
    tr = poutine.trace(poutine.equalize(model, ["x", "yy"])).get_trace()
    x, yy = tr.nodes["x"], tr.nodes["yy"]
    assert torch.equal(yy["value"], x["value"]) and yy["is_observed"]
    assert yy["infer"] == {"_deterministic": True} and not x["is_observed"]
    tr.compute_log_prob()
    assert yy["log_prob"].item() == 0.0


def test_equalize_names_match_whole_names():
    tr = poutine.trace(poutine.equalize(model, "y")).get_trace()
    assert not tr.nodes["yy"]["is_observed"]
    tr = poutine.trace(poutine.equalize(model, "y.*")).get_trace()
    assert torch.equal(tr.nodes["yy"]["value"], tr.nodes["y"]["value"])


def test_equalize_keep_dist_observes_the_site_under_its_distribution():
    tr = poutine.trace(poutine.equalize(model, ["x", "y"], keep_dist=True)).get_trace()
    y = tr.nodes["y"]
    assert y["is_observed"] and y["fn"].loc == 5.0 and y["infer"] == {}
    tr.compute_log_prob()
    expected = dist.Normal(5.0, 3.0).log_prob(tr.nodes["x"]["value"])
    assert torch.allclose(y["log_prob"], expected)


def test_equalize_params_reads_the_store_once():
    def params():
        a = tracegraph.param("p_a", torch.tensor(1.0))
        b = tracegraph.param("p_b", torch.tensor(2.0))
        return a, b

    a, b = poutine.equalize(params, "p_.", "param")()
    assert b.item() == 1.0 and list(tracegraph.get_param_store().keys()) == ["p_a"]


def test_equalize_event_dims_kept_by_the_deterministic_site():
    def plated():
        with tracegraph.plate("p", 3):
            tracegraph.sample("a", dist.Normal(0.0, 1.0).expand([3, 2]).to_event(1))
            tracegraph.sample("b", dist.Normal(0.0, 1.0).expand([3, 2]).to_event(1))

    tr = poutine.trace(poutine.equalize(plated, "a|b")).get_trace()
    assert tr.nodes["b"]["fn"].batch_shape == (3,) and tr.nodes["b"]["fn"].event_shape == (2,)


def test_equalize_starts_afresh_on_each_entry():
    handled = poutine.equalize(model, ["x", "y"])
    first, second = handled(), handled()
    assert torch.equal(first[0], first[1]) and torch.equal(second[0], second[1])
    assert not torch.equal(first[0], second[0])


def test_equalize_needs_sites():
    with pytest.raises(HandlerError, match="needs sites"):
        poutine.equalize(model)
    with pytest.raises(HandlerError, match="regular expression"):
        poutine.equalize(model, 3)
