"""A structure cache for any ELBO: steps of a seen structure run untracked.

:class:`CachedStructure` is mixed into an estimator (``JitTrace_ELBO``,
``JitTraceGraph_ELBO``, ``JitTraceMeanField_ELBO``).  The dependency sets found by
tracking provenance are cached per key, and runs that hit the cache run model and
guide untracked.

The cache key is the *structure* (the sequence of sample sites with their
observed flags, distribution classes and value shapes) plus the values of the
sites that decided Python control flow in the tracked run of that structure, so
two branches with the same sites but different data flow get their own
dependency sets.  A run with a new key runs again with tracking, on the same
draws: torch's generators are restored (and Python's and NumPy's, once a tracked
run was seen to draw from them), and the second run is checked to draw the same
values.  Once a structure's control flow is decided by a site without finite
support (a continuous latent: every value is new), every later run is tracked,
once, as without the cache; past ``max_tables`` keys per structure, new keys run
tracked without being stored, so the cache stays bounded.  What the key cannot
see is control flow decided by something other than a site's value (a
parameter, a global), as for any trace-based compiler: a model whose data flow
changes that way must use the estimator without the cache.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import torch

from tracegraph.distributions.validation import is_validation_enabled
from tracegraph.errors import TracegraphWarning
from tracegraph.infer.compiled import (
    _COMPILE_LOCK,
    MAX_PLANS,
    CompiledStepError,
    NotCompilable,
    Plan,
    prepare,
    split_arguments,
    trace_step,
)
from tracegraph.infer.elbo import ELBO, Program
from tracegraph.infer.runs import Tracking, reproduced, trace_run
from tracegraph.infer.terms import ParticleTerms, tracked_deps
from tracegraph.ops.provenance import detach_provenance
from tracegraph.ops.rng import RngState, host_state
from tracegraph.params import get_param_store
from tracegraph.poutine.trace_struct import Trace
from tracegraph.poutine.util import site_is_deterministic

__all__ = ["CachedStructure"]


class CachedStructure(ELBO):
    """Mix into an ELBO subclass (first in the bases) to cache dependency sets per
    structure; see the module docstring.
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
        # The compiled steps (tracegraph.infer.compiled): recorded paths, most
        # recently recorded first, and how to compile them.
        options = dict(self.jit_options or {})
        self._inductor = bool(options.pop("inductor", True))
        # Compile a plan once it has been replayed this often (a throwaway
        # estimator, or a test of a few steps, never pays for a compilation).
        self._compile_after = int(options.pop("compile_after", 10))
        self._inductor_options = dict(options.pop("compile_options", {}) or {})
        self._plans: list[Plan] = []
        self._plans_tracking = self._tracking
        self._not_compilable: str | None = None
        self._traces_tried = 0
        self._tables_only = False
        #: The param leaves of the last step that ran compiled (no param sites ran,
        #: so SVI reads them here).
        self.step_params: list[torch.Tensor] = []

    # -- the compiled step ------------------------------------------------------
    def loss_and_grads(self, model: Program, guide: Program, *args: Any, **kwargs: Any) -> float:
        """As :meth:`ELBO.loss_and_grads`; once the structure's dependencies are
        known, the step runs as a recorded graph (see
        :mod:`tracegraph.infer.compiled`), which gives the same loss and gradients
        as the eager step on the same draws."""
        self.step_params = []
        if not self._compiled_steps_possible():
            return super().loss_and_grads(model, guide, *args, **kwargs)
        # Recording and compiling need torch._dynamo and inductor: a background
        # thread loads them; until then the steps run eagerly.
        ready = prepare()
        flat, treedef = split_arguments(args, kwargs)
        for plan in self._plans:
            if not plan.inputs_match(flat, treedef):
                continue
            rng = RngState(host=self._host_generators)
            use_compiled = plan.compiled is not None
            out = plan.run(flat, use_compiled)
            if out is None and use_compiled and plan.compiled is None:
                # The compiled build raised and was dropped: replay the graph.
                rng.restore()
                use_compiled = False
                out = plan.run(flat, use_compiled)
            if out is not None:
                if is_validation_enabled():
                    self._check_replay(plan, use_compiled, out, rng, model, guide, args, kwargs)
                if (
                    self._inductor
                    and ready
                    and plan.compiled is None
                    and plan._thread is None
                    and plan.replays >= self._compile_after
                ):
                    plan.compile_in_background(self._inductor_options)
                return self._apply(plan, out)
            rng.restore()  # a guard failed: another path through the program
        if ready and self._should_trace() and _COMPILE_LOCK.acquire(blocking=False):
            # (A compilation holds the lock: this step runs eagerly, a later one records.)
            try:
                loss = self._record(model, guide, args, kwargs)
            finally:
                _COMPILE_LOCK.release()
            if loss is not None:
                return loss
        return super().loss_and_grads(model, guide, *args, **kwargs)

    def _record(self, model: Program, guide: Program, args: Any, kwargs: Any) -> float | None:
        # One step run while recording it as a plan; None when it cannot be one
        # (the generators are set back: the caller runs the step eagerly).
        rng = RngState(host=self._host_generators)
        self._traces_tried += 1
        self._tables_only = True
        try:
            plan, loss, grads = trace_step(
                lambda a, k: self._losses(model, guide, a, k, self.first_order), args, kwargs
            )
        except NotCompilable as exc:
            rng.restore()
            if "no dependency table" not in str(exc):
                self._not_compilable = str(exc)
            return None
        finally:
            self._tables_only = False
        # A plan of the same path again (its replays raised): it replaces the old one.
        self._plans = [p for p in self._plans if not plan.same_path(p)]
        self._plans.insert(0, plan)
        if self._inductor and self._compile_after <= 0:
            plan.compile_in_background(self._inductor_options)
        _accumulate_grads(plan.leaves, grads)
        self.step_params = list(plan.leaves)
        return float(loss)

    def _compiled_steps_possible(self) -> bool:
        if self._tracking is not self._plans_tracking:
            # The estimator tracks more now: plans made before compute the old
            # estimator, and which plan a step hits depends on its draw.
            self._plans.clear()
            self._plans_tracking = self._tracking
        return (
            self._not_compilable is None
            and not self._always_track
            and not self.retain_graph
            and self._losses_is_the_loss
        )

    def _should_trace(self) -> bool:
        complete = self._tracking.complete
        return (
            len(self._plans) < MAX_PLANS
            and self._traces_tried < 2 * MAX_PLANS
            and torch.is_grad_enabled()
            # A recording runs on the tables alone: one made under the current
            # completeness must exist (a first step that finds shared plates
            # makes the later ones complete, and its table is not theirs).
            and any(
                found[1] == complete
                for entry in self._deps_cache.values()
                for found in entry.tables.values()
            )
        )

    def _apply(self, plan: Plan, out: tuple[Any, ...]) -> float:
        n = len(plan.leaves)
        _accumulate_grads(plan.leaves, list(out[1 : 1 + n]))
        store = get_param_store()
        with torch.no_grad():
            for name, value in zip(plan.averages, out[1 + n :]):
                store[name] = value
        self.step_params = list(plan.leaves)
        return float(out[0])

    def _check_replay(
        self,
        plan: Plan,
        compiled: bool,
        out: tuple[Any, ...],
        rng: RngState,
        model: Program,
        guide: Program,
        args: Any,
        kwargs: Any,
    ) -> None:
        # Under validation, each plan's first replay (and first compiled replay) is
        # compared with the eager step on the same draws.
        if plan.checked_compiled if compiled else plan.checked_replay:
            return
        after = RngState(host=self._host_generators)
        store = get_param_store()
        saved = {name: store[name].detach().clone() for name in plan.averages}
        with torch.no_grad():
            for name, value in saved.items():
                store[name] = value
        rng.restore()
        old = [None if leaf.grad is None else leaf.grad.clone() for leaf in plan.leaves]
        for leaf in plan.leaves:
            leaf.grad = None
        loss = super().loss_and_grads(model, guide, *args, **kwargs)
        grads = [leaf.grad for leaf in plan.leaves]
        for leaf, g in zip(plan.leaves, old):
            leaf.grad = g
        with torch.no_grad():
            for name, value in saved.items():
                store[name] = value
        after.restore()
        n = len(plan.leaves)
        same = abs(loss - float(out[0])) <= 1e-5 * max(1.0, abs(loss))
        for got, want in zip(out[1 : 1 + n], grads):
            want = torch.zeros_like(got) if want is None else want
            same = same and bool(torch.allclose(got, want, rtol=1e-4, atol=1e-6))
        if not same:
            raise CompiledStepError(
                f"{type(self).__name__}: a compiled step disagrees with the eager step on the "
                "same draws, so the program's path depends on something the recorded graph "
                "cannot see (Python state such as a global, a counter or Python's random; "
                "control flow on tensors is guarded).  Use the estimator without Jit, or "
                "keep that state out of the model and guide."
            )
        if compiled:
            plan.checked_compiled = True
        else:
            plan.checked_replay = True

    def _run(
        self, model: Program, guide: Program, args: Any, kwargs: Any, tracking: Tracking
    ) -> tuple[ParticleTerms, Trace, Trace]:
        if self._always_track:
            # Every run is tracked the same way: no choice depends on the draw.
            return super()._run(model, guide, args, kwargs, tracking)
        if not self._deps_cache and not self._tables_only:
            return self._tracked_run(model, guide, args, kwargs, tracking)
        rng = None if self._tables_only else RngState(host=self._host_generators)
        m, g = trace_run(model, guide, args, kwargs, Tracking.NONE)
        entry = self._deps_cache.get(_structure_key(m, g))
        found = None if entry is None else entry.tables.get(_values_key(g, entry.control_sites))
        # A table made under another completeness would give another estimator
        # than a tracked run of this mode gives: whether the key hits depends on
        # the draw, so both must give the same one.
        if found is not None and found[1] == tracking.complete:
            table = found[0]

            def deps_fn(log_prob: Any, site: Any, role: str) -> Any:
                if role == "analytic":  # present only where the tracked run found it valid
                    return table.get((role, site["name"]))
                return table[(role, site["name"])]

            return self._terms(m, g, tracking, deps_fn), m, g
        if rng is None:  # recording a compiled step: only a known key can be one
            raise NotCompilable("the step drew a structure with no dependency table yet")
        # A new key: find its dependencies with provenance tracking, on the same
        # random draws.
        rng.restore()
        terms, m2, g2 = self._tracked_run(model, guide, args, kwargs, tracking)
        differs = reproduced((m, g), (m2, g2))
        if differs is not None:
            self._host_generators = True
            warnings.warn(
                f"{type(self).__name__}: running the model and guide again on the same "
                f"random state gave another value at site '{differs}'; they draw from a "
                "generator other than torch's (Python's random, NumPy's) or read state "
                "that changed.  This step's estimate used the second run; later steps "
                "also save Python's and NumPy's generators.  Draw random numbers with "
                "torch, or use the estimator without Jit.",
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
            entry.tables[key] = (_deps_table(m, g, terms), tracking.complete)
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


def _deps_table(model_trace: Trace, guide_trace: Trace, terms: ParticleTerms) -> _DepsTable:
    """``(full, control)`` dependencies of every cost of a tracked run, keyed by
    ``(role, site name)``; the traces' log-probs are already computed."""
    table: _DepsTable = {("analytic", name): found for name, found in terms.analytic.items()}
    for role, tr in (("model", model_trace), ("guide", guide_trace)):
        for name, site in tr.nodes.items():
            if site_is_deterministic(site):
                # Read as an intermediate by the plate rule (see collect_terms).
                table[(role, name)] = tracked_deps(site["value"], site, role)
            elif site["type"] == "sample" and "log_prob" in site:
                table[(role, name)] = tracked_deps(site["log_prob"], site, role)
    return table


def _accumulate_grads(leaves: list[torch.Tensor], grads: list[Any]) -> None:
    # As backward() does: add into .grad, creating it on first use.
    for leaf, g in zip(leaves, grads):
        if g is None:
            continue
        if leaf.grad is None:
            leaf.grad = g.detach().clone()
        else:
            leaf.grad.add_(g)
