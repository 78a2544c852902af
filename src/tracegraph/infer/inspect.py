"""Inspect a model's structure: which sites depend on which, and a picture of it.

Both functions run the model once with provenance tracking
(:mod:`tracegraph.ops.provenance`, Wingate et al. 2011): the value of each sample
site is tagged with the site's name, every value computed from it carries the
name along (in-place writes included), and whatever leaks into Python control
flow (``if z.item() > 0:``) before a site runs counts as a dependency of that
site (and of every later one: the rest of the program ran because of it).
Dependencies are *direct*, as in Pyro: a latent value is a fresh draw, so its
tag replaces whatever provenance its distribution's parameters gave it, and
``a -> b -> c`` yields ``c`` depending on ``b`` only.  The run happens under
``torch.no_grad()``, with distribution validation off as in Pyro (argument
checks are not part of the model's structure) and on a fork of torch's random
state, so inspecting a model leaves the global random stream where it was.

>>> import torch
>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> def model(data):
...     a = tracegraph.sample("a", dist.Normal(0.0, 1.0))
...     b = tracegraph.sample("b", dist.Normal(a, 1.0))
...     with tracegraph.plate("data", len(data)):
...         tracegraph.sample("x", dist.Normal(b, 1.0), obs=data)
>>> deps = get_dependencies(model, (torch.zeros(3),))
>>> deps["prior_dependencies"]["x"]
{'x': set(), 'b': set()}
>>> deps["posterior_dependencies"]["b"]
{'b': set(), 'x': set()}
>>> get_model_relations(model, (torch.zeros(3),))["sample_sample"]
{'a': [], 'b': ['a'], 'x': ['b']}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

import torch

from tracegraph.distributions import Delta, ExpandedDistribution, Independent, MaskedDistribution
from tracegraph.distributions.validation import validation_enabled
from tracegraph.infer.render import render_graph, write_graph
from tracegraph.ops.provenance import detach_provenance, get_provenance, track_provenance
from tracegraph.poutine.provenance_messenger import TrackProvenanceMessenger, site_dependencies
from tracegraph.poutine.runtime import Message
from tracegraph.poutine.sites import site_is_subsample
from tracegraph.poutine.trace_messenger import TraceHandler, TraceMessenger
from tracegraph.poutine.trace_struct import Trace

__all__ = ["get_dependencies", "get_model_relations", "is_sample_site", "render_model"]

# Distributions that only reshape, expand or mask another one: a site is named
# after the distribution inside them.
_WRAPPERS = (Independent, torch.distributions.Independent, MaskedDistribution, ExpandedDistribution)


def _base_dist(fn: Any) -> Any:
    while isinstance(fn, _WRAPPERS):
        fn = fn.base_dist
    return fn


def _is_deterministic(site: Mapping[str, Any]) -> bool:
    return bool((site.get("infer") or {}).get("_deterministic")) or isinstance(
        _base_dist(site["fn"]), Delta
    )


def is_sample_site(msg: Mapping[str, Any], *, include_deterministic: bool = False) -> bool:
    """Whether a trace node counts as a sample site for inspection.

    Sample sites count, observed ones included, except a plate's subsample
    indices and, unless ``include_deterministic``, deterministic sites (those of
    :func:`tracegraph.deterministic` and any site whose distribution is a
    :class:`~tracegraph.distributions.Delta`).  Leaving a deterministic site out
    loses no dependency: its value still carries the provenance of what it was
    computed from.

    :param msg: a trace node (a message).
    :param include_deterministic: count deterministic sites too.
    :returns: ``True`` if the site counts.

    >>> from tracegraph.poutine.runtime import new_message
    >>> is_sample_site(new_message("sample", "z", Delta(torch.tensor(1.0))))
    False
    >>> is_sample_site(new_message("sample", "z", Delta(torch.tensor(1.0))),
    ...                include_deterministic=True)
    True
    """
    if msg["type"] != "sample" or site_is_subsample(msg):
        return False
    return include_deterministic or not _is_deterministic(msg)


class _InspectProvenanceMessenger(TrackProvenanceMessenger):
    """Tag each counted sample site's value with the site's name, and each param's.

    Observed sites are tagged too: a model may compute a latent's parameters
    from an observed covariate (get_model_relations draws that edge,
    get_dependencies ignores it).  A latent value is a fresh draw that depends
    on earlier sites only through its distribution, which the site's own
    log-prob records; its provenance is replaced by its name, so that the
    dependencies found are direct ones, as in Pyro.  With ``cut_deterministic``
    a deterministic site's value is treated the same way (an intermediate node
    of the drawing); otherwise it keeps what it was computed from, so sites
    using it still depend on the latents behind it.
    """

    def __init__(self, include_deterministic: bool, cut_deterministic: bool) -> None:
        super().__init__(tag=None)  # the base class only records control flow here
        self.include_deterministic = include_deterministic
        self.cut_deterministic = cut_deterministic
        #: site name -> provenance of its value as the model computed it.
        self.value_provenance: dict[str, frozenset[str]] = {}

    def _pyro_post_sample(self, msg: Message) -> None:
        name = msg["name"]
        value = msg["value"]
        if value is None or name is None:
            return
        if not is_sample_site(msg, include_deterministic=self.include_deterministic):
            return
        self.value_provenance[name] = get_provenance(value)
        if not msg["is_observed"] or (self.cut_deterministic and _is_deterministic(msg)):
            value = detach_provenance(value)
        msg["value"] = track_provenance(value, frozenset((name,)))

    def _pyro_post_param(self, msg: Message) -> None:
        name = msg["name"]
        assert name is not None  # param() always names its site
        msg["value"] = track_provenance(msg["value"], frozenset((name,)))


def _check_args(
    model_args: tuple[Any, ...] | list[Any] | None, model_kwargs: dict[str, Any] | None
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    if model_args is None:
        model_args = ()
    if not isinstance(model_args, tuple | list):
        raise TypeError(
            f"model_args must be a tuple of positional arguments, got "
            f"{type(model_args).__name__}; hint: pass a single argument as (x,)"
        )
    if model_kwargs is None:
        model_kwargs = {}
    if not isinstance(model_kwargs, dict):
        raise TypeError(f"model_kwargs must be a dict, got {type(model_kwargs).__name__}")
    return tuple(model_args), model_kwargs


def _trace_with_provenance(
    model: Callable[..., Any],
    model_args: tuple[Any, ...] | list[Any] | None,
    model_kwargs: dict[str, Any] | None,
    include_deterministic: bool,
    cut_deterministic: bool,
    every_site: bool = False,
) -> tuple[Trace, dict[str, frozenset[str]]]:
    """Run the model once; return its trace and, for each counted sample site
    (with ``every_site``: each sample site, deterministic or not), the names its
    log-prob, value or existence depends on."""
    args, kwargs = _check_args(model_args, model_kwargs)
    deps: dict[str, frozenset[str]] = {}
    with torch.random.fork_rng(), torch.no_grad(), validation_enabled(False):
        # The tracker is the outer handler: post-processing runs outer handlers
        # first, so values are tagged before the trace records them.
        tracker = _InspectProvenanceMessenger(include_deterministic, cut_deterministic)
        with tracker:
            trace = TraceHandler(TraceMessenger(), model).get_trace(*args, **kwargs)
        for name, site in trace.nodes.items():
            if not is_sample_site(site, include_deterministic=include_deterministic or every_site):
                continue
            try:
                site_deps = site_dependencies(cast(Message, site))
            except Exception as exc:
                exc.add_note(f"while computing the dependencies of site '{name}'")
                raise
            if _is_deterministic(site):
                # A masked Delta's log-prob is a constant zero; what the site
                # depends on is what its value was computed from.
                # An untagged one's value still carries that provenance itself.
                value_prov = tracker.value_provenance.get(name)
                if value_prov is None:
                    value_prov = get_provenance(site["value"])
                site_deps = site_deps | value_prov
            deps[name] = site_deps
    return trace, deps


def get_dependencies(
    model: Callable[..., Any],
    model_args: tuple[Any, ...] | None = None,
    model_kwargs: dict[str, Any] | None = None,
    include_deterministic: bool = False,
) -> dict[str, dict[str, dict[str, set[str]]]]:
    """The prior and posterior dependency structure of a model (Pyro's rules).

    The model runs once as it is (observed sites stay observed) with provenance
    tracking.  Only sample sites count (see :func:`is_sample_site`); *latent*
    means not observed; plates are the vectorized plates around a site; sites
    are compared in the order they ran.

    ``prior_dependencies[d]`` (every sample site ``d``, latent or observed) maps
    ``d`` itself and each earlier latent site ``u`` whose value ``d``'s
    log-prob, value or existence was computed from (through tensor ops,
    in-place writes or control flow; not through another latent site) to a set
    of plates, always empty: provenance is tracked per tensor, so
    a dependency between two sites in a shared plate is taken as elementwise
    (as Pyro does).  A site outside a plate that uses a value inside it depends
    on every element; that needs no plate name.

    ``posterior_dependencies[u]`` (every latent site ``u``) maps the sites that
    ``u`` is coupled with in the posterior and that ran at or after ``u`` to the
    plates ``p`` in which the coupling is all-to-all (element ``i`` of one with
    element ``j != i`` of the other).  It is built in two steps:

    1. *reversal*: ``posterior[u][d] = prior[d][u]`` for every latent ``u`` in
       ``prior[d]`` (so each latent holds itself and its children, observed
       ones included);
    2. *moralization*: for every site ``d`` and every pair of latent sites
       ``u1, u2`` in ``prior[d]`` (``d`` itself included when latent, ``u1 = u2``
       allowed) with ``u2`` running first, ``posterior[u2][u1]`` gets (added to
       what it holds) ``(plates(u1) & plates(u2)) - plates(d)``: co-parents are
       married, and when their common child sits outside a plate both are in,
       the child sees all their elements at once.

    Worked example, the chain ``a -> b -> c`` with ``c`` observed: the prior is
    ``a: {a}``, ``b: {b, a}``, ``c: {c, b}``; reversal gives ``a: {a, b}`` and
    ``b: {b, c}``; moralization adds nothing (each site has one latent parent),
    so ``a`` and ``c`` stay independent given ``b``.  With a plate, see the
    second example below: ``b`` is outside plate ``p`` and uses all of ``a``, so
    ``a``'s elements are coupled with each other across ``p``.

    :param model: the model, a callable.
    :param model_args: positional arguments for the model.
    :param model_kwargs: keyword arguments for the model.
    :param include_deterministic: count deterministic sites (as observed ones).
    :returns: ``{"prior_dependencies": ..., "posterior_dependencies": ...}``.
    :raises TypeError: if ``model_args`` is not a tuple or ``model_kwargs`` not a dict.

    >>> import tracegraph
    >>> import tracegraph.distributions as dist
    >>> def chain():
    ...     a = tracegraph.sample("a", dist.Normal(0.0, 1.0))
    ...     b = tracegraph.sample("b", dist.Normal(a, 1.0))
    ...     tracegraph.sample("c", dist.Normal(b, 1.0), obs=torch.tensor(0.0))
    >>> get_dependencies(chain)  # doctest: +NORMALIZE_WHITESPACE
    {'prior_dependencies': {'a': {'a': set()}, 'b': {'b': set(), 'a': set()},
                            'c': {'c': set(), 'b': set()}},
     'posterior_dependencies': {'a': {'a': set(), 'b': set()},
                                'b': {'b': set(), 'c': set()}}}
    >>> def plated():
    ...     with tracegraph.plate("p", 2):
    ...         a = tracegraph.sample("a", dist.Normal(0.0, 1.0))
    ...     tracegraph.sample("b", dist.Normal(a.sum(), 1.0), obs=torch.tensor(0.0))
    >>> get_dependencies(plated)["posterior_dependencies"]
    {'a': {'a': {'p'}, 'b': set()}}
    """
    trace, deps = _trace_with_provenance(
        model, model_args, model_kwargs, include_deterministic, cut_deterministic=False
    )
    sites = [s for s in trace.nodes.values() if s["name"] in deps]
    names = [s["name"] for s in sites]
    observed = {s["name"] for s in sites if s["is_observed"]}
    plates = {s["name"]: {f.name for f in s["cond_indep_stack"] if f.vectorized} for s in sites}

    prior: dict[str, dict[str, set[str]]] = {}
    for i, name in enumerate(names):
        prior[name] = {name: set()}
        for upstream in names[:i]:
            if upstream not in observed and upstream in deps[name]:
                prior[name][upstream] = set()

    posterior: dict[str, dict[str, set[str]]] = {n: {} for n in names if n not in observed}
    for d, upstreams in prior.items():
        for u, p in upstreams.items():
            if u not in observed:
                posterior[u][d] = set(p)

    order = {name: i for i, name in enumerate(names)}
    for d, upstreams in prior.items():
        latent = [u for u in upstreams if u not in observed]
        for u1 in latent:
            for u2 in latent:
                if order[u2] <= order[u1]:
                    coupled = posterior[u2].setdefault(u1, set())
                    coupled |= (plates[u1] & plates[u2]) - plates[d]

    return {"prior_dependencies": prior, "posterior_dependencies": posterior}


def _dist_name(site: Mapping[str, Any]) -> str:
    if site["infer"].get("_deterministic"):
        return "Deterministic"
    return type(_base_dist(site["fn"])).__name__


def _param_constraint(site: Mapping[str, Any]) -> str:
    args = site["args"]
    constraint = args[2] if len(args) > 2 else site["kwargs"].get("constraint")
    return str(torch.distributions.constraints.real if constraint is None else constraint)


def get_model_relations(
    model: Callable[..., Any],
    model_args: tuple[Any, ...] | None = None,
    model_kwargs: dict[str, Any] | None = None,
    include_deterministic: bool = False,
) -> dict[str, Any]:
    """What each sample site is computed from, its distribution, and its plates.

    The model runs once with provenance tracking (as :func:`get_dependencies`),
    here with observed sites and params tagged too.  Names are listed in the
    order the sites ran.

    :param model: the model, a callable.
    :param model_args: positional arguments for the model.
    :param model_kwargs: keyword arguments for the model.
    :param include_deterministic: let deterministic sites be dependencies of
        later sites (otherwise a site using a deterministic value depends on
        what that value was computed from).  Deterministic sites are listed
        either way, as in Pyro: their distribution is named ``"Deterministic"``
        and they count as ``observed``.
    :returns: a dict with keys ``"sample_sample"`` (site -> the earlier sample
        sites, latent or observed, its log-prob, value or existence depends
        on), ``"sample_param"`` (site -> the params it depends on),
        ``"sample_dist"`` (site -> distribution class name, wrappers such as
        ``Independent`` removed), ``"param_constraint"`` (param -> its
        constraint as a string), ``"plate_sample"`` (plate -> the sites inside
        it, vectorized and sequential plates alike) and ``"observed"`` (the
        observed sites).
    :raises TypeError: if ``model_args`` is not a tuple or ``model_kwargs`` not a dict.

    >>> import tracegraph
    >>> import tracegraph.distributions as dist
    >>> def model():
    ...     s = tracegraph.param("s", torch.tensor(1.0), constraint=dist.constraints.positive)
    ...     a = tracegraph.sample("a", dist.Normal(0.0, s))
    ...     with tracegraph.plate("data", 2):
    ...         tracegraph.sample("x", dist.Normal(a, 1.0).mask(True), obs=torch.zeros(2))
    >>> get_model_relations(model)  # doctest: +NORMALIZE_WHITESPACE
    {'sample_sample': {'a': [], 'x': ['a']}, 'sample_param': {'a': ['s'], 'x': []},
     'sample_dist': {'a': 'Normal', 'x': 'Normal'},
     'param_constraint': {'s': 'GreaterThan(lower_bound=0.0)'},
     'plate_sample': {'data': ['x']}, 'observed': ['x']}
    """
    trace, deps = _trace_with_provenance(
        model, model_args, model_kwargs, include_deterministic, cut_deterministic=True,
        every_site=True,
    )
    sample_sample: dict[str, list[str]] = {}
    sample_param: dict[str, list[str]] = {}
    sample_dist: dict[str, str] = {}
    param_constraint: dict[str, str] = {}
    plate_sample: dict[str, list[str]] = {}
    observed: list[str] = []
    params = [name for name, site in trace.nodes.items() if site["type"] == "param"]
    for name, site in trace.nodes.items():
        if site["type"] == "param":
            param_constraint[name] = _param_constraint(site)
        if name not in deps:
            continue
        sample_sample[name] = [u for u in sample_sample if u in deps[name]]
        sample_param[name] = [p for p in params if p in deps[name]]
        sample_dist[name] = _dist_name(site)
        for frame in site["cond_indep_stack"]:
            members = plate_sample.setdefault(frame.name, [])
            # A sequential plate adds one frame per iteration; list a site once.
            if not members or members[-1] != name:
                members.append(name)
        if site["is_observed"]:
            observed.append(name)
    return {
        "sample_sample": sample_sample,
        "sample_param": sample_param,
        "sample_dist": sample_dist,
        "param_constraint": param_constraint,
        "plate_sample": plate_sample,
        "observed": observed,
    }


def render_model(
    model: Callable[..., Any],
    model_args: tuple[Any, ...] | None = None,
    model_kwargs: dict[str, Any] | None = None,
    filename: str | None = None,
    render_distributions: bool = False,
    render_params: bool = False,
    render_deterministic: bool = False,
) -> Any:
    """Draw the model as a graph: a node per sample site, an edge per dependency
    (:func:`get_model_relations`), a box per plate.

    Latent sites are white ellipses, observed ones grey, deterministic ones
    dashed, params plain text; see :func:`~tracegraph.infer.render.render_graph`
    for how plates that overlap without nesting are drawn.

    :param model: the model, a callable.
    :param model_args: positional arguments for the model.
    :param model_kwargs: keyword arguments for the model.
    :param filename: where to save the picture; the extension names the format
        (``.svg``, ``.png``, ``.pdf``, ...; ``.dot``/``.gv`` for the DOT source
        only).  The DOT source is always written next to it as ``<stem>.dot``;
        the picture needs Graphviz's ``dot`` program (a
        :class:`~tracegraph.errors.TracegraphWarning` says so when it is missing).
    :param render_distributions: add a legend naming each site's distribution
        (and each drawn param's constraint).
    :param render_params: draw params and their edges to sample sites.
    :param render_deterministic: draw edges through deterministic sites (they
        are drawn either way, as in Pyro).
    :returns: a ``graphviz.Digraph`` (displayed inline by Jupyter).
    :raises ImportError: if the ``graphviz`` Python package is not installed.
    :raises ValueError: if ``filename`` has no known format extension.

    >>> import tracegraph
    >>> import tracegraph.distributions as dist
    >>> def model():
    ...     a = tracegraph.sample("a", dist.Normal(0.0, 1.0))
    ...     with tracegraph.plate("data", 3):
    ...         tracegraph.sample("x", dist.Normal(a, 1.0), obs=torch.zeros(3))
    >>> print(render_model(model).source, end="")  # doctest: +NORMALIZE_WHITESPACE
    digraph {
        a [label=a fillcolor=white shape=ellipse style=filled]
        subgraph cluster_data {
            label=data labeljust=r labelloc=b
            x [label=x fillcolor=gray shape=ellipse style=filled]
        }
        a -> x
    }
    """
    relations = get_model_relations(
        model, model_args, model_kwargs, include_deterministic=render_deterministic
    )
    graph = render_graph(
        relations, render_distributions=render_distributions, render_params=render_params
    )
    if filename is not None:
        write_graph(graph, filename, stacklevel=3)
    return graph
