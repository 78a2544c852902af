"""TraceGraph_ELBO: score-function gradients Rao-Blackwellized by provenance.

Each non-reparameterized guide site's score multiplies only the cost terms whose
provenance contains it: the costs computed from its value, plus the costs of sites
that ran after its value decided Python control flow (``if z.item(): ...``), since
their existence or distribution may depend on it.  The surrogate is built with
DiCE (see :mod:`tracegraph.infer.dice`), so its value is the ELBO and its first and
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

from dataclasses import dataclass
from typing import Any

import torch

from tracegraph.distributions.util import is_validation_enabled
from tracegraph.errors import SiteError
from tracegraph.infer.baselines import DecayingAverage, check_baseline_config
from tracegraph.infer.collect import collect_terms, tracked_deps
from tracegraph.infer.dice import ParticleTerms, magic_box, sum_surrogates
from tracegraph.infer.downstream import NeedsProvenance
from tracegraph.infer.elbo import ELBO
from tracegraph.infer.rng import RngState
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

    def __init__(self, *args: Any, leave_one_out: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if leave_one_out and self.num_particles < 2:
            raise ValueError("leave_one_out=True needs num_particles >= 2")
        self.leave_one_out = leave_one_out
        self._decaying = DecayingAverage()

    # Tag non-reparameterized sites; the base class raises this to every latent
    # site when the plate rule needs to see paths through reparameterized ones.
    _tag = "nonreparam"

    def _terms(
        self, model: Any, guide: Any, args: Any, kwargs: Any
    ) -> list[tuple[ParticleTerms, Trace]]:
        return self._particle_terms(model, guide, args, kwargs, rao_blackwellize=True)

    def _losses(
        self, model: Any, guide: Any, args: Any, kwargs: Any, first_order: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        particles = self._terms(model, guide, args, kwargs)
        surrogate, elbo = sum_surrogates((p for p, _ in particles), first_order)
        extra, aux = self._baselines(particles, first_order)
        if extra is not None:
            surrogate = surrogate + extra
        n = self.num_particles
        loss = -surrogate / n
        if aux is not None:
            # Trains learnable baselines without changing the loss's value.
            loss = loss + (aux if first_order else aux - aux.detach())
        # A baseline fed tracked inputs would make the loss (and then gradients
        # from torch.autograd.grad) tracked; the loss carries no provenance.
        loss = detach_provenance(loss)
        if first_order:
            return loss, -elbo / n
        return loss, loss

    # -- baselines ----------------------------------------------------------
    def _configs(self, guide_trace: Trace) -> dict[str, dict[str, Any]]:
        configs: dict[str, dict[str, Any]] = {}
        for name, site in guide_trace.nodes.items():
            if site["type"] != "sample":
                continue
            config = site["infer"].get("baseline")
            if config is not None:
                configs[name] = check_baseline_config(name, config)
        return configs

    def _baselines(
        self, particles: list[tuple[ParticleTerms, Trace]], first_order: bool
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The baseline terms (value 0) and the learnable baselines' training loss."""
        extra: torch.Tensor | None = None
        aux: torch.Tensor | None = None
        configs = self._configs(particles[0][1]) if particles else {}
        for _, g in particles[1:]:
            for name, config in self._configs(g).items():
                configs.setdefault(name, config)
        sites = set().union(*(p.scores for p, _ in particles)) if particles else set()
        loo_sites = set()
        for name in sites:
            config = configs.get(name, {})
            if config.get("use_leave_one_out") or (self.leave_one_out and not config):
                loo_sites.add(name)
        for name in sorted(loo_sites):
            term = self._leave_one_out(name, particles, first_order)
            extra = term if extra is None else extra + term
        for name in sorted(sites - loo_sites):
            explicit = configs.get(name)
            if not explicit:
                continue
            config = explicit
            term, loss = self._explicit_baseline(name, config, particles, first_order)
            extra = term if extra is None else extra + term
            if loss is not None:
                aux = loss if aux is None else aux + loss
        return extra, aux

    def _leave_one_out(
        self, name: str, particles: list[tuple[ParticleTerms, Trace]], first_order: bool
    ) -> torch.Tensor:
        if self.num_particles < 2:
            raise SiteError(
                f"site '{name}': the leave-one-out baseline needs num_particles >= 2, "
                f"got {self.num_particles}"
            )
        if self.vectorize_particles:
            ((p, g),) = particles
            dim = -1 - int(self.max_plate_nesting)
            d = p.downstream_cost(name)
            if -dim > d.dim() or d.shape[dim] != self.num_particles:
                raise SiteError(
                    f"site '{name}': leave-one-out needs the site inside the particle plate"
                )
            b = (d.sum(dim, keepdim=True) - d) / (self.num_particles - 1)
            return _baseline_term(p.plain_score(name), b, first_order)
        present = [(p, p.downstream_cost(name)) for p, _ in particles if name in p.scores]
        if len(present) < 2:
            return torch.zeros(())
        total = sum((d for _, d in present), torch.zeros(()))
        k = len(present)
        out = torch.zeros(())
        for p, d in present:
            b = (total - d) / (k - 1)
            out = out + _baseline_term(p.plain_score(name), b, first_order)
        return out

    def _explicit_baseline(
        self,
        name: str,
        config: dict[str, Any],
        particles: list[tuple[ParticleTerms, Trace]],
        first_order: bool,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        term = torch.zeros(())
        aux: torch.Tensor | None = None
        present = [(p, g) for p, g in particles if name in p.scores]
        if config.get("use_decaying_avg_baseline"):
            beta = float(config.get("baseline_beta", 0.90))
            costs = []
            for p, g in present:
                pooled = _pooled_dims(g.nodes[name], self)
                b = self._decaying.value(name, p.plain_score(name), beta, pooled)
                term = term + _baseline_term(p.plain_score(name), b, first_order)
                costs.append((p.downstream_cost(name), pooled))
            # Update only after use: the baseline must not see this step's draw.
            # loss() (no gradient: an evaluation, not a step) leaves it alone.
            if torch.is_grad_enabled():
                for d, pooled in costs:
                    self._decaying.update(name, d, beta, pooled)
            return term, None
        for p, _ in present:
            if config.get("nn_baseline") is not None:
                b = config["nn_baseline"](config["nn_baseline_input"])
            else:
                b = torch.as_tensor(config["baseline_value"])
            d = p.downstream_cost(name)
            _check_baseline_shape(name, b, d)
            term = term + _baseline_term(p.plain_score(name), b, first_order)
            if b.requires_grad:
                mse = ((d - b) ** 2).sum()
                aux = mse if aux is None else aux + mse
        return term, aux


def _baseline_term(score: torch.Tensor, b: torch.Tensor, first_order: bool) -> torch.Tensor:
    # Value 0 and gradient ``-b * grad score`` (the baseline is a constant).
    b = b.detach()
    if first_order:
        return -(score * b).sum()
    return ((1.0 - magic_box(score)) * b).sum()


def _check_baseline_shape(name: str, b: torch.Tensor, d: torch.Tensor) -> None:
    # The baseline may carry extra size-1 dims (a (1,) network output for a scalar
    # site) but must not add elements.
    try:
        shape = torch.broadcast_shapes(b.shape, d.shape)
    except RuntimeError:
        shape = None
    if shape is None or shape.numel() != d.numel():
        raise SiteError(
            f"site '{name}': the baseline has shape {tuple(b.shape)}, which does not "
            f"broadcast to the site's downstream cost shape {tuple(d.shape)}"
        )


def _pooled_dims(site: Any, elbo: ELBO) -> tuple[int, ...]:
    dims = [
        f.dim
        for f in site["cond_indep_stack"]
        if f.dim is not None and f.full_size is not None and f.size != f.full_size
    ]
    if elbo.vectorize_particles:
        dims.append(-1 - int(elbo.max_plate_nesting))
    return tuple(dims)


class JitTraceGraph_ELBO(TraceGraph_ELBO):
    """TraceGraph_ELBO for models of static structure: the dependency sets found by
    tracking provenance are cached, and steps that hit the cache run model and
    guide untracked.

    The cache key is the *structure* (the sequence of sample sites with their
    observed flags, distribution classes and value shapes) plus the values of the
    sites that decided Python control flow in the tracked run of that structure,
    so two branches with the same sites but different data flow get their own
    dependency sets.  A step with a new key runs again with tracking.  Once a
    structure's control flow is decided by a site without finite support (a
    continuous latent: every value is new), every later run is tracked, once, as
    in :class:`TraceGraph_ELBO`; past :attr:`max_tables` keys per structure, new
    keys run tracked without being stored, so the cache stays bounded.  What the key cannot see
    is control flow decided by something other than a site's value (a parameter,
    a global), as for any trace-based compiler: a model whose data flow changes
    that way must use :class:`TraceGraph_ELBO`.

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

    def _one_run(
        self,
        model: Any,
        guide: Any,
        args: Any,
        kwargs: Any,
        rao_blackwellize: bool,
        rng: RngState | None = None,
    ) -> tuple[ParticleTerms, Trace, Trace]:
        if self._always_track:
            # Every run is tracked the same way: no choice depends on the draw.
            return super()._one_run(model, guide, args, kwargs, rao_blackwellize)
        rng = RngState()
        m, g = self._get_trace(model, guide, args, kwargs, None)
        entry = self._deps_cache.get(_structure_key(m, g))
        found = None if entry is None else entry.tables.get(_values_key(g, entry.control_sites))
        if found is not None:
            table, complete = found

            def deps_fn(log_prob: Any, site: Any, role: str) -> Any:
                return table[(role, site["name"])]

            try:
                terms = collect_terms(m, g, deps_fn, rao_blackwellize, complete)
                if is_validation_enabled():
                    self._check_log_prob_shapes(m, g)
                return terms, m, g
            except NeedsProvenance:
                pass  # the cached table lacks reparameterized tags: track again
        # A new key: find its dependencies with provenance tracking, on the same
        # random draws.
        rng.restore()
        terms, m, g = super()._one_run(model, guide, args, kwargs, rao_blackwellize, rng)
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
        if len(entry.tables) < self.max_tables:
            entry.tables[_values_key(g, entry.control_sites)] = (
                _deps_table(m, g),
                self._tag == "latent",
            )
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
