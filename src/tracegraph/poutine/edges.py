"""Where a trace's edges come from, chosen by its ``graph_type``.

* ``"flat"``: none;
* ``"dense"`` (:func:`identify_dense_edges`): an edge from every earlier sample site
  to every later one, except between iterations of one sequential plate (Pyro's);
* ``"provenance"`` (:func:`identify_provenance_edges`): an edge ``i -> j`` for
  every site ``i`` whose value site ``j``'s log-density (or value) was computed
  from directly, or that decided Python control flow before ``j`` ran (recorded
  by :class:`~tracegraph.poutine.provenance_messenger.TrackProvenanceMessenger`).
  Only direct dependencies are edges, so a chain of ``n`` sites has ``n - 1``
  edges; :func:`transitive_dependencies` and :func:`transitive_dependents` give
  everything a site depends on, or what depends on it, on demand (see
  ``docs/design/provenance-edges.md``).

>>> from tracegraph.poutine.trace_struct import Trace
>>> tr = Trace("dense")
>>> for n in "ab":
...     tr.add_node(n, type="sample", cond_indep_stack=())
>>> add_edges(tr); sorted(tr.edges)
[('a', 'b')]
"""

from __future__ import annotations

from collections.abc import Iterable

from tracegraph.ops.provenance import scrub_tracked_names
from tracegraph.poutine.messages import describe_site
from tracegraph.poutine.provenance_messenger import site_dependencies
from tracegraph.poutine.site_errors import class_fn_error, fn_hint
from tracegraph.poutine.sites import site_is_subsample
from tracegraph.poutine.trace_struct import Trace

__all__ = [
    "add_edges",
    "identify_dense_edges",
    "identify_provenance_edges",
    "transitive_dependencies",
    "transitive_dependents",
    "transitive_provenance",
]


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
    """Add an edge ``i -> j`` for every sample site ``i`` that site ``j`` depends on
    directly: the sites in the provenance of ``j``'s log-prob and of the control
    flow before ``j``, and, when that log-prob reads ``j``'s own value, the sites
    recorded as the value's ``value_parents``.

    Run on a trace recorded under :class:`TrackProvenanceMessenger` (which
    ``graph_type="provenance"`` installs with ``direct=True``).  On a trace
    recorded without ``direct`` the provenance sets are transitive already, and
    so are the edges.

    >>> import tracegraph
    >>> import tracegraph.distributions as dist
    >>> from tracegraph import poutine
    >>> def chain():
    ...     a = tracegraph.sample("a", dist.Normal(0.0, 1.0))
    ...     b = tracegraph.sample("b", dist.Normal(a, 1.0))
    ...     tracegraph.sample("c", dist.Normal(b, 1.0))
    >>> sorted(poutine.trace(chain, graph_type="provenance").get_trace().edges)
    [('a', 'b'), ('b', 'c')]
    """
    nodes = trace.nodes
    for name, site in nodes.items():
        if site["type"] != "sample":
            continue
        try:
            deps = site_dependencies(site)
        except Exception as exc:
            fn = site.get("fn")
            if isinstance(fn, type) and isinstance(exc, TypeError):
                # torch's message would name the unbound method's internal class.
                raise class_fn_error(name, fn, "its log_prob cannot be computed") from None
            where = describe_site(site)
            exc.add_note(f"while computing log_prob at {where} (for its dependencies)")
            hint = fn_hint(name, fn)
            if hint is not None:
                exc.add_note(hint)
            scrub_tracked_names(exc)
            raise
        if name in deps:
            # The log-prob reads this site's value: it reads what the value was
            # computed from too.
            deps = deps | site.get("value_parents", frozenset())
        for dep in deps:
            if dep != name and dep in nodes:
                trace.add_edge(dep, name)


