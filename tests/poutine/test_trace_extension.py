"""Escape functions, trace extensions and pruning (Pyro's poutine.util helpers)."""

from __future__ import annotations

import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph import poutine
from tracegraph.poutine.runtime import NonlocalExit, new_sample_message
from tracegraph.poutine.trace_extension import (
    all_escape,
    discrete_escape,
    enum_extend,
    mc_extend,
    prune_subsample_sites,
)


def _partial():
    def model():
        tracegraph.sample("a", dist.Normal(0.0, 1.0))
        with tracegraph.plate("p", 2):
            tracegraph.sample("b", dist.Bernoulli(0.3))

    empty = poutine.Trace()
    fn = poutine.trace(poutine.escape(model, escape_fn=lambda m: discrete_escape(empty, m)))
    try:
        fn()
    except NonlocalExit as e:
        return fn.trace, e.site
    raise AssertionError("no escape")


def test_discrete_escape_stops_at_the_first_discrete_latent():
    partial, site = _partial()
    assert site["name"] == "b" and list(partial.nodes) == ["_INPUT", "a", "p"]


def test_escape_functions_skip_known_observed_and_continuous_sites():
    tr = poutine.Trace()
    tr.add_node("a", type="sample")
    b = new_sample_message("b", dist.Bernoulli(0.5))
    assert discrete_escape(tr, b) and all_escape(tr, b)
    assert not discrete_escape(tr, new_sample_message("c", dist.Normal(0.0, 1.0)))
    assert all_escape(tr, new_sample_message("c", dist.Normal(0.0, 1.0)))
    assert not all_escape(tr, new_sample_message("a", dist.Bernoulli(0.5)))
    observed = new_sample_message("o", dist.Bernoulli(0.5), value=1.0, is_observed=True)
    assert not discrete_escape(tr, observed) and not all_escape(tr, observed)


def test_enum_extend_one_copy_per_support_value_with_pyros_count():
    partial, site = _partial()
    extended = enum_extend(partial.copy(), site)
    assert [t.nodes["b"]["value"].tolist() for t in extended] == [[0.0, 0.0], [1.0, 1.0]]
    assert all(list(t.nodes) == ["_INPUT", "a", "p", "b"] for t in extended)
    assert "b" not in partial  # copies
    # As Pyro: num_samples=n stops after n + 1 values.
    assert len(enum_extend(partial, site, num_samples=0)) == 1


def test_mc_extend_draws_values():
    partial, site = _partial()
    extended = mc_extend(partial, site, num_samples=3)
    assert len(extended) == 3 and len(mc_extend(partial, site)) == 1
    assert all(t.nodes["b"]["value"].shape == (2,) for t in extended)


def test_prune_subsample_sites_removes_index_sites_from_a_copy():
    partial, _ = _partial()
    pruned = prune_subsample_sites(partial)
    assert list(pruned.nodes) == ["_INPUT", "a"] and "p" in partial


def test_enum_extend_values_are_the_support_tensors():
    msg = new_sample_message("c", dist.Categorical(torch.ones(3)))
    values = [t.nodes["c"]["value"] for t in enum_extend(poutine.Trace(), msg)]
    assert [v.item() for v in values] == [0, 1, 2]
