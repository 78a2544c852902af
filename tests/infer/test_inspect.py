"""Tests of tracegraph.infer.inspect: get_dependencies, get_model_relations, render_model.

Expected dependency dicts are written by hand for small models, and checked against
a brute-force reference on random DAG models: the model is unrolled into its
individual tensor elements, the element-level DAG is moralized the textbook way,
and the site-level answer (with the plates in which elements couple all-to-all)
is read off it.
"""

from __future__ import annotations

import itertools
from contextlib import ExitStack

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tracegraph
import tracegraph.distributions as dist
from tracegraph.errors import TracegraphWarning
from tracegraph.infer.inspect import (
    get_dependencies,
    get_model_relations,
    is_sample_site,
    render_model,
)


def _prior(deps):
    return deps["prior_dependencies"]


def _posterior(deps):
    return deps["posterior_dependencies"]


# -- hand-written expectations ----------------------------------------------------


def test_get_dependencies_chain_matches_hand_written():
    def model():
        a = tracegraph.sample("a", dist.Normal(0.0, 1.0))
        b = tracegraph.sample("b", dist.Normal(a, 1.0))
        c = tracegraph.sample("c", dist.Normal(a, b.exp()))
        tracegraph.sample("d", dist.Bernoulli(logits=c), obs=torch.tensor(0.0))

    assert get_dependencies(model) == {
        "prior_dependencies": {
            "a": {"a": set()},
            "b": {"b": set(), "a": set()},
            "c": {"c": set(), "a": set(), "b": set()},
            "d": {"d": set(), "c": set()},
        },
        "posterior_dependencies": {
            "a": {"a": set(), "b": set(), "c": set()},
            "b": {"b": set(), "c": set()},
            "c": {"c": set(), "d": set()},
        },
    }


def test_get_dependencies_collider_marries_parents():
    def model():
        a = tracegraph.sample("a", dist.Normal(0.0, 1.0))
        b = tracegraph.sample("b", dist.Normal(0.0, 1.0))
        tracegraph.sample("c", dist.Normal(a + b, 1.0), obs=torch.tensor(0.0))

    deps = get_dependencies(model)
    assert _prior(deps) == {
        "a": {"a": set()},
        "b": {"b": set()},
        "c": {"c": set(), "a": set(), "b": set()},
    }
    # a and b are independent a priori but coupled once c is observed.
    assert _posterior(deps) == {
        "a": {"a": set(), "c": set(), "b": set()},
        "b": {"b": set(), "c": set()},
    }


def test_get_dependencies_child_outside_plate_couples_elements():
    def model():
        with tracegraph.plate("p", 3):
            z = tracegraph.sample("z", dist.Normal(0.0, 1.0))
            tracegraph.sample("x", dist.Normal(z, 1.0), obs=torch.zeros(3))
        tracegraph.sample("y", dist.Normal(z.sum(), 1.0), obs=torch.tensor(0.0))

    deps = get_dependencies(model)
    assert _prior(deps) == {
        "z": {"z": set()},
        "x": {"x": set(), "z": set()},
        "y": {"y": set(), "z": set()},
    }
    # x is elementwise (inside p); y sees all of z, so z's elements are coupled across p.
    assert _posterior(deps) == {"z": {"z": {"p"}, "x": set(), "y": set()}}


def test_get_dependencies_two_plated_parents_of_unplated_child():
    def model():
        with tracegraph.plate("p", 2):
            a = tracegraph.sample("a", dist.Normal(0.0, 1.0))
            b = tracegraph.sample("b", dist.Normal(a, 1.0))
        tracegraph.sample("c", dist.Normal((a + b).sum(), 1.0), obs=torch.tensor(0.0))

    assert _posterior(get_dependencies(model)) == {
        "a": {"a": {"p"}, "b": {"p"}, "c": set()},
        "b": {"b": {"p"}, "c": set()},
    }


