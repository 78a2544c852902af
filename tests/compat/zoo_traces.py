"""Traces: trace options (graph types, ``param_only``), ``Trace`` edits, edges and
topological order, log-prob sums, shape tables, duplicate and missing sites.

Programs of the differential zoo (see ``differential.py``).
"""

from __future__ import annotations

from typing import Any

import torch
from differential import Lib, program, traced
from zoo_models import _two_site_model

# -- trace options and Trace edits -------------------------------------------------------


@program
def trace_dense_edges(lib: Lib) -> Any:
    def model() -> None:
        a = lib.pyro.sample("a", lib.dist.Normal(0.0, 1.0))
        with lib.pyro.plate("p", 2):
            lib.pyro.sample("b", lib.dist.Normal(a, 1.0))
        for i in lib.pyro.plate("s", 2):
            lib.pyro.sample(f"c_{i}", lib.dist.Normal(a, 1.0), obs=torch.tensor(0.0))

    return lib.poutine.trace(model, graph_type="dense").get_trace()


@program
def trace_param_only(lib: Lib) -> Any:
    def model() -> None:
        lib.pyro.param("w", torch.ones(1))
        lib.pyro.sample("a", lib.dist.Normal(0.0, 1.0))

    return lib.poutine.trace(model, param_only=True).get_trace()


@program
def trace_unknown_graph_type_raises(lib: Lib) -> Any:
    return lib.poutine.trace(lambda: None, graph_type="foo").get_trace()


@program
def trace_duplicate_sample_names_raise(lib: Lib) -> Any:
    def model() -> None:
        lib.pyro.sample("a", lib.dist.Normal(0.0, 1.0))
        lib.pyro.sample("a", lib.dist.Normal(0.0, 1.0))

    return traced(lib, model)


@program
def trace_param_then_sample_same_name_raises(lib: Lib) -> Any:
    def model() -> None:
        lib.pyro.param("a", torch.ones(1))
        lib.pyro.sample("a", lib.dist.Normal(0.0, 1.0))

    return traced(lib, model)


@program
def trace_add_edge_adds_missing_nodes(lib: Lib) -> Any:
    tr = lib.Trace()
    tr.add_node("a", type="sample", name="a")
    tr.add_edge("a", "b")
    tr.add_edge("c", "a")
    return tr, tr.successors("a"), tr.predecessors("a"), tr.topological_sort()


@program
def trace_missing_site_raises_key_error(lib: Lib) -> Any:
    return lib.Trace().predecessors("nope")


@program
def trace_remove_missing_site_raises_key_error(lib: Lib) -> Any:
    lib.Trace().remove_node("nope")


@program
def trace_nan_log_prob_warns(lib: Lib) -> Any:
    def model() -> None:
        lib.pyro.sample(
            "x",
            lib.dist.Normal(torch.tensor(float("nan")), 1.0, validate_args=False),
            obs=torch.tensor(0.0),
        )

    return traced(lib, model).log_prob_sum()


# -- traces (second zoo) -----------------------------------------------------------------


@program
def trace_args_kwargs_and_return(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    def model(a, b=2.0, *, c):
        return pyro.sample("x", dist.Normal(a + b + c, 1.0))

    return traced(lib, model, 1.0, b=3.0, c=torch.tensor(1.0))


@program
def trace_as_context_manager(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    with poutine.trace() as tracer:
        _two_site_model(pyro, dist)()
    return tracer.trace


@program
def trace_graph_type_dense(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    tr = poutine.trace(_two_site_model(pyro, dist), graph_type="dense").get_trace()
    return tr, sorted(tr.edges)


@program
def trace_node_lists(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    def model():
        a = pyro.sample("a", dist.Bernoulli(0.5))
        b = pyro.sample("b", dist.Normal(a, 1.0))
        pyro.param("p", torch.tensor(1.0))
        pyro.sample("c", dist.Normal(b, 1.0), obs=torch.tensor(0.0))
        pyro.deterministic("d", b + 1)

    tr = traced(lib, model)
    return {
        "stochastic": tr.stochastic_nodes,
        "reparameterized": tr.reparameterized_nodes,
        "nonreparam": tr.nonreparam_stochastic_nodes,
        "observation": tr.observation_nodes,
        "param": tr.param_nodes,
        "iter": [name for name, _ in tr.iter_stochastic_nodes()],
    }


@program
def trace_compute_score_parts(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    def model():
        a = pyro.sample("a", dist.Bernoulli(0.3))
        pyro.sample("b", dist.Normal(a, 1.0))

    tr = traced(lib, model)
    tr.compute_score_parts()
    return {name: tuple(tr.nodes[name]["score_parts"]) for name in tr.stochastic_nodes}


@program
def trace_format_shapes(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    def model():
        pyro.param("w", torch.zeros(3))
        with pyro.plate("data", 4):
            pyro.sample("x", dist.Normal(0.0, 1.0).expand([4, 2]).to_event(1))

    tr = traced(lib, model)
    tr.compute_log_prob()
    return tr.format_shapes()


@program
def trace_log_prob_sum_site_filter(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    tr = traced(lib, _two_site_model(pyro, dist))
    return tr.log_prob_sum(site_filter=lambda name, site: name == "y")


@program
def trace_edges_and_topological_sort(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    tr = traced(lib, _two_site_model(pyro, dist))
    before = (tr.topological_sort(), tr.topological_sort(reverse=True))
    tr.add_edge("x", "y")
    tr.add_edge("a", "x")
    return (
        before,
        sorted(tr.edges),
        sorted(tr.successors("x")),
        sorted(tr.predecessors("y")),
        tr.topological_sort(),
        tr.topological_sort(reverse=True),
    )


@program
def trace_copy_then_remove_node(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    # Only the copy is inspected: Pyro's copy shares its edge sets with the
    # original, so the original's edges after the removal are not compared.
    tr = traced(lib, _two_site_model(pyro, dist))
    tr.add_edge("x", "y")
    copied = tr.copy()
    copied.remove_node("x")
    return list(tr.nodes), list(copied.nodes), sorted(copied.edges), copied


@program
def trace_add_edge_before_nodes(lib: Lib) -> Any:
    poutine = lib.poutine
    tr = poutine.Trace()
    tr.add_edge("a", "b")
    return sorted(tr.edges), list(tr.nodes), tr.topological_sort()


@program
def trace_detach(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    tr = traced(lib, _two_site_model(pyro, dist))
    tr.detach_()
    return [tr.nodes[n]["value"].requires_grad for n in ("a", "x")]


@program
def trace_prune_subsample_sites(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    def model():
        with pyro.plate("data", 5, subsample_size=2):
            pyro.sample("x", dist.Normal(0.0, 1.0))

    tr = traced(lib, model)
    pruned = poutine.util.prune_subsample_sites(tr)
    return (
        list(tr.nodes),
        list(pruned.nodes),
        [
            poutine.util.site_is_subsample(tr.nodes[n])
            for n in tr.nodes
            if n not in ("_INPUT", "_RETURN")
        ],
    )
