"""TraceGraph_ELBO: score-function gradients Rao-Blackwellized by provenance.

Each non-reparameterized guide site's score multiplies only the cost terms whose
provenance contains it: the costs computed from its value, plus the costs of sites
that ran after its value decided Python control flow (``if z.item(): ...``), since
their existence or distribution may depend on it.  The surrogate is built with
DiCE (see :mod:`tracegraph.infer.surrogate`), so its value is the ELBO and its first and
second derivatives are the estimator's.

>>> import torch
>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> def model():
...     tracegraph.sample("z", dist.Bernoulli(0.5))
>>> def guide():
...     p = tracegraph.param("p", torch.tensor(0.5), constraint=dist.constraints.unit_interval)
...     tracegraph.sample("z", dist.Bernoulli(p))
>>> abs(TraceGraph_ELBO().differentiable_loss(model, guide).item()) < 1e-6
True
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import torch

from tracegraph.errors import TracegraphWarning
from tracegraph.infer.baselines import Baselines, Run
from tracegraph.infer.elbo import ELBO, Program
from tracegraph.infer.rng import RngState, host_state
from tracegraph.infer.runs import Tracking, reproduced, trace_run
from tracegraph.infer.surrogate import Surrogate
from tracegraph.infer.terms import ParticleTerms, tracked_deps
from tracegraph.ops.provenance import detach_provenance
from tracegraph.poutine.provenance_messenger import TrackProvenanceMessenger
from tracegraph.poutine.trace_struct import Trace
from tracegraph.poutine.util import site_is_deterministic

__all__ = ["JitTraceGraph_ELBO", "TraceGraph_ELBO", "TrackNonReparam"]


class TrackNonReparam(TrackProvenanceMessenger):
    """Tag the values of non-reparameterized latent sites with their names (and
    record control-flow provenance at every site).

    >>> import tracegraph
    >>> import tracegraph.distributions as dist
    >>> from tracegraph.ops.provenance import get_provenance
    >>> with TrackNonReparam():
    ...     z = tracegraph.sample("z", dist.Bernoulli(0.5))
    >>> sorted(get_provenance(z))
    ['z']
    """

    def __init__(self) -> None:
        super().__init__("nonreparam")


class TraceGraph_ELBO(ELBO):
    """The ELBO with provenance-based Rao-Blackwellization and baselines.

    :param leave_one_out: give every non-reparameterized site without an explicit
        baseline the leave-one-out baseline (needs ``num_particles > 1``).

    Other arguments: see :class:`~tracegraph.infer.elbo.ELBO`.
    """

    # Tag non-reparameterized sites; raised to every latent site for a pair whose
    # plate rule needs to see paths through reparameterized ones.
    tracking = Tracking.NONREPARAM
    rao_blackwellize = True

    def __init__(self, *args: Any, leave_one_out: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if leave_one_out and self.num_particles < 2:
            raise ValueError("leave_one_out=True needs num_particles >= 2")
        self.leave_one_out = leave_one_out
        self.baselines = Baselines(leave_one_out)

    def _estimate(self, runs: list[Run], surrogate: Surrogate) -> tuple[torch.Tensor, torch.Tensor]:
        extra: torch.Tensor | None = None
        aux: torch.Tensor | None = None
        for b in self.baselines.values(runs, self.num_particles, self.particle_dim):
            term = surrogate.baseline_term(b.score, b.value)
            extra = term if extra is None else extra + term
            if b.training_loss is not None:
                aux = b.training_loss if aux is None else aux + b.training_loss
        loss, neg_elbo = self._particle_mean(runs, surrogate, extra)
        if aux is not None:
            # Trains learnable baselines without changing the loss's value.
            loss = loss + surrogate.auxiliary(aux)
        # A baseline fed tracked inputs would make the loss (and then gradients
        # from torch.autograd.grad) tracked; the loss carries no provenance.
        loss = detach_provenance(loss)
        return loss, (loss if surrogate.exact else neg_elbo)


class JitTraceGraph_ELBO(TraceGraph_ELBO):
    """TraceGraph_ELBO for models of static structure: the dependency sets found by
    tracking provenance are cached, and steps that hit the cache run model and
    guide untracked.

    The cache key is the *structure* (the sequence of sample sites with their
    observed flags, distribution classes and value shapes) plus the values of the
    sites that decided Python control flow in the tracked run of that structure,
    so two branches with the same sites but different data flow get their own
    dependency sets.  A step with a new key runs again with tracking, on the same
    draws: torch's generators are restored (and Python's and NumPy's, once a
    tracked run was seen to draw from them), and the second run is checked to
    draw the same values.  Once a structure's control flow is decided by a site
    without finite support (a continuous latent: every value is new), every later
    run is tracked, once, as in :class:`TraceGraph_ELBO`; past :attr:`max_tables`
    keys per structure, new keys run tracked without being stored, so the cache
    stays bounded.  What the key cannot see is control flow decided by something
    other than a site's value (a parameter, a global), as for any trace-based
    compiler: a model whose data flow changes that way must use
    :class:`TraceGraph_ELBO`.

    >>> import tracegraph
    >>> import tracegraph.distributions as dist
    >>> def model():
    ...     tracegraph.sample("z", dist.Bernoulli(0.5))
    >>> def guide():
    ...     p = tracegraph.param("p", torch.tensor(0.5), constraint=dist.constraints.unit_interval)
    ...     tracegraph.sample("z", dist.Bernoulli(p))
    >>> elbo = JitTraceGraph_ELBO()
    >>> losses = [elbo.loss(model, guide) for _ in range(3)]  # tracked once, then cached
    >>> sum(len(entry.tables) for entry in elbo._deps_cache.values())
    1
    """

    #: Dependency tables kept per structure before its new keys run tracked.
    max_tables = 256

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deps_cache: dict[tuple[Any, ...], _JitEntry] = {}
        # Set once a structure's control flow is decided by a continuous site:
        # keys never repeat, so every run is tracked (as TraceGraph_ELBO does),
        # once, instead of untracked first and then again.
        self._always_track = False
        # Set once a tracked run moved Python's or NumPy's generator: their state
        # is then saved before every untracked run too.
        self._host_generators = False

    def _run(
        self, model: Program, guide: Program, args: Any, kwargs: Any, tracking: Tracking
    ) -> tuple[ParticleTerms, Trace, Trace]:
        if self._always_track:
            # Every run is tracked the same way: no choice depends on the draw.
            return super()._run(model, guide, args, kwargs, tracking)
        if not self._deps_cache:
            return self._tracked_run(model, guide, args, kwargs, tracking)
        rng = RngState(host=self._host_generators)
        m, g = trace_run(model, guide, args, kwargs, Tracking.NONE)
        entry = self._deps_cache.get(_structure_key(m, g))
        found = None if entry is None else entry.tables.get(_values_key(g, entry.control_sites))
        # A table made under another completeness would give another estimator
        # than a tracked run of this mode gives: whether the key hits depends on
        # the draw, so both must give the same one.
        if found is not None and found[1] == tracking.complete:
            table = found[0]

            def deps_fn(log_prob: Any, site: Any, role: str) -> Any:
                return table[(role, site["name"])]

            return self._terms(m, g, tracking, deps_fn), m, g
        # A new key: find its dependencies with provenance tracking, on the same
        # random draws.
        rng.restore()
        terms, m2, g2 = self._tracked_run(model, guide, args, kwargs, tracking)
        differs = reproduced((m, g), (m2, g2))
        if differs is not None:
            self._host_generators = True
            warnings.warn(
                f"JitTraceGraph_ELBO: running the model and guide again on the same "
                f"random state gave another value at site '{differs}'; they draw from a "
                "generator other than torch's (Python's random, NumPy's) or read state "
                "that changed.  This step's estimate used the second run; later steps "
                "also save Python's and NumPy's generators.  Draw random numbers with "
                "torch, or use TraceGraph_ELBO.",
                TracegraphWarning,
                stacklevel=4,
            )
        return terms, m2, g2

    def _tracked_run(
        self, model: Program, guide: Program, args: Any, kwargs: Any, tracking: Tracking
    ) -> tuple[ParticleTerms, Trace, Trace]:
        watch = not self._host_generators
        before = host_state() if watch else None
        terms, m, g = super()._run(model, guide, args, kwargs, tracking)
        if watch and host_state() != before:
            self._host_generators = True
        control = _control_sites(m, g)
        structure = _structure_key(m, g)
        entry = self._deps_cache.get(structure)
        if entry is None or entry.control_sites != control:
            # Another branch of this structure may have found more deciding sites:
            # key on all of them from now on.
            merged = (
                control if entry is None else tuple(sorted(set(control) | set(entry.control_sites)))
            )
            entry = _JitEntry(merged, {})
            self._deps_cache[structure] = entry
            if not _all_finite(g, merged):
                self._always_track = True
        key = _values_key(g, entry.control_sites)
        if len(entry.tables) < self.max_tables or key in entry.tables:
            entry.tables[key] = (_deps_table(m, g), tracking.complete)
        return terms, m, g


@dataclass
class _JitEntry:
    control_sites: tuple[str, ...]
    tables: dict[tuple[Any, ...], tuple[_DepsTable, bool]]


def _all_finite(guide_trace: Trace, sites: tuple[str, ...]) -> bool:
    # Whether every deciding site has finite support (its values can repeat).
    for name in sites:
        site = guide_trace.nodes.get(name)
        if site is None or not getattr(site["fn"], "has_enumerate_support", False):
            return False
    return True


def _control_sites(model_trace: Trace, guide_trace: Trace) -> tuple[str, ...]:
    names: set[str] = set()
    for tr in (model_trace, guide_trace):
        for site in tr.nodes.values():
            names.update(site.get("control_provenance") or ())
    return tuple(sorted(names))


def _values_key(guide_trace: Trace, sites: tuple[str, ...]) -> tuple[Any, ...]:
    key: list[Any] = []
    for name in sites:
        site = guide_trace.nodes.get(name)
        value = None if site is None else site["value"]
        if isinstance(value, torch.Tensor):
            key.append(tuple(detach_provenance(value).detach().reshape(-1).tolist()))
        else:
            key.append(value)
    return tuple(key)


_DepsTable = dict[tuple[str, str], tuple[frozenset[str], frozenset[str]]]


def _structure_key(model_trace: Trace, guide_trace: Trace) -> tuple[Any, ...]:
    def key(tr: Trace) -> tuple[Any, ...]:
        return tuple(
            (
                name,
                site["is_observed"],
                type(site["fn"]).__name__,
                tuple(getattr(site["value"], "shape", ())),
            )
            for name, site in tr.nodes.items()
            if site["type"] == "sample"
        )

    return key(model_trace), key(guide_trace)


def _deps_table(model_trace: Trace, guide_trace: Trace) -> _DepsTable:
    """``(full, control)`` dependencies of every cost of a tracked run, keyed by
    ``(role, site name)``; the traces' log-probs are already computed."""
    table: _DepsTable = {}
    for role, tr in (("model", model_trace), ("guide", guide_trace)):
        for name, site in tr.nodes.items():
            if site_is_deterministic(site):
                # Read as an intermediate by the plate rule (see collect_terms).
                table[(role, name)] = tracked_deps(site["value"], site, role)
            elif site["type"] == "sample" and "log_prob" in site:
                table[(role, name)] = tracked_deps(site["log_prob"], site, role)
    return table