def test_get_dependencies_nested_plates_elementwise_have_no_plates():
    def model():
        a = tracegraph.sample("a", dist.Normal(0.0, 1.0))
        with tracegraph.plate("p", 2, dim=-1):
            b = tracegraph.sample("b", dist.Normal(a, 1.0))
            with tracegraph.plate("q", 3, dim=-2):
                tracegraph.sample("c", dist.Normal(b, 1.0), obs=torch.zeros(3, 2))

    deps = get_dependencies(model)
    assert _prior(deps) == {
        "a": {"a": set()},
        "b": {"b": set(), "a": set()},
        "c": {"c": set(), "b": set()},
    }
    assert _posterior(deps) == {"a": {"a": set(), "b": set()}, "b": {"b": set(), "c": set()}}


def test_get_dependencies_sequential_plate_is_not_a_plate_of_the_sites():
    def model():
        x = tracegraph.sample("x0", dist.Normal(0.0, 1.0))
        for i in tracegraph.plate("time", 2):
            x = tracegraph.sample(f"x{i + 1}", dist.Normal(x, 1.0))

    deps = get_dependencies(model)
    assert _prior(deps)["x2"] == {"x2": set(), "x1": set()}
    assert _posterior(deps)["x0"] == {"x0": set(), "x1": set()}


# -- what counts as a dependency ----------------------------------------------------


def test_get_dependencies_control_flow_chooses_distribution():
    def model():
        a = tracegraph.sample("a", dist.Normal(0.0, 1.0))
        b = tracegraph.sample("b", dist.Normal(0.0, 1.0))
        fn = dist.Normal(0.0, 1.0) if a.item() > 0 else dist.Laplace(0.0, 1.0)
        tracegraph.sample("x", fn)
        return b

    for seed in range(4):  # both branches
        tracegraph.set_rng_seed(seed)
        # b never reaches control flow, so x does not depend on it.
        assert _prior(get_dependencies(model))["x"] == {"x": set(), "a": set()}


def test_get_dependencies_control_flow_decides_existence():
    def model():
        a = tracegraph.sample("a", dist.Normal(0.0, 1.0))
        if a > -100.0:
            tracegraph.sample("x", dist.Normal(0.0, 1.0), obs=torch.tensor(0.0))

    deps = get_dependencies(model)
    assert _prior(deps)["x"] == {"x": set(), "a": set()}
    assert _posterior(deps)["a"] == {"a": set(), "x": set()}


def test_get_dependencies_in_place_write_carries_dependency():
    def model():
        a = tracegraph.sample("a", dist.Normal(0.0, 1.0))
        buf = torch.zeros(2)
        buf[0] = a
        tracegraph.sample("x", dist.Normal(buf.sum(), 1.0))

    assert _prior(get_dependencies(model))["x"] == {"x": set(), "a": set()}


def test_get_dependencies_observed_upstream_is_not_a_dependency():
    def model():
        x = tracegraph.sample("x", dist.Normal(0.0, 1.0), obs=torch.tensor(1.0))
        tracegraph.sample("z", dist.Normal(x, 1.0))

    assert _prior(get_dependencies(model)) == {"x": {"x": set()}, "z": {"z": set()}}
    # ... but the drawing does show the observed covariate feeding z.
    assert get_model_relations(model)["sample_sample"] == {"x": [], "z": ["x"]}


def test_get_dependencies_deterministic_elided_but_dependency_kept():
    def model():
        a = tracegraph.sample("a", dist.Normal(0.0, 1.0))
        d = tracegraph.deterministic("d", 2 * a)
        tracegraph.sample("x", dist.Normal(d, 1.0))

    deps = get_dependencies(model)
    assert _prior(deps) == {"a": {"a": set()}, "x": {"x": set(), "a": set()}}

    deps = get_dependencies(model, include_deterministic=True)
    # A deterministic site counts as observed: a key of the prior only.
    assert _prior(deps) == {
        "a": {"a": set()},
        "d": {"d": set(), "a": set()},
        "x": {"x": set(), "a": set()},
    }
    assert _posterior(deps) == {"a": {"a": set(), "d": set(), "x": set()}, "x": {"x": set()}}


