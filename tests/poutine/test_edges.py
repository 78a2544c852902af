"""Tests of the edges of a trace: direct provenance edges and their closures."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pytest
import torch
from zoo import CONTROL_FLOW_ZOO, MIXED, PROGRAMS, ZOO

import tracegraph
import tracegraph.distributions as dist
from tracegraph import poutine
from tracegraph.errors import SiteTypeError, UnknownSiteError
from tracegraph.poutine.edges import transitive_dependencies, transitive_dependents
from tracegraph.poutine.provenance_messenger import TrackProvenanceMessenger, site_dependencies


def _programs() -> dict[str, Callable[[], Any]]:
    found: dict[str, Callable[[], Any]] = {name: p for name, (p, _, _) in PROGRAMS.items()}
    for case in [*ZOO, *CONTROL_FLOW_ZOO, MIXED]:
        found[f"{case.name}_model"] = functools.partial(case.model, *case.args)
        found[f"{case.name}_guide"] = functools.partial(case.guide, *case.args)
    return found


PROGRAM_ZOO = _programs()


def _transitive_reference(program: Callable[[], Any], seed: int) -> tuple[Any, dict[str, set[str]]]:
    # The edges a provenance trace had before it kept direct ones only: values
    # carrying everything they were computed from, each site's log-prob provenance.
    tracegraph.clear_param_store()
    torch.manual_seed(seed)
    with TrackProvenanceMessenger("latent"):
        tr = poutine.trace(program).get_trace()
    preds = {}
    for name, site in tr.nodes.items():
        deps = site_dependencies(site) if site["type"] == "sample" else frozenset()
        preds[name] = {d for d in deps if d != name and d in tr.nodes}
    return tr, preds


def _direct(program: Callable[[], Any], seed: int) -> Any:
    tracegraph.clear_param_store()
    torch.manual_seed(seed)
    return poutine.trace(program, graph_type="provenance").get_trace()


@pytest.mark.parametrize("name", sorted(PROGRAM_ZOO))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_transitive_dependencies_zoo_equal_transitive_provenance(name, seed):
    program = PROGRAM_ZOO[name]
    old, old_preds = _transitive_reference(program, seed)
    new = _direct(program, seed)
    assert list(new.nodes) == list(old.nodes)
    for site in new.nodes:
        assert transitive_dependencies(new, site) == old_preds[site], site
        expected_dependents = {j for j, preds in old_preds.items() if site in preds}
        assert transitive_dependents(new, site) == expected_dependents, site
        # Direct edges are some of the transitive ones.
        assert new.predecessors(site) <= old_preds[site]
    # The order Pyro's depth-first search gives is the same on the closure.
    closed = poutine.Trace("provenance")
    for site in old.nodes:
        closed.add_node(site, **old.nodes[site])
    for site, preds in old_preds.items():
        for p in preds:
            closed.add_edge(p, site)
    assert new.topological_sort() == closed.topological_sort()


def _chain(n: int) -> torch.Tensor:
    z = torch.tensor(0.0)
    for i in range(n):
        z = tracegraph.sample(f"z{i}", dist.Normal(z, 1.0))
    return z


@pytest.mark.parametrize("n", [10, 100, 400])
def test_provenance_edges_chain_linear(n):
    tr = poutine.trace(_chain, graph_type="provenance").get_trace(n)
    assert sorted(tr.edges) == sorted((f"z{i}", f"z{i + 1}") for i in range(n - 1))
    # Every value stands for its own site only: no provenance set grows with n.
    assert all(
        len(tracegraph.ops.provenance.get_provenance(s["value"])) == 1
        for s in tr.nodes.values()
        if s["type"] == "sample"
    )
    assert transitive_dependencies(tr, f"z{n - 1}") == {f"z{i}" for i in range(n - 1)}
    assert transitive_dependents(tr, "z0") == {f"z{i}" for i in range(1, n)}


def test_transitive_dependencies_control_flow_and_unread_parents():
    def model():
        a = tracegraph.sample("a", dist.Bernoulli(0.5))
        b = tracegraph.sample("b", dist.Normal(a, 1.0))
        if b.item() > 100.0:  # decides what runs next
            pass
        # c's value is a Delta of b, its log-prob also reads a through log_density
        c = tracegraph.sample("c", dist.Delta(b, log_density=a))
        tracegraph.sample("x", dist.Normal(c, 1.0), obs=torch.tensor(0.0))

    tr = poutine.trace(model, graph_type="provenance").get_trace()
    assert tr.predecessors("c") == {"a", "b"}
    assert transitive_dependencies(tr, "x") == {"a", "b", "c"}
    assert transitive_dependents(tr, "a") == {"b", "c", "x"}


def test_provenance_edges_class_fn_raises_site_type_error():
    def model():
        tracegraph.sample("x", dist.Normal, obs=torch.zeros(()))

    with pytest.raises(SiteTypeError, match="site 'x': fn is the class Normal") as info:
        poutine.trace(model, graph_type="provenance").get_trace()
    assert info.value.__suppress_context__


def test_provenance_edges_function_fn_keeps_attribute_error_with_hint():
    def model():
        tracegraph.sample("x", lambda: torch.tensor(0.0))

    with pytest.raises(AttributeError) as info:
        poutine.trace(model, graph_type="provenance").get_trace()
    notes = "\n".join(info.value.__notes__)
    assert "log_prob at site 'x': function" in notes and "hint: site 'x'" in notes


def test_transitive_dependencies_unknown_site_raises():
    tr = poutine.trace(_chain, graph_type="provenance").get_trace(2)
    with pytest.raises(UnknownSiteError, match="no site named 'q'"):
        transitive_dependencies(tr, "q")
    with pytest.raises(UnknownSiteError, match="no site named 'q'"):
        transitive_dependents(tr, "q")
