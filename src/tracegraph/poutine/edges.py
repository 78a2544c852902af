"""Where a trace's edges come from, chosen by its ``graph_type``.

* ``"flat"``: none;
* ``"dense"`` (:func:`identify_dense_edges`): an edge from every earlier sample site
  to every later one, except between iterations of one sequential plate (Pyro's);
* ``"provenance"`` (:func:`identify_provenance_edges`): an edge ``i -> j`` for
  every site ``i`` whose value site ``j``'s log-density was computed from, or that
  decided Python control flow before ``j`` ran (recorded by
  :class:`~tracegraph.poutine.provenance_messenger.TrackProvenanceMessenger`).

>>> from tracegraph.poutine.trace_struct import Trace
>>> tr = Trace("dense")
>>> for n in "ab":
...     tr.add_node(n, type="sample", cond_indep_stack=())
>>> add_edges(tr); sorted(tr.edges)
[('a', 'b')]
"""

from __future__ import annotations

from tracegraph.poutine.provenance_messenger import site_dependencies
from tracegraph.poutine.sites import site_is_subsample
from tracegraph.poutine.trace_struct import Trace

__all__ = ["add_edges", "identify_dense_edges", "identify_provenance_edges"]


def add_edges(trace: Trace) -> None:
    """Add the edges ``trace.graph_type`` calls for, in place.

    >>> tr = Trace(); add_edges(tr); list(tr.edges)
    []
    """
    if trace.graph_type == "dense":
        identify_dense_edges(trace)
    elif trace.graph_type == "provenance":
        identify_provenance_edges(trace)


def identify_dense_edges(trace: Trace) -> None:
    """Add the edges of a ``"dense"`` trace: an edge from every earlier sample
    site to every later one (observed sites included, as in Pyro), except when
    the two sit in different iterations of the same sequential plate.  A
    plate's subsample-index sites get no edges.

    :param trace: the trace to add edges to, in place.

    >>> tr = Trace("dense")
    >>> for n in "abc":
    ...     tr.add_node(n, type="sample", cond_indep_stack=())
    >>> identify_dense_edges(tr); sorted(tr.edges)
    [('a', 'b'), ('a', 'c'), ('b', 'c')]
    """
    past: list[tuple[str, dict[str, int]]] = []
    for name, site in trace.nodes.items():
        if site.get("type") != "sample" or site_is_subsample(site):
            continue
        # Sequential frames (dim None): plate name -> iteration.
        seq = {f.name: f.counter for f in site.get("cond_indep_stack", ()) if f.dim is None}
        for past_name, past_seq in past:
            independent = False
            for plate, counter in seq.items():
                other = past_seq.get(plate)
                if other is not None and other != counter:
                    independent = True
                    break
            if not independent:
                trace.add_edge(past_name, name)
        past.append((name, seq))


def identify_provenance_edges(trace: Trace) -> None:
    """Add an edge ``i -> j`` for every sample site ``i`` that site ``j`` depends on.

    Run on a trace recorded under :class:`TrackProvenanceMessenger` (which
    ``graph_type="provenance"`` installs).
    """
    nodes = trace.nodes
    for name, site in nodes.items():
        if site["type"] != "sample":
            continue
        try:
            deps = site_dependencies(site)
        except Exception as exc:
            exc.add_note(f"while computing the dependencies of site '{name}'")
            raise
        for dep in deps:
            if dep != name and dep in nodes:
                trace.add_edge(dep, name)