def test_get_dependencies_latent_delta_site_elided():
    def model():
        a = tracegraph.sample("a", dist.Normal(0.0, 1.0))
        m = tracegraph.sample("m", dist.Delta(a + 1.0))
        tracegraph.sample("x", dist.Normal(m, 1.0))

    assert _prior(get_dependencies(model)) == {"a": {"a": set()}, "x": {"x": set(), "a": set()}}


def test_get_dependencies_params_and_subsample_sites_excluded():
    def model():
        loc = tracegraph.param("loc", torch.tensor(0.0))
        with tracegraph.plate("data", 10, subsample_size=3):
            tracegraph.sample("x", dist.Normal(loc, 1.0))

    assert get_dependencies(model) == {
        "prior_dependencies": {"x": {"x": set()}},
        "posterior_dependencies": {"x": {"x": set()}},
    }


def test_get_dependencies_args_and_kwargs_reach_model():
    def model(n, scale=1.0):
        with tracegraph.plate("p", n):
            tracegraph.sample("x", dist.Normal(0.0, scale))

    assert _prior(get_dependencies(model, (2,), {"scale": 2.0})) == {"x": {"x": set()}}


def test_get_dependencies_bad_model_args_raises():
    with pytest.raises(TypeError, match=r"model_args must be a tuple.*\(x,\)"):
        get_dependencies(lambda x: x, torch.zeros(2))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="model_kwargs must be a dict"):
        get_dependencies(lambda: None, (), [1])  # type: ignore[arg-type]


def test_get_dependencies_leaves_rng_and_validation_alone():
    def model():
        tracegraph.sample("x", dist.Normal(0.0, 1.0))

    tracegraph.set_rng_seed(3)
    expected = torch.rand(3)
    tracegraph.set_rng_seed(3)
    get_dependencies(model)
    assert torch.equal(torch.rand(3), expected)
    assert tracegraph.is_validation_enabled()


def test_get_dependencies_failing_log_prob_names_site():
    class Broken(dist.Normal):
        def log_prob(self, value):
            raise RuntimeError("boom")

    def model():
        tracegraph.sample("bad", Broken(0.0, 1.0))

    with pytest.raises(RuntimeError, match="boom") as info:
        get_dependencies(model)
    assert any("'bad'" in note for note in info.value.__notes__)


def test_is_sample_site_excludes_params_and_subsample():
    def model():
        tracegraph.param("w", torch.tensor(1.0))
        with tracegraph.plate("data", 10, subsample_size=2):
            tracegraph.sample("x", dist.Normal(0.0, 1.0))

    tr = tracegraph.poutine.trace(model).get_trace()
    assert [n for n, s in tr.nodes.items() if is_sample_site(s)] == ["x"]


# -- brute force on random DAG models -------------------------------------------------

SIZES = {"q": 3, "p": 2}  # plate q at dim -2, p at dim -1
DIMS = {"q": -2, "p": -1}


def _shape(plates):
    if "q" in plates:
        return (SIZES["q"], SIZES["p"]) if "p" in plates else (SIZES["q"], 1)
    return (SIZES["p"],) if "p" in plates else ()


def _reduce_to(value, src, dst):
    # Sum out the plates of the parent that the child is not in, broadcast to the child.
    full = value.reshape(SIZES["q"] if "q" in src else 1, SIZES["p"] if "p" in src else 1)
    if "p" not in dst:
        full = full.sum(-1, keepdim=True)
    if "q" not in dst:
        full = full.sum(-2, keepdim=True)
    full = full.expand(SIZES["q"] if "q" in dst else 1, SIZES["p"] if "p" in dst else 1)
    return full.reshape(_shape(dst))