def transitive_provenance(trace: Trace, names: Iterable[str]) -> set[str]:
    """``names`` (a provenance set read in a ``"provenance"`` trace's run) and every
    site their values were computed from, transitively, through the
    ``value_parents`` the trace's sites record: the provenance set the same
    tensor would carry if values were tagged transitively.  Iterative.

    :param trace: the trace whose run produced the names.
    :param names: site names, e.g. ``get_provenance(tensor)``.
    :returns: a new set of names.

    >>> import tracegraph
    >>> import tracegraph.distributions as dist
    >>> from tracegraph import poutine
    >>> from tracegraph.ops.provenance import get_provenance
    >>> def chain():
    ...     a = tracegraph.sample("a", dist.Normal(0.0, 1.0))
    ...     return tracegraph.sample("b", dist.Normal(a, 1.0))
    >>> tr = poutine.trace(chain, graph_type="provenance").get_trace()
    >>> b = tr.nodes["b"]["value"]
    >>> sorted(get_provenance(b)), sorted(transitive_provenance(tr, get_provenance(b)))
    (['b'], ['a', 'b'])
    """
    seen: set[str] = set()
    todo = list(names)
    nodes = trace.nodes
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        node = nodes.get(name)
        if node:
            todo.extend(node.get("value_parents", ()))
    return seen


def transitive_dependencies(trace: Trace, site_name: str) -> set[str]:
    """Every site ``site_name`` depends on, directly or through other sites'
    values: the sites whose values its log-prob, value or existence was computed
    from.  On a ``"provenance"`` trace this is what its predecessors were before
    the trace kept direct edges only; linear in the size of the graph.

    :param trace: a trace (its ``value_parents`` are followed where recorded).
    :param site_name: a site of the trace.
    :returns: a new set of site names, ``site_name`` excluded.
    :raises UnknownSiteError: (a ``KeyError``) if the site is not in the trace.

    >>> import tracegraph
    >>> import tracegraph.distributions as dist
    >>> from tracegraph import poutine
    >>> def chain():
    ...     a = tracegraph.sample("a", dist.Normal(0.0, 1.0))
    ...     b = tracegraph.sample("b", dist.Normal(a, 1.0))
    ...     tracegraph.sample("c", dist.Normal(b, 1.0))
    >>> tr = poutine.trace(chain, graph_type="provenance").get_trace()
    >>> tr.predecessors("c"), sorted(transitive_dependencies(tr, "c"))
    ({'b'}, ['a', 'b'])
    """
    closure = transitive_provenance(trace, trace.predecessors(site_name))
    nodes = trace.nodes
    return {name for name in closure if name != site_name and name in nodes}


def transitive_dependents(trace: Trace, site_name: str) -> set[str]:
    """Every site that depends on ``site_name``, directly or through other sites'
    values (``j`` is in the result exactly when ``site_name`` is in
    ``transitive_dependencies(trace, j)``); linear in the size of the graph.

    :param trace: a trace.
    :param site_name: a site of the trace.
    :returns: a new set of site names, ``site_name`` excluded.
    :raises UnknownSiteError: (a ``KeyError``) if the site is not in the trace.

    >>> import tracegraph
    >>> import tracegraph.distributions as dist
    >>> from tracegraph import poutine
    >>> def chain():
    ...     a = tracegraph.sample("a", dist.Normal(0.0, 1.0))
    ...     b = tracegraph.sample("b", dist.Normal(a, 1.0))
    ...     tracegraph.sample("c", dist.Normal(b, 1.0))
    >>> tr = poutine.trace(chain, graph_type="provenance").get_trace()
    >>> tr.successors("a"), sorted(transitive_dependents(tr, "a"))
    ({'b'}, ['b', 'c'])
    """
    trace.successors(site_name)  # raises for an unknown site
    # The sites whose values were computed from ``site_name``'s, itself included.
    children: dict[str, list[str]] = {}
    for name, node in trace.nodes.items():
        for parent in node.get("value_parents", ()):
            children.setdefault(parent, []).append(name)
    reached = {site_name}
    todo = [site_name]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in reached:
                reached.add(child)
                todo.append(child)
    # A site depends on ``site_name`` when one of its direct dependencies does.
    return {
        name
        for name in trace.nodes
        if name != site_name and not trace.predecessors(name).isdisjoint(reached)
    }
