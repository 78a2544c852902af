"""Attach provenance to sample sites: the messenger between ``ops.provenance`` and
the trace.

:class:`TrackProvenanceMessenger` does two things while a program runs:

* it *tags* the value of each chosen latent site with ``{name}``, so every value
  computed from it carries that name (:mod:`tracegraph.ops.provenance`), and
  adds to every latent value the control-flow provenance recorded at its site
  (the value was drawn from a distribution those sites chose);
* it opens a control-flow scope and stores, on every sample site, the provenance
  that had leaked into Python control flow (``bool(t)``, ``t.item()``, indexing
  with a tensor, ...) before the site ran, under ``msg["control_provenance"]``.
  The site's existence and its distribution may depend on those values, so they
  count as its dependencies ("everything that runs afterwards depends on it").

:func:`site_dependencies` combines both into the set of sites a site's log-prob
depends on; :func:`~tracegraph.poutine.edges.identify_provenance_edges` turns them into trace edges
(``poutine.trace(model, graph_type="provenance")``).

>>> import torch
>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> from tracegraph import poutine
>>> def model():
...     a = tracegraph.sample("a", dist.Bernoulli(0.5))
...     if a.item() == 1.0:  # control flow: "x" exists because of "a"
...         tracegraph.sample("x", dist.Normal(0.0, 1.0))
...     else:
...         tracegraph.sample("x", dist.Normal(5.0, 1.0))
>>> tr = poutine.trace(model, graph_type="provenance").get_trace()
>>> sorted(tr.predecessors("x"))
['a']
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from typing import Any

import torch

from tracegraph.distributions.validation import is_validation_enabled
from tracegraph.errors import ProvenanceError, TracegraphWarning
from tracegraph.ops.provenance import (
    UNTRACKABLE_WRITE,
    Claim,
    aligning,
    check_site_inputs,
    claims_of,
    control_flow_scope,
    detach_provenance,
    get_provenance,
    is_strict,
    names_of,
    raw_provenance,
    remember_storage,
    retag,
    scrub_tracked_names,
    strict_watch,
    take_raised,
    track_provenance,
    value_claims,
)
from tracegraph.poutine.messenger import Messenger
from tracegraph.poutine.runtime import Message
from tracegraph.poutine.sites import site_is_latent, site_is_nonreparam

__all__ = [
    "TrackProvenanceMessenger",
    "site_dependencies",
]


class TrackProvenanceMessenger(Messenger):
    """Tag chosen latent sites with their own name and record control-flow leaks.

    :param tag: which sites to tag: a predicate on the message, ``"latent"`` (every
        latent sample site, the default), ``"nonreparam"`` (non-reparameterized
        latent sites) or ``None`` (tag nothing; only record control flow).
    :param direct: tag a tagged site's value with its own name only and record
        what the value was computed from under ``msg["value_parents"]``, so that
        every provenance set holds direct dependencies (linear memory on a long
        chain; the transitive sets are recovered on demand, see
        :func:`~tracegraph.poutine.edges.transitive_dependencies`).  By default a
        value carries everything it was computed from, transitively.

    >>> import tracegraph
    >>> import tracegraph.distributions as dist
    >>> from tracegraph import poutine
    >>> def chain():
    ...     a = tracegraph.sample("a", dist.Normal(0.0, 1.0))
    ...     b = tracegraph.sample("b", dist.Normal(a, 1.0))
    ...     return tracegraph.sample("c", dist.Normal(b, 1.0))
    >>> with TrackProvenanceMessenger(direct=True):
    ...     tr = poutine.trace(chain).get_trace()
    >>> sorted(get_provenance(tr.nodes["c"]["value"])), sorted(tr.nodes["c"]["value_parents"])
    (['c'], ['b'])
    """

    def __init__(
        self, tag: Callable[[Message], bool] | str | None = "latent", direct: bool = False
    ) -> None:
        super().__init__()
        self._direct = direct
        if tag == "latent":
            self._tag: Callable[[Message], bool] | None = site_is_latent
        elif tag == "nonreparam":
            self._tag = site_is_nonreparam
        elif tag is None or callable(tag):
            self._tag = tag  # type: ignore[assignment]
        else:
            raise ValueError(
                f"tag must be 'latent', 'nonreparam', None or a predicate, got {tag!r}"
            )
        self._scope_cm: AbstractContextManager[Any] | None = None
        self._watch_cm: AbstractContextManager[Any] | None = None
        self._scope: Any = None

    def __enter__(self) -> TrackProvenanceMessenger:
        take_raised()  # (events from before this run are not its own)
        self._scope_cm = control_flow_scope()
        self._scope = self._scope_cm.__enter__()
        # Strict mode also watches the dispatcher for paths no rule sees (watch.py).
        self._watch_cm = strict_watch()
        try:
            self._watch_cm.__enter__()
            try:
                super().__enter__()
            except BaseException:
                self._watch_cm.__exit__(None, None, None)
                raise
        except BaseException:
            self._scope_cm.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        if exc_value is not None:
            # Torch's messages may name the tracked class (an internal detail).
            scrub_tracked_names(exc_value)
        try:
            super().__exit__(exc_type, exc_value, traceback)
        finally:
            assert self._scope_cm is not None and self._watch_cm is not None
            try:
                self._watch_cm.__exit__(exc_type, exc_value, traceback)
            finally:
                self._scope_cm.__exit__(exc_type, exc_value, traceback)

    def _pyro_sample(self, msg: Message) -> None:
        raised = take_raised()
        if raised:
            _caught(raised, str(msg["name"]))
        leaked = self._scope.provenance
        if leaked:
            previous = msg.get("control_provenance", frozenset())
            msg["control_provenance"] = previous | leaked

    def _pyro_post_sample(self, msg: Message) -> None:
        scored = _SCORE_SITES.get()
        if scored is not None and msg["name"] not in scored and site_is_nonreparam(msg):
            scored.add(str(msg["name"]))
        if is_strict() or is_validation_enabled():
            # A plain alias of tracked memory that no op made (.data =, set_()):
            # its dependency cannot be seen, so say so here.
            check_site_inputs(str(msg["name"]), _plain_inputs(msg))
        # A predicate may also pick sites that are not latent (deterministic sites:
        # a recorded intermediate that costs depend on through its value).
        tagged = self._tag is not None and self._tag(msg)
        if not tagged and not site_is_latent(msg):
            return
        # A latent value drawn after control flow was decided depends on the sites
        # that decided it (they chose its distribution), tagged or not.
        extra: frozenset[str] = msg.get("control_provenance") or frozenset()
        if aligning() and isinstance(msg["value"], torch.Tensor):
            msg["value"] = _aligned_value(msg, tagged, extra)
            _remember(msg, tagged)
            return
        if tagged and self._direct and isinstance(msg["value"], torch.Tensor):
            # What the value was computed from stays at the site; the value itself
            # stands for the site alone (direct dependencies only).
            value = msg["value"]
            msg["value_parents"] = get_provenance(value) | extra
            msg["value"] = track_provenance(detach_provenance(value), frozenset({msg["name"]}))
            _remember(msg, tagged)
            return
        if tagged:
            extra = extra | {str(msg["name"])}
        if extra:
            # Union, not replace: a value drawn from a distribution whose parameters
            # came from other sites depends on those sites too.
            value = msg["value"]
            msg["value"] = track_provenance(value, get_provenance(value) | extra)
        _remember(msg, tagged)


def _remember(msg: Message, tagged: bool) -> None:
    # Where this site's value lives, for the checks of plain aliases of it.
    if tagged and isinstance(msg["value"], torch.Tensor):
        remember_storage(msg["value"], frozenset({msg["name"]}))


def _plain_inputs(msg: Message) -> list[Any]:
    # The plain tensors a site's cost reads: its distribution's, its value, its mask.
    found = [msg["value"], msg.get("mask")]
    fn: Any = msg["fn"]
    for _ in range(4):  # a few wrappers deep (masked, independent, expanded)
        state = getattr(fn, "__dict__", {})
        found.extend(v for v in state.values() if type(v) is torch.Tensor)
        fn = state.get("base_dist")
        if fn is None:
            break
    return found


def _aligned_value(msg: Message, tagged: bool, control: frozenset[str]) -> Any:
    # Inside an estimator's completely tracked run (ops.provenance.aligned_run): the
    # value also carries plate claims, so that the plate rule can see whether a
    # cost element reads this site at another index of a plate.
    value = msg["value"]
    prov = raw_provenance(value)
    names = names_of(prov)
    if tagged:
        names = names | {msg["name"]}
        # A latent value is a draw from the site's distribution: its claims are
        # those of the distribution's inputs (whatever the sampler did inside)
        # plus the site's own.
        claims = value_claims(
            msg["fn"], value, msg["name"], msg["cond_indep_stack"], site_is_latent(msg)
        )
    else:
        claims = frozenset(claims_of(prov))
    if control:
        # Control flow is one global decision: mixed along every plate.
        names = names | control
        claims = claims | {Claim(c, None, None) for c in control}
    new = names | claims
    return value if new == prov else retag(value, new)


def site_dependencies(site: Any, log_prob: Any = None) -> frozenset[str]:
    """The sites a sample site's log-prob depends on (the site itself included when
    its value is tagged): the provenance of ``log_prob`` (computed here when not
    given) plus the control flow recorded before the site.

    :param site: a trace node.
    :param log_prob: the site's log-prob tensor, if already computed.

    >>> import torch
    >>> import tracegraph
    >>> import tracegraph.distributions as dist
    >>> from tracegraph import poutine
    >>> def model():
    ...     a = tracegraph.sample("a", dist.Normal(0.0, 1.0))
    ...     tracegraph.sample("b", dist.Normal(2 * a, 1.0))
    >>> with TrackProvenanceMessenger():
    ...     tr = poutine.trace(model).get_trace()
    >>> sorted(site_dependencies(tr.nodes["b"]))
    ['a', 'b']
    """
    if log_prob is None:
        log_prob = site["fn"].log_prob(site["value"], *site["args"], **site["kwargs"])
    deps: frozenset[str] = get_provenance(log_prob)
    control: frozenset[str] | None = site.get("control_provenance")
    if control:
        deps = deps | control
    return deps


#: The guide's sites with a score in the run under way (see :func:`score_sites`).
_SCORE_SITES: ContextVar[set[str] | None] = ContextVar("tracegraph_score_sites", default=None)


@contextmanager
def score_sites() -> Iterator[set[str]]:
    """Collect the non-reparameterized latent sites of a run (guide, then model):
    dependencies the rules could not follow are reported for these only, since
    a reparameterized site's dependencies enter no estimator.

    >>> import tracegraph, tracegraph.distributions as dist
    >>> from tracegraph.poutine import handlers
    >>> with score_sites() as found:
    ...     _ = handlers.trace(TrackProvenanceMessenger()(
    ...         lambda: tracegraph.sample("b", dist.Bernoulli(0.5)))).get_trace()
    >>> found
    {'b'}
    """
    found: set[str] = set()
    token = _SCORE_SITES.set(found)
    try:
        yield found
    finally:
        _SCORE_SITES.reset(token)


def _caught(raised: list[tuple[list[str], str]], site: str) -> None:
    # Dependencies the rules could not follow, noted since the last site: the
    # program caught an exception raised on tracked values (whether it raised is
    # a decision on them, and on the runs where nothing is raised there is no
    # event to record), or wrote tracked values into a parameter (kept as control
    # flow, conservative).  Said for sites with a score only, when known.
    scored = _SCORE_SITES.get()
    caught: set[str] = set()
    kinds: set[str] = set()
    written: set[str] = set()
    for names, kind in raised:
        keep = [n for n in names if scored is None or n in scored]
        if not keep:
            continue
        if kind == UNTRACKABLE_WRITE:
            written.update(keep)
        else:
            caught.update(keep)
            kinds.add(kind)
    if written:
        warnings.warn(
            f"before site '{site}', values of sites {sorted(written)} were written into "
            "a parameter (or another tensor that cannot carry provenance): every later "
            "site counts as depending on them (conservative: more variance, no bias).  "
            "Write into a fresh tensor to keep the dependency per value.",
            TracegraphWarning,
            stacklevel=5,
        )
    if not caught:
        return
    message = (
        f"before site '{site}', the program caught {' / '.join(sorted(kinds))} raised by "
        f"an op on values of sites {sorted(caught)}: whether it raises may depend on "
        "those values, and on the runs where it does not there is nothing to track, so "
        "the gradient estimator cannot see that decision (Rao-Blackwellized estimators "
        "may be biased).  Test the condition explicitly instead (`if i >= len(x):`, "
        "`torch.linalg.cholesky_ex` and its `info`), which is tracked as control flow."
    )
    if is_strict():
        raise ProvenanceError(message)
    warnings.warn(message, TracegraphWarning, stacklevel=5)