def _make_model(specs):
    def model():
        values: list[torch.Tensor] = []
        for j, (parents, plates, observed) in enumerate(specs):
            loc = torch.zeros(_shape(plates))
            for i in parents:
                loc = loc + _reduce_to(values[i], specs[i][1], plates)
            with ExitStack() as stack:
                for name in ("q", "p"):
                    if name in plates:
                        stack.enter_context(tracegraph.plate(name, SIZES[name], dim=DIMS[name]))
                obs = torch.zeros(_shape(plates)) if observed else None
                values.append(tracegraph.sample(f"s{j}", dist.Normal(loc, 1.0), obs=obs))

    return model


def _elements(plates):
    names = sorted(plates)
    for idx in itertools.product(*(range(SIZES[n]) for n in names)):
        yield tuple(zip(names, idx))


def _agree(e1, e2):
    d1, d2 = dict(e1), dict(e2)
    return all(d1[k] == d2[k] for k in d1.keys() & d2.keys())


def _brute_force(specs):
    """Unroll into elements, moralize the element DAG, read the site-level answer."""
    n = len(specs)
    latent = [not observed for _, _, observed in specs]
    plates = [set(p) for _, p, _ in specs]
    edges = set()  # frozenset({(site, element), (site, element)})
    for z in range(n):
        for k in _elements(plates[z]):
            parents = [
                (i, e)
                for i in specs[z][0]
                if latent[i]
                for e in _elements(plates[i])
                if _agree(e, k)
            ]
            for a in parents:
                edges.add(frozenset((a, (z, k))))  # parent-child
            family = parents + ([(z, k)] if latent[z] else [])
            for a, b in itertools.combinations(family, 2):
                edges.add(frozenset((a, b)))  # married co-parents
    prior: dict[str, dict[str, set[str]]] = {
        f"s{j}": {f"s{j}": set(), **{f"s{i}": set() for i in specs[j][0] if latent[i]}}
        for j in range(n)
    }
    posterior: dict[str, dict[str, set[str]]] = {}
    for x in range(n):
        if not latent[x]:
            continue
        posterior[f"s{x}"] = {}
        for y in range(x, n):
            between = []  # element pairs (as dicts) joined by a moral edge
            for edge in edges:
                (s1, e1), (s2, e2) = tuple(edge)
                if sorted((s1, s2)) == [x, y]:
                    between.append((dict(e1), dict(e2)))
            if x != y and not between:
                continue
            full = {p for p in plates[x] & plates[y] if any(d1[p] != d2[p] for d1, d2 in between)}
            posterior[f"s{x}"][f"s{y}"] = full
    return {"prior_dependencies": prior, "posterior_dependencies": posterior}


@st.composite
def _dag_specs(draw):
    n = draw(st.integers(1, 6))
    specs = []
    for j in range(n):
        parents = sorted(draw(st.sets(st.integers(0, j - 1)))) if j else []
        plates = frozenset(draw(st.sets(st.sampled_from(["p", "q"]))))
        specs.append((parents, plates, draw(st.booleans())))
    return specs


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(_dag_specs())
def test_get_dependencies_random_dag_matches_brute_force(specs):
    deps = get_dependencies(_make_model(specs))
    expected = _brute_force(specs)
    assert _prior(deps) == _prior(expected)
    assert _posterior(deps) == _posterior(expected)


def test_brute_force_reference_on_known_model():
    # The reference itself, on the hand-checked plate model above: s0 in p, s1 in p
    # observed, s2 outside p observed.
    specs = [([], frozenset({"p"}), False), ([0], frozenset({"p"}), True), ([0], frozenset(), True)]
    assert _posterior(_brute_force(specs)) == {"s0": {"s0": {"p"}, "s1": set(), "s2": set()}}


# -- get_model_relations ------------------------------------------------------------------


