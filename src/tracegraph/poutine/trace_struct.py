"""The execution trace: every site of one run, in order, plus dependency edges.

A :class:`Trace` is a small directed graph.  ``nodes`` maps each site name to its
node, the message dict the site produced (Pyro's keys: ``type``, ``name``, ``fn``,
``value``, ``scale``, ``mask``, ``cond_indep_stack``, ``infer``, ...), in the order
the sites ran.  ``_succ`` and ``_pred`` map each name to the set of its successors
and predecessors.  A ``"flat"`` trace has no edges; ``"dense"`` and
``"provenance"`` traces get theirs from :mod:`tracegraph.poutine.edges`.

Log-probabilities are computed lazily and memoized in the nodes
(``unscaled_log_prob``, ``log_prob``, ``log_prob_sum``, ``score_parts``), so that
an ELBO and a user asking for them pay once.

>>> import torch
>>> tr = Trace()
>>> tr.add_node("z", name="z", type="sample", fn=torch.distributions.Normal(0.0, 1.0),
...             value=torch.tensor(0.0), is_observed=False)
>>> round(tr.log_prob_sum().item(), 4)
-0.9189
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import torch

from tracegraph.distributions.util import ScoreParts, scale_and_mask
from tracegraph.errors import (
    DuplicateSiteError,
    HandlerAssertionError,
    SiteError,
    UnknownSiteError,
)
from tracegraph.ops.provenance import reduce_untracked, scrub_tracked_names
from tracegraph.ops.tensor_checks import warn_if_inf, warn_if_nan
from tracegraph.poutine import trace_shapes
from tracegraph.poutine.messages import describe_site
from tracegraph.poutine.runtime import get_handler_stack
from tracegraph.poutine.site_errors import class_fn_error, fn_hint
from tracegraph.poutine.sites import site_is_subsample
from tracegraph.poutine.subsample_messenger import SubsampleMessenger
from tracegraph.poutine.trace_shapes import pack
from tracegraph.poutine.validation import is_validation_enabled

__all__ = [
    "GRAPH_TYPES",
    "ScoreParts",
    "Trace",
    "allow_all_sites",
    "is_validation_enabled",
    "pack",
    "scale_and_mask",
    "warn_if_inf",
    "warn_if_nan",
]

#: The values ``Trace(graph_type=...)`` accepts.
GRAPH_TYPES = ("flat", "dense", "provenance")

Site = dict[str, Any]
SiteFilter = Callable[[str, Site], bool]


def _site_score_parts(site: Site) -> ScoreParts:
    fn = site["fn"]
    args = site.get("args", ())
    kwargs = site.get("kwargs", {})
    method = getattr(fn, "score_parts", None)
    if method is not None:
        parts = method(site["value"], *args, **kwargs)
        return parts if isinstance(parts, ScoreParts) else ScoreParts(*parts)
    # A plain torch distribution: reparameterized sites are differentiated
    # pathwise (no score term); the others need the score-function estimator.
    log_prob = site.get("unscaled_log_prob")
    if log_prob is None:
        log_prob = fn.log_prob(site["value"], *args, **kwargs)
    if getattr(fn, "has_rsample", False):
        return ScoreParts(log_prob, 0.0, log_prob)
    return ScoreParts(log_prob, log_prob, 0.0)


def allow_all_sites(name: str, site: Site) -> bool:
    """The default ``site_filter``: keep every site.

    >>> allow_all_sites("z", {})
    True
    """
    return True


class Trace:
    """The sites of one run, in order, with dependency edges between them.

    :param graph_type: ``"flat"``, ``"dense"`` or ``"provenance"``.
    :raises HandlerAssertionError: (an ``AssertionError``, as Pyro's) for any
        other ``graph_type``.

    >>> tr = Trace()
    >>> tr.add_node("a", name="a", type="param", value=1.0)
    >>> tr.add_node("b", name="b", type="param", value=2.0)
    >>> tr.add_edge("a", "b")
    >>> tr.topological_sort(reverse=True), tr.param_nodes
    (['b', 'a'], ['a', 'b'])
    """

    def __init__(self, graph_type: str = "flat") -> None:
        if graph_type not in GRAPH_TYPES:
            raise HandlerAssertionError(
                f"Trace: unknown graph_type {graph_type!r}; expected one of "
                f"{', '.join(repr(g) for g in GRAPH_TYPES)}"
            )
        self.graph_type = graph_type
        self.nodes: OrderedDict[str, Site] = OrderedDict()
        self._succ: OrderedDict[str, set[str]] = OrderedDict()
        self._pred: OrderedDict[str, set[str]] = OrderedDict()
        # Filled by symbolize_dims / pack_tensors.
        self.plate_to_symbol: dict[str, str] = {}
        self.symbol_to_dim: dict[str, int] = {}

    def __repr__(self) -> str:
        names = list(self.nodes)
        shown = ", ".join(repr(n) for n in names[:8])
        if len(names) > 8:
            shown += f", ... ({len(names) - 8} more)"
        n_edges = sum(len(s) for s in self._succ.values())
        return f"Trace(graph_type={self.graph_type!r}, sites=[{shown}], edges={n_edges})"

    def __contains__(self, name: object) -> bool:
        return name in self.nodes

    def __iter__(self) -> Iterator[str]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    # -- graph -----------------------------------------------------------
    def add_node(self, site_name: str, **kwargs: Any) -> None:
        """Append a site.  A param site registered again replaces its node (and
        keeps its position and edges), and so does a site that :meth:`add_edge`
        created empty; any other repeated name is an error, except that the
        index site of a plate that does not subsample may repeat once that plate
        has been left (the second is dropped: building such a plate again, e.g.
        inside a loop, is harmless, where Pyro refuses).  Two active plates of one
        name (nested) are an error, as in Pyro.

        :param site_name: the site's name.
        :param kwargs: the node's fields (a message's keys).
        :raises DuplicateSiteError: (a ``RuntimeError``) if a site of that name exists.

        >>> tr = Trace()
        >>> tr.add_node("x", name="x", type="sample")
        >>> tr.add_node("x", name="x", type="sample")
        Traceback (most recent call last):
        ...
        tracegraph.errors.DuplicateSiteError: Multiple sites named 'x': ...
        """
        old = self.nodes.get(site_name)
        if old is None:
            self.nodes[site_name] = kwargs
            self._succ[site_name] = set()
            self._pred[site_name] = set()
            return
        old_type = old.get("type")
        new_type = kwargs.get("type")
        if (old_type == "param" and new_type == "param") or not old:
            self.nodes[site_name] = kwargs
            return
        if _same_full_plate(old, kwargs) and not _plate_active(site_name):
            return
        if site_is_subsample(kwargs):
            hint = (
                f"a plate records its indices as a site named after it, so plates in "
                f"one run need distinct names (and a plate that subsamples must be built "
                f"once and entered again, e.g. plate '{site_name}' before the loop)"
            )
        else:
            hint = (
                "give each site a unique name (e.g. f'x_{i}' in a loop), or use a plate for "
                "conditionally independent copies"
            )
        raise DuplicateSiteError(
            f"Multiple sites named '{site_name}': the trace already has a {old_type} site "
            f"'{site_name}' and got a {new_type} site with the same name; hint: {hint}"
        )

    def _require(self, site_name: str) -> None:
        if site_name not in self.nodes:
            known = list(self.nodes)
            shown = ", ".join(repr(n) for n in known[:10]) + (", ..." if len(known) > 10 else "")
            raise UnknownSiteError(f"no site named {site_name!r} in the trace (sites: {shown})")

    def add_edge(self, site1: str, site2: str) -> None:
        """Add the edge ``site1 -> site2`` (``site2`` depends on ``site1``).  A site
        not in the trace yet is added first with an empty node (as in Pyro), which
        a later :meth:`add_node` fills in.

        >>> tr = Trace()
        >>> tr.add_node("a", name="a", type="param")
        >>> tr.add_edge("a", "b"); tr.successors("a"), tr.predecessors("b"), tr.nodes["b"]
        ({'b'}, {'a'}, {})
        """
        for name in (site1, site2):
            if name not in self.nodes:
                self.nodes[name] = {}
                self._succ[name] = set()
                self._pred[name] = set()
        self._succ[site1].add(site2)
        self._pred[site2].add(site1)

    def remove_node(self, site_name: str) -> None:
        """Remove a site and every edge touching it.

        :raises UnknownSiteError: (a ``KeyError``) if the site is not in the trace.

        >>> tr = Trace()
        >>> for n in "ab":
        ...     tr.add_node(n, name=n, type="param")
        >>> tr.add_edge("a", "b"); tr.remove_node("b"); list(tr.nodes), tr.successors("a")
        (['a'], set())
        """
        self._require(site_name)
        del self.nodes[site_name]
        for p in self._pred.pop(site_name):
            self._succ[p].discard(site_name)
        for s in self._succ.pop(site_name):
            self._pred[s].discard(site_name)

    def predecessors(self, site_name: str) -> set[str]:
        """The sites with an edge into ``site_name`` (a set, yours to keep).

        >>> tr = Trace(); tr.add_node("a", type="param"); tr.predecessors("a")
        set()
        """
        self._require(site_name)
        return set(self._pred[site_name])

    def successors(self, site_name: str) -> set[str]:
        """The sites ``site_name`` has an edge to (a set, yours to keep).

        >>> tr = Trace(); tr.add_node("a", type="param"); tr.successors("a")
        set()
        """
        self._require(site_name)
        return set(self._succ[site_name])

    @property
    def edges(self) -> Iterator[tuple[str, str]]:
        """Every edge ``(site1, site2)``.

        >>> tr = Trace(); tr.add_node("a", type="param"); list(tr.edges)
        []
        """
        for name, succ in self._succ.items():
            for s in succ:
                yield name, s

    def topological_sort(self, reverse: bool = False) -> list[str]:
        """Site names, each after all its predecessors, in Pyro's order: a
        depth-first search from each site in insertion order, along the edges,
        lists a site once everything after it is listed; the result is that list
        reversed (so without edges the last site added comes first).

        Where Pyro's order depends on the iteration order of a set of successors,
        successors are visited in insertion order here, so the result never
        changes from run to run.  Iterative, so long chains do not hit the
        recursion limit.

        :param reverse: return the order reversed (each site before its predecessors).
        :raises SiteError: if the edges contain a cycle (Pyro returns an order that
            ignores some edge).

        >>> tr = Trace()
        >>> for n in "abc":
        ...     tr.add_node(n, type="param")
        >>> tr.topological_sort()
        ['c', 'b', 'a']
        >>> tr.add_edge("a", "c"); tr.topological_sort()
        ['b', 'a', 'c']
        """
        index = {name: i for i, name in enumerate(self.nodes)}

        def successors(name: str) -> Iterator[str]:
            succ = self._succ[name]
            return iter(sorted(succ, key=index.__getitem__) if len(succ) > 1 else succ)

        on_path: dict[str, None] = {}  # the current search path, in order
        done: set[str] = set()
        finished: list[str] = []
        for root in self.nodes:
            if root in done:
                continue
            on_path[root] = None
            stack = [(root, successors(root))]
            while stack:
                name, todo = stack[-1]
                for succ in todo:
                    if succ in on_path:
                        path = list(on_path)
                        cycle = path[path.index(succ) :]
                        shown = ", ".join(repr(n) for n in cycle[:10])
                        raise SiteError(
                            f"the trace's edges contain a cycle through {shown}"
                            f"{', ...' if len(cycle) > 10 else ''}; hint: an edge a -> b "
                            "must mean that b was computed from a"
                        )
                    if succ not in done:
                        on_path[succ] = None
                        stack.append((succ, successors(succ)))
                        break
                else:
                    stack.pop()
                    del on_path[name]
                    done.add(name)
                    finished.append(name)
        if not reverse:
            finished.reverse()
        return finished

    def copy(self) -> Trace:
        """A copy whose nodes (dicts, and their ``infer`` dicts) and edge sets are
        new, so that editing the copy never changes this trace.  Values and
        distributions are shared, not cloned.

        >>> tr = Trace(); tr.add_node("a", type="param"); tr.add_node("b", type="param")
        >>> tr2 = tr.copy(); tr2.add_edge("a", "b"); list(tr.edges)
        []
        """
        new = type(self).__new__(type(self))
        new.graph_type = self.graph_type
        new.nodes = OrderedDict()
        for name, site in self.nodes.items():
            node = dict(site)
            if isinstance(node.get("infer"), dict):
                node["infer"] = dict(node["infer"])
            new.nodes[name] = node
        new._succ = OrderedDict((n, set(s)) for n, s in self._succ.items())
        new._pred = OrderedDict((n, set(p)) for n, p in self._pred.items())
        new.plate_to_symbol = dict(self.plate_to_symbol)
        new.symbol_to_dim = dict(self.symbol_to_dim)
        return new

    def detach_(self) -> None:
        """Detach the value of every sample site, in place.

        >>> tr = Trace(); tr.add_node("z", type="sample", value=torch.ones(1, requires_grad=True))
        >>> tr.detach_(); tr.nodes["z"]["value"].requires_grad
        False
        """
        for site in self.nodes.values():
            if site.get("type") == "sample" and isinstance(site.get("value"), torch.Tensor):
                site["value"] = site["value"].detach()

    # -- node lists --------------------------------------------------------
    @property
    def observation_nodes(self) -> list[str]:
        """Names of observed sample sites.

        >>> Trace().observation_nodes
        []
        """
        return [
            n for n, s in self.nodes.items() if s.get("type") == "sample" and s.get("is_observed")
        ]

    @property
    def stochastic_nodes(self) -> list[str]:
        """Names of unobserved sample sites.

        >>> Trace().stochastic_nodes
        []
        """
        return [
            n
            for n, s in self.nodes.items()
            if s.get("type") == "sample" and not s.get("is_observed")
        ]

    @property
    def param_nodes(self) -> list[str]:
        """Names of param sites.

        >>> Trace().param_nodes
        []
        """
        return [n for n, s in self.nodes.items() if s.get("type") == "param"]

    @property
    def reparameterized_nodes(self) -> list[str]:
        """Names of unobserved sample sites whose ``fn.has_rsample`` is true.

        >>> Trace().reparameterized_nodes
        []
        """
        return [
            n
            for n, s in self.nodes.items()
            if s.get("type") == "sample"
            and not s.get("is_observed")
            and getattr(s.get("fn"), "has_rsample", False)
        ]

    @property
    def nonreparam_stochastic_nodes(self) -> list[str]:
        """Names of unobserved sample sites that are not reparameterized (the
        *non-reparameterized sites*, which need the score-function estimator).

        >>> Trace().nonreparam_stochastic_nodes
        []
        """
        reparam = set(self.reparameterized_nodes)
        return [n for n in self.stochastic_nodes if n not in reparam]

    def iter_stochastic_nodes(self) -> Iterator[tuple[str, Site]]:
        """Yield ``(name, node)`` for each unobserved sample site.

        >>> list(Trace().iter_stochastic_nodes())
        []
        """
        for name, site in self.nodes.items():
            if site.get("type") == "sample" and not site.get("is_observed"):
                yield name, site

    # -- log-probabilities ---------------------------------------------------
    def _failure(self, exc: BaseException, name: str, what: str) -> BaseException:
        # The exception to raise for ``exc``, raised while computing ``what`` at
        # site ``name``: ``exc`` with notes, or a clearer error in its place.
        fn = self.nodes[name].get("fn")
        if isinstance(fn, type) and isinstance(exc, TypeError):
            # torch's message would name the unbound method's internal class.
            err = class_fn_error(name, fn, f"its {what} cannot be computed")
            err.__suppress_context__ = True
            exc = err
        try:
            where = describe_site(self.nodes[name])
        except Exception:  # noqa: BLE001 - the original error matters more
            where = f"site '{name}'"
        exc.add_note(f"while computing {what} at {where}")
        hint = fn_hint(name, fn)
        if hint is not None:
            exc.add_note(hint)
        try:
            exc.add_note(self.format_shapes(last_site=name))
        except Exception as table_exc:  # noqa: BLE001 - the original error matters more
            exc.add_note(f"(shape table unavailable: {table_exc!r})")
        scrub_tracked_names(exc)
        # Tells the trace handler that the table is already attached.
        exc._tracegraph_shapes_noted = True  # type: ignore[attr-defined]
        return exc

    def _memoize(
        self,
        name: str,
        site: Site,
        validate: bool,
        sums: bool,
        score_parts: bool = False,
        parts: bool = True,
    ) -> None:
        # The one place a sample site's log-density fields are computed:
        # ``unscaled_log_prob``, ``log_prob`` (scaled and masked), ``score_parts``
        # when asked, and ``log_prob_sum`` when asked; each once.  With
        # ``parts=False`` (log_prob_sum) a missing log_prob is computed but only
        # its sum is stored, as Pyro's log_prob_sum does.
        fresh = False
        log_p: Any = site.get("log_prob")
        if score_parts and "score_parts" not in site:
            try:
                score = _site_score_parts(site)
                if validate:
                    trace_shapes.check_log_prob_shape(name, site, score.log_prob)
                site["unscaled_log_prob"] = score.log_prob
                # As in Pyro, the score function stays unscaled and unmasked.
                score = score.scale_and_mask(site.get("scale", 1.0), site.get("mask"))
            except Exception as exc:
                raise self._failure(exc, name, "score_parts")  # noqa: B904 - exc or its stand-in
            site["score_parts"] = score
            site["log_prob"] = log_p = score.log_prob
            fresh = True
        elif log_p is None:
            try:
                log_p = site["fn"].log_prob(
                    site["value"], *site.get("args", ()), **site.get("kwargs", {})
                )
                if validate:
                    trace_shapes.check_log_prob_shape(name, site, log_p)
                if parts:
                    site["unscaled_log_prob"] = log_p
                log_p = scale_and_mask(log_p, site.get("scale", 1.0), site.get("mask"))
            except Exception as exc:
                raise self._failure(exc, name, "log_prob")  # noqa: B904 - exc or its stand-in
            if parts:
                site["log_prob"] = log_p
            fresh = True
        if sums and "log_prob_sum" not in site:
            log_p_sum = _sum(log_p)
            site["log_prob_sum"] = log_p_sum
            if fresh and validate:
                _warn_if_not_finite(name, log_p_sum)
        elif fresh and validate:
            _warn_if_not_finite(name, _sum(log_p))

    def log_prob_sum(self, site_filter: SiteFilter = allow_all_sites) -> Any:
        """The sum of the scaled and masked log-probabilities of the sample sites
        (observed ones included) that ``site_filter(name, node)`` keeps.  Memoized
        per site as ``log_prob_sum`` (only that key is set, as in Pyro; see
        :meth:`compute_log_prob` for the per-element log-probs).

        :param site_filter: which sites to count.
        :returns: a scalar tensor, or ``0.0`` when no site counts.

        >>> tr = Trace()
        >>> tr.add_node("x", type="sample", fn=torch.distributions.Bernoulli(0.5),
        ...             value=torch.tensor(1.0), is_observed=True, scale=2.0)
        >>> round(tr.log_prob_sum().item(), 4)
        -1.3863
        """
        # Summed without a leading 0.0: adding a Python number to a tensor costs
        # twice what adding two tensors does, and this runs every step.
        result: Any = None
        terms = 0
        validate = is_validation_enabled()
        for name, site in self.nodes.items():
            if site.get("type") != "sample" or not site_filter(name, site):
                continue
            if "log_prob_sum" not in site:
                self._memoize(name, site, validate, sums=True, parts=False)
            log_p = site["log_prob_sum"]
            result = log_p if result is None else result + log_p
            terms += 1
        if result is None:
            return 0.0
        if terms == 1 and isinstance(result, torch.Tensor):
            # Never hand out the memoized tensor itself: an in-place update by
            # the caller would change the site's log_prob_sum.
            return result.clone()
        return result

    def compute_log_prob(
        self, site_filter: SiteFilter = allow_all_sites, sums: bool = True
    ) -> None:
        """Set ``unscaled_log_prob``, ``log_prob`` (scaled and masked, batch-shaped)
        and ``log_prob_sum`` at each sample site ``site_filter`` keeps.  Memoized.

        :param sums: also set ``log_prob_sum``; with ``False`` it is left for
            :meth:`log_prob_sum` to compute when asked (one op less per site for
            callers that read ``log_prob`` only).

        :raises ShapeError: under validation, if a log_prob's shape is not the
            value's batch shape broadcast with the distribution's ``batch_shape``.

        >>> tr = Trace()
        >>> tr.add_node("z", type="sample", fn=torch.distributions.Normal(torch.zeros(3), 1.0),
        ...             value=torch.zeros(3), mask=torch.tensor([True, False, True]))
        >>> tr.compute_log_prob(); tr.nodes["z"]["log_prob"]
        tensor([-0.9189,  0.0000, -0.9189])
        """
        validate = is_validation_enabled()
        for name, site in self.nodes.items():
            if site.get("type") == "sample" and site_filter(name, site):
                self._memoize(name, site, validate, sums)

    def compute_score_parts(
        self, site_filter: SiteFilter = allow_all_sites, sums: bool = True
    ) -> None:
        """Set ``score_parts`` (a :class:`ScoreParts`, scaled and masked; the score
        function stays unscaled), ``unscaled_log_prob``, ``log_prob`` and
        ``log_prob_sum`` at each sample site.  Memoized.  A site whose ``fn`` has no
        ``score_parts`` method gets the convention: reparameterized ->
        ``(log_prob, 0, log_prob)``, otherwise ``(log_prob, log_prob, 0)``.

        :param sums: as for :meth:`compute_log_prob`.

        >>> tr = Trace()
        >>> tr.add_node("b", type="sample", fn=torch.distributions.Bernoulli(0.5),
        ...             value=torch.tensor(1.0), scale=2.0)
        >>> tr.compute_score_parts(); tr.nodes["b"]["score_parts"]
        ScoreParts(log_prob=tensor(-1.3863), score_function=tensor(-0.6931), entropy_term=0.0)
        """
        validate = is_validation_enabled()
        for name, site in self.nodes.items():
            if site.get("type") == "sample" and site_filter(name, site):
                self._memoize(name, site, validate, sums, score_parts=True)

    # -- shapes ---------------------------------------------------------------
    def format_shapes(self, title: str = "Trace Shapes:", last_site: str | None = None) -> str:
        """A table of every site's shapes; see
        :func:`~tracegraph.poutine.trace_shapes.format_shapes`.

        >>> print(Trace().format_shapes())
        Trace Shapes:
        """
        return trace_shapes.format_shapes(self.nodes, title=title, last_site=last_site)

    def symbolize_dims(self, plate_to_symbol: dict[str, str] | None = None) -> None:
        """Give each plate dim (and enumeration dim) a symbol; see
        :func:`~tracegraph.poutine.trace_shapes.symbolize_dims`.

        >>> tr = Trace(); tr.symbolize_dims(); tr.plate_to_symbol
        {}
        """
        self.plate_to_symbol, self.symbol_to_dim = trace_shapes.symbolize_dims(
            self.nodes, plate_to_symbol
        )

    def pack_tensors(self, plate_to_symbol: dict[str, str] | None = None) -> None:
        """Compute log-probs if needed, then store packed copies in each sample
        site's ``packed`` dict; see :func:`~tracegraph.poutine.trace_shapes.pack_site`.

        >>> tr = Trace(); tr.pack_tensors(); tr.symbol_to_dim
        {}
        """
        self.compute_log_prob()
        self.symbolize_dims(plate_to_symbol)
        for name, site in self.nodes.items():
            if site.get("type") != "sample":
                continue
            try:
                trace_shapes.pack_site(name, site)
            except Exception as exc:
                raise self._failure(exc, name, "packed tensors")  # noqa: B904 - exc or its stand-in


def _same_full_plate(old: Site, new: Site) -> bool:
    # Both are the index site of a plate of the same size that does not subsample.
    a: Any = old.get("fn")
    b: Any = new.get("fn")
    return (
        site_is_subsample(old)
        and site_is_subsample(new)
        and a.size == b.size == a.subsample_size == b.subsample_size
    )


def _plate_active(name: str) -> bool:
    # A plate of this name is entered right now (the new one would nest in it).
    return any(
        isinstance(h, SubsampleMessenger) and h.name == name for h in get_handler_stack()
    )


def _warn_if_not_finite(name: str, log_p_sum: Any) -> None:
    # As Pyro under validation: a NaN or +inf log-density is a bug; -inf is an
    # impossible value, which is legitimate.  Checked on the value only (one
    # comparison per site; Pyro also hooks the gradient, which costs a hook per
    # site and step and only repeats a NaN that reached the loss).
    value = float(log_p_sum.detach()) if isinstance(log_p_sum, torch.Tensor) else log_p_sum
    if math.isfinite(value) or value == -math.inf:
        return
    msg = f"log_prob_sum at site '{name}'"
    warn_if_nan(value, msg)
    warn_if_inf(value, msg, allow_neginf=True)


def _sum(log_p: Any) -> Any:
    # A tracked log-prob's sum has the same provenance; summing untracked and
    # tagging the result is cheaper than dispatching the sum through tracking,
    # and this runs at every site of every step.
    if isinstance(log_p, torch.Tensor):
        return reduce_untracked(log_p, torch.Tensor.sum)
    return log_p
