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
>>> abs(float(TraceGraph_ELBO().differentiable_loss(model, guide))) < 1e-6
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from tracegraph.errors import SiteError
from tracegraph.infer.baselines import DecayingAverage, check_baseline_config
from tracegraph.infer.dice import ParticleTerms, collect_terms, magic_box, provenance_deps
from tracegraph.infer.elbo import ELBO
from tracegraph.poutine import handlers
from tracegraph.poutine.provenance_messenger import TrackProvenanceMessenger
from tracegraph.poutine.trace_struct import Trace

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

    def _guide_trace(self, guide: Callable[..., Any], args: Any, kwargs: Any) -> Trace:
        with TrackNonReparam():
            return handlers.trace(guide).get_trace(*args, **kwargs)

    def _model_trace(
        self, model: Callable[..., Any], guide_trace: Trace, args: Any, kwargs: Any
    ) -> Trace:
        # The replayed values already carry the guide's tags; only control flow
        # needs recording here.
        with TrackProvenanceMessenger(tag=None):
            return handlers.trace(handlers.replay(model, trace=guide_trace)).get_trace(
                *args, **kwargs
            )

    def _terms(
        self, model: Any, guide: Any, args: Any, kwargs: Any
    ) -> list[tuple[ParticleTerms, Trace]]:
        return [
            (collect_terms(m, g, provenance_deps), g)
            for m, g in self._get_traces(model, guide, args, kwargs)
        ]

    def differentiable_loss(
        self, model: Callable[..., Any], guide: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> torch.Tensor:
        """The negative ELBO; its gradient is the Rao-Blackwellized estimator's.

        :returns: a scalar tensor.
        """
        particles = self._terms(model, guide, args, kwargs)
        surrogate: torch.Tensor = sum((p.surrogate() for p, _ in particles), torch.zeros(()))
        extra, aux = self._baselines(particles)
        loss = -(surrogate + extra) / self.num_particles
        if aux is not None:
            # Trains learnable baselines without changing the loss's value.
            loss = loss + (aux - aux.detach())
        return loss

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
        self, particles: list[tuple[ParticleTerms, Trace]]
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        extra = torch.zeros(())
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
            extra = extra + self._leave_one_out(name, particles)
        for name in sorted(sites - loo_sites):
            explicit = configs.get(name)
            if not explicit:
                continue
            config = explicit
            term, loss = self._explicit_baseline(name, config, particles)
            extra = extra + term
            if loss is not None:
                aux = loss if aux is None else aux + loss
        return extra, aux

    def _leave_one_out(
        self, name: str, particles: list[tuple[ParticleTerms, Trace]]
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
            return ((1.0 - magic_box(p.scores[name])) * b).sum()
        present = [(p, p.downstream_cost(name)) for p, _ in particles if name in p.scores]
        if len(present) < 2:
            return torch.zeros(())
        total = sum((d for _, d in present), torch.zeros(()))
        k = len(present)
        out = torch.zeros(())
        for p, d in present:
            b = (total - d) / (k - 1)
            out = out + ((1.0 - magic_box(p.scores[name])) * b).sum()
        return out

    def _explicit_baseline(
        self, name: str, config: dict[str, Any], particles: list[tuple[ParticleTerms, Trace]]
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        term = torch.zeros(())
        aux: torch.Tensor | None = None
        present = [(p, g) for p, g in particles if name in p.scores]
        if config.get("use_decaying_avg_baseline"):
            beta = float(config.get("baseline_beta", 0.90))
            costs = []
            for p, g in present:
                pooled = _pooled_dims(g.nodes[name], self)
                b = self._decaying.value(name, p.scores[name], beta, pooled)
                term = term + ((1.0 - magic_box(p.scores[name])) * b).sum()
                costs.append((p.downstream_cost(name), pooled))
            # Update only after use: the baseline must not see this step's draw.
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
            term = term + ((1.0 - magic_box(p.scores[name])) * b.detach()).sum()
            if b.requires_grad:
                mse = ((d - b) ** 2).sum()
                aux = mse if aux is None else aux + mse
        return term, aux


def _check_baseline_shape(name: str, b: torch.Tensor, d: torch.Tensor) -> None:
    try:
        shape = torch.broadcast_shapes(b.shape, d.shape)
    except RuntimeError:
        shape = None
    if shape is None or shape != d.shape:
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
    tracking provenance are cached per model structure, and steps whose structure
    is already known run model and guide untracked.

    A *structure* is the sequence of sample sites with their observed flags,
    distribution classes and value shapes; a step whose structure is new is run
    again with tracking, so a model whose sites change (control flow) stays
    correct.  The cache assumes that the same structure means the same data flow,
    as any trace-based compiler does.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deps_cache: dict[tuple[Any, ...], dict[tuple[str, str], frozenset[str]]] = {}
        self._track = True

    def _guide_trace(self, guide: Callable[..., Any], args: Any, kwargs: Any) -> Trace:
        if self._track:
            return super()._guide_trace(guide, args, kwargs)
        return ELBO._guide_trace(self, guide, args, kwargs)

    def _model_trace(
        self, model: Callable[..., Any], guide_trace: Trace, args: Any, kwargs: Any
    ) -> Trace:
        if self._track:
            return super()._model_trace(model, guide_trace, args, kwargs)
        return ELBO._model_trace(self, model, guide_trace, args, kwargs)

    def _get_trace(
        self, model: Callable[..., Any], guide: Callable[..., Any], args: Any, kwargs: Any
    ) -> tuple[Trace, Trace]:
        self._track = False
        try:
            m, g = super()._get_trace(model, guide, args, kwargs)
        finally:
            self._track = True
        table = self._deps_cache.get(_structure_key(m, g))
        if table is None:
            # A new structure: find its dependencies with provenance tracking.
            m, g = super()._get_trace(model, guide, args, kwargs)
            table = _deps_table(m, g)
            self._deps_cache[_structure_key(m, g)] = table
        g.deps_table = table  # type: ignore[attr-defined]
        return m, g

    def _terms(
        self, model: Any, guide: Any, args: Any, kwargs: Any
    ) -> list[tuple[ParticleTerms, Trace]]:
        out = []
        for m, g in self._get_traces(model, guide, args, kwargs):
            table = g.deps_table  # type: ignore[attr-defined]

            def deps_of(
                log_prob: Any, site: Any, nonreparam: frozenset[str], role: str, table=table
            ) -> frozenset[str]:
                return table[(role, site["name"])] & nonreparam

            out.append((collect_terms(m, g, deps_of), g))
        return out


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


def _deps_table(model_trace: Trace, guide_trace: Trace) -> dict[tuple[str, str], frozenset[str]]:
    """Dependencies of every cost term of a tracked particle, keyed by (role, name)."""
    model_trace.compute_log_prob()
    guide_trace.compute_score_parts()
    table: dict[tuple[str, str], frozenset[str]] = {}
    everything = frozenset(guide_trace.nodes)
    for role, tr in (("model", model_trace), ("guide", guide_trace)):
        for name, site in tr.nodes.items():
            if site["type"] == "sample":
                table[(role, name)] = provenance_deps(site["log_prob"], site, everything)
    return table