def test_get_model_relations_full_model():
    def model(data):
        s = tracegraph.param("s", torch.tensor(1.0), constraint=dist.constraints.positive)
        lin = tracegraph.module("lin", torch.nn.Linear(1, 1))
        a = tracegraph.sample("a", dist.Normal(0.0, s))
        with tracegraph.plate("data", len(data)):
            b = tracegraph.sample("b", dist.Normal(a, 1.0).to_event(0))
            tracegraph.deterministic("d", b * 2)
            tracegraph.sample("x", dist.Normal(b, 1.0), obs=data)
        return lin

    # Pyro 1.9.2's output for this model: the deterministic site is listed (and
    # counted as observed, as in Pyro) whether or not include_deterministic is set.
    relations = get_model_relations(model, (torch.zeros(3),))
    assert relations == {
        "sample_sample": {"a": [], "b": ["a"], "d": ["b"], "x": ["b"]},
        "sample_param": {"a": ["s"], "b": [], "d": [], "x": []},
        "sample_dist": {"a": "Normal", "b": "Normal", "d": "Deterministic", "x": "Normal"},
        "param_constraint": {
            "s": "GreaterThan(lower_bound=0.0)",
            "lin$$$weight": "Real()",
            "lin$$$bias": "Real()",
        },
        "plate_sample": {"data": ["b", "d", "x"]},
        "observed": ["d", "x"],
    }
    assert get_model_relations(model, (torch.zeros(3),), include_deterministic=True) == relations


def test_get_model_relations_deterministic_cuts_only_when_included():
    def model():
        a = tracegraph.sample("a", dist.Normal(0.0, 1.0))
        d = tracegraph.deterministic("d", a * 2)
        tracegraph.sample("y", dist.Normal(d, 1.0), obs=torch.tensor(0.0))

    # Without include_deterministic, y depends on what d was computed from (Pyro).
    assert get_model_relations(model)["sample_sample"] == {"a": [], "d": ["a"], "y": ["a"]}
    relations = get_model_relations(model, include_deterministic=True)
    assert relations["sample_sample"] == {"a": [], "d": ["a"], "y": ["d"]}
    assert relations["observed"] == ["d", "y"]


def test_get_model_relations_sequential_plate_lists_each_site_once():
    def model():
        for i in tracegraph.plate("t", 3):
            tracegraph.sample(f"x{i}", dist.Normal(0.0, 1.0))

    assert get_model_relations(model)["plate_sample"] == {"t": ["x0", "x1", "x2"]}


# -- render_model ---------------------------------------------------------------------------


def _plated_model(data):
    a = tracegraph.sample("a", dist.Normal(0.0, 1.0))
    with tracegraph.plate("data", len(data)):
        tracegraph.sample("x", dist.Normal(a, 1.0), obs=data)


def test_render_model_dot_has_cluster_nodes_and_edge():
    source = render_model(_plated_model, (torch.zeros(2),)).source
    assert "subgraph cluster_data {" in source
    assert "a [label=a fillcolor=white shape=ellipse style=filled]" in source
    assert "x [label=x fillcolor=gray shape=ellipse style=filled]" in source
    assert "a -> x" in source


def test_render_model_deterministic_always_drawn_edges_through_it_when_asked():
    def model():
        a = tracegraph.sample("a", dist.Normal(0.0, 1.0))
        d = tracegraph.deterministic("d", a + 1)
        tracegraph.sample("y", dist.Normal(d, 1.0), obs=torch.tensor(0.0))

    # As in Pyro: the deterministic site is drawn (gray, dashed) either way;
    # render_deterministic decides whether edges go through it.
    source = render_model(model).source
    assert 'd [label=d fillcolor=gray shape=ellipse style="filled,dashed"]' in source
    assert "a -> y" in source and "d -> y" not in source
    source = render_model(model, render_deterministic=True).source
    assert "a -> d" in source and "d -> y" in source and "a -> y" not in source


def test_render_model_without_dot_writes_source_and_warns(tmp_path, monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    target = tmp_path / "model.svg"
    with pytest.warns(TracegraphWarning, match="`dot` program was not found") as record:
        graph = render_model(_plated_model, (torch.zeros(2),), filename=str(target))
    # stacklevel points at this file, the user's call.
    assert record[0].filename == __file__
    assert (tmp_path / "model.dot").read_text() == graph.source
    assert not target.exists()
