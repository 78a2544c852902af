"""RenyiELBO: the Renyi bound of order ``alpha`` (Li & Turner 2016) over
``num_particles`` particles, the importance-weighted bound (Burda et al. 2016) at
``alpha = 0``, with pathwise gradients for reparameterized sites and VIMCO's
learning signals (Mnih & Rezende 2016) for the others.

Loss and pathwise gradient are Pyro's: ``-F(l)`` with ``F`` the bound of the
particles' log-weights (:mod:`tracegraph.infer.multi_sample`), and
``-sum_k wbar_k grad l_k``.  Where Pyro's estimator trains discrete latents poorly,
each particle's non-reparameterized sites here get their score times the learning
signal ``F(l) - F(l with l_k -> mean_{j != k} l_j)``: the bound's own dependence on
the particle's draw, with the leave-one-out geometric-mean baseline, unbiased
because particles are independent.

*Plates kept per element.*  As in Pyro, the log-weights are kept per element of
every plate that all sample sites are in (the data plate of a VAE): the bound is
``sum_e F(l_e)``, the per-data-point importance-weighted bound, and an element's
scores multiply only that element's signal.  Unlike Pyro, a plate along which a
Python decision read a non-reparameterized latent is summed instead (its
elements are not separate problems then), and along a kept plate whose elements
a computation mixes (the plate rule of :mod:`tracegraph.infer.plates` does not
keep it for a score and a cost) a score multiplies every element's signal while
the bound stays per element.  ``independent_plates`` (not in Pyro)
names the kept plates explicitly; every sample site of model and guide must then
be inside them and no decision may read a latent varying along them (both are
checked).  With subsampling, an element's bound is ``s F(l_e / s)`` (an unbiased
estimate of the full data's sum; Pyro takes ``F`` of the scaled log-weights).

>>> import torch
>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> def model():
...     z = tracegraph.sample("z", dist.Normal(0.0, 1.0))
...     tracegraph.sample("x", dist.Normal(z, 1.0), obs=torch.tensor(1.0))
>>> def guide():   # the exact posterior: every log-weight is log p(x)
...     tracegraph.sample("z", dist.Normal(0.5, 0.5 ** 0.5))
>>> loss = RenyiELBO(alpha=0.0, num_particles=4).loss(model, guide)
>>> round(loss, 4)   # -log p(x) = -log N(1; 0, 2)
1.5155
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch

# Pyro's names at this module path (implementation helpers Pyro imports here),
# re-exported from where they live.
from tracegraph.distributions.score_parts import is_identically_zero  # noqa: F401
from tracegraph.distributions.validation import is_validation_enabled  # noqa: F401
from tracegraph.errors import PlateError, SiteError
from tracegraph.infer.baselines import Run
from tracegraph.infer.elbo import ELBO, Program
from tracegraph.infer.importance_trace import get_importance_trace  # noqa: F401
from tracegraph.infer.multi_sample import (
    leave_one_out_signals,
    normalized_weights,
    particle_sums,
    renyi_bound,
)
from tracegraph.infer.numeric import torch_sum  # noqa: F401
from tracegraph.infer.plate_sums import get_dependent_plate_dims  # noqa: F401
from tracegraph.infer.plates import PARTICLE_PLATE
from tracegraph.infer.runs import Tracking
from tracegraph.infer.surrogate import Surrogate, magic_box
from tracegraph.infer.terms import DepsFn, ParticleTerms
from tracegraph.infer.validation import check_if_enumerated  # noqa: F401
from tracegraph.ops.provenance import detach_provenance
from tracegraph.ops.tensor_checks import warn_if_nan  # noqa: F401
from tracegraph.poutine.sites import site_is_subsample
from tracegraph.poutine.trace_struct import Trace

__all__ = ["RenyiELBO"]


class RenyiELBO(ELBO):
    """The Renyi bound over ``num_particles`` particles (see the module docstring).

    :param alpha: the order of the divergence, not 1 (use ``Trace_ELBO`` there); 0
        is the importance-weighted bound, and ``alpha >= 0`` keeps a lower bound.
    :param num_particles: particles per estimate (the bound tightens with more).
    :param max_plate_nesting: see :class:`~tracegraph.infer.elbo.ELBO`.
    :param max_iarange_nesting: deprecated alias of ``max_plate_nesting``.
    :param vectorize_particles: draw the particles in one run, in a plate.
    :param strict_enumeration_warning: accepted for Pyro compatibility.
    :param independent_plates: names of plates whose elements are separate
        problems (a data plate without global latents): the bound is summed over
        their elements.  ``None`` (Pyro's behaviour): the plates that every sample
        site is in, less those a Python decision mixed.
    :raises ValueError: for ``alpha == 1``.

    >>> RenyiELBO(alpha=0.5, num_particles=3).alpha
    0.5
    """

    tracking = Tracking.NONE
    rao_blackwellize = False
    # VIMCO's signal is every score site's estimator; a relaxed site is pathwise.
    site_estimators = ("score", "gumbel_st")

    def __init__(
        self,
        alpha: float = 0,
        num_particles: int = 2,
        max_plate_nesting: float = math.inf,
        max_iarange_nesting: float | None = None,
        vectorize_particles: bool = False,
        strict_enumeration_warning: bool = True,
        *,
        independent_plates: Iterable[str] | None = None,
    ) -> None:
        if alpha == 1:
            raise ValueError(
                "the order alpha of RenyiELBO must not be 1; use Trace_ELBO (or "
                "TraceGraph_ELBO) for alpha = 1"
            )
        super().__init__(
            num_particles=num_particles,
            max_plate_nesting=max_plate_nesting,
            max_iarange_nesting=max_iarange_nesting,
            vectorize_particles=vectorize_particles,
            strict_enumeration_warning=strict_enumeration_warning,
        )
        self.alpha = alpha
        if isinstance(independent_plates, str):
            independent_plates = (independent_plates,)
        self.independent_plates = (
            None if independent_plates is None else frozenset(independent_plates)
        )
        # Python decisions that read a plated latent are found by provenance.
        self._tracking, self._fallback = Tracking.NONREPARAM, None
        #: The plates kept per element in this step (every run's, intersected).
        self._kept: frozenset[str] | None = None

    # -- runs -----------------------------------------------------------------
    def _runs(self, model: Program, guide: Program, args: Any, kwargs: Any) -> list[Run]:
        self._kept = None
        return super()._runs(model, guide, args, kwargs)

    def _run(
        self, model: Program, guide: Program, args: Any, kwargs: Any, tracking: Tracking
    ) -> tuple[ParticleTerms, Trace, Trace]:
        terms, model_trace, guide_trace = super()._run(model, guide, args, kwargs, tracking)
        if self.independent_plates is not None:
            self._check_independent(model_trace, guide_trace)
            kept = self.independent_plates
        else:
            kept = _common_plates(model_trace, guide_trace)
        self._kept = kept if self._kept is None else self._kept & kept
        if terms.incomplete and not kept & _score_plate_names(terms):
            terms.incomplete = False  # no kept plate holds a score: nothing to prove
        return terms, model_trace, guide_trace

    def _terms(
        self,
        model_trace: Trace,
        guide_trace: Trace,
        tracking: Tracking,
        deps_fn: DepsFn | None = None,
    ) -> ParticleTerms:
        # The bound charges every score with its particle's whole signal, per
        # element of the kept plates only where the plate rule proves that no path
        # mixes their elements (_mixed_plates); a run lacking the tags for that
        # proof stays incomplete (summed), and later runs are tracked completely.
        return super()._terms(model_trace, guide_trace, tracking, deps_fn)

    def _check_independent(self, model_trace: Trace, guide_trace: Trace) -> None:
        wanted = self.independent_plates or frozenset()
        deciding: set[str] = set()
        for role, tr in (("model", model_trace), ("guide", guide_trace)):
            for name, site in tr.nodes.items():
                if site["type"] != "sample" or site_is_subsample(site):
                    continue
                frames = {f.name: f for f in site["cond_indep_stack"]}
                missing = sorted(n for n in wanted if n not in frames or frames[n].dim is None)
                if missing:
                    raise PlateError(
                        f"RenyiELBO(independent_plates={sorted(wanted)}): {role} site "
                        f"'{name}' is not inside the vectorized plate(s) {missing}; every "
                        "sample site must be, so that the elements are separate problems. "
                        "Hint: leave the plate out of independent_plates."
                    )
                deciding.update(site.get("control_provenance") or ())
        for name in sorted(deciding):
            node = guide_trace.nodes.get(name)
            if node is None:
                continue
            site = node
            sizes = {f.name: f.size for f in site["cond_indep_stack"] if f.name in wanted}
            if any(size > 1 for size in sizes.values()):
                raise SiteError(
                    f"RenyiELBO(independent_plates={sorted(wanted)}): the value of site "
                    f"'{name}', which varies along {sorted(sizes)}, decided Python control "
                    "flow, so the plate's elements are not separate problems. Hint: leave "
                    "the plate out of independent_plates."
                )

    # -- the estimate ---------------------------------------------------------
    def _layout(self, runs: list[Run]) -> tuple[list[int], float, int | None]:
        """The dims kept (ascending), the subsampling scale of the independent plates
        and the position of the particle dim among the kept ones (vectorized)."""
        dims: dict[int, str] = {}
        scale = 1.0
        kept = self._kept or frozenset()
        for _, guide_trace in runs[:1]:
            for site in guide_trace.nodes.values():
                if site["type"] != "sample" or site_is_subsample(site):
                    continue
                for f in site["cond_indep_stack"]:
                    if f.name in kept and f.dim is not None:
                        if f.dim not in dims and f.full_size is not None and f.size:
                            scale *= f.full_size / f.size
                        dims[f.dim] = f.name
        particle = self.particle_dim
        if particle is not None:
            dims[particle] = "particles"
        order = sorted(dims)
        return order, scale, (order.index(particle) if particle is not None else None)

    def _dim_names(self, runs: list[Run]) -> dict[int, str]:
        """``{dim: plate name}`` of the kept plates in this step's runs."""
        kept = self._kept or frozenset()
        return {
            f.dim: f.name
            for _, guide_trace in runs[:1]
            for site in guide_trace.nodes.values()
            if site["type"] == "sample" and not site_is_subsample(site)
            for f in site["cond_indep_stack"]
            if f.name in kept and f.dim is not None
        }

    def _estimate(self, runs: list[Run], surrogate: Surrogate) -> tuple[torch.Tensor, torch.Tensor]:
        target, scale, particle_pos = self._layout(runs)
        sums = [particle_sums(terms, target) for terms, _ in runs]
        if particle_pos is None:
            shape = torch.broadcast_shapes(*(l.shape for l, _ in sums))
            log_w = torch.stack([l.expand(shape) for l, _ in sums])
            scores = [s for _, s in sums]
            tau: torch.Tensor | None = None
            if any(s is not None for s in scores):
                tau = torch.stack(
                    [torch.zeros(shape) if s is None else s.expand(shape) for s in scores]
                )
        else:
            ((l, s),) = sums
            log_w = l.movedim(particle_pos, 0)
            if log_w.shape[0] != self.num_particles:
                log_w = log_w.expand((self.num_particles,) + tuple(log_w.shape[1:]))
            tau = None if s is None else s.movedim(particle_pos, 0).expand_as(log_w)
        log_w = detach_provenance(log_w)
        if tau is not None:
            # A score multiplies the signals of every element of a kept plate along
            # which some path mixes elements (the bound stays per element).
            names = self._dim_names(runs)
            order = [d for d in target if d != self.particle_dim]
            mixed = _mixed_plates(runs, self._kept or frozenset())
            sum_dims = [1 + order.index(d) for d, n in names.items() if n in mixed and d in order]
            if sum_dims:
                tau = tau.sum(sum_dims, keepdim=True).expand_as(log_w)
        alpha = float(self.alpha)
        bound = renyi_bound(log_w, alpha, scale)
        value = bound.sum()
        if surrogate.exact:
            objective = bound
            if tau is not None:
                tau = detach_provenance(tau)
                loo = bound.detach().unsqueeze(0) - leave_one_out_signals(log_w, alpha, scale)
                # Value F; gradient grad F + sum_k (F - F_{-k}) grad tau_k (DiCE with
                # the leave-one-out baselines as value-zero terms).
                objective = bound * magic_box(tau.sum(0)) + ((1.0 - magic_box(tau)) * loo).sum(0)
            objective = objective.sum()
        else:
            weights = normalized_weights(log_w, alpha, scale)
            objective = (weights * log_w).sum()
            if tau is not None:
                signal = leave_one_out_signals(log_w, alpha, scale)
                objective = objective + (detach_provenance(tau) * signal).sum()
        loss = -objective
        return loss, (loss if surrogate.exact else -value)


def _sample_sites(trace: Trace) -> list[Any]:
    return [
        site
        for site in trace.nodes.values()
        if site["type"] == "sample" and not site_is_subsample(site)
    ]


def _common_plates(model_trace: Trace, guide_trace: Trace) -> frozenset[str]:
    """The vectorized plates (not the particles') that every sample site of model
    and guide is in, less those along which a non-reparameterized latent that
    decided Python control flow varies (its decision mixes their elements)."""
    sites = _sample_sites(model_trace) + _sample_sites(guide_trace)
    common: frozenset[str] | None = None
    deciding: set[str] = set()
    for site in sites:
        names = frozenset(
            f.name
            for f in site["cond_indep_stack"]
            if f.dim is not None and f.name != PARTICLE_PLATE
        )
        common = names if common is None else common & names
        deciding.update(site.get("control_provenance") or ())
    if not common:
        return frozenset()
    for name in deciding:
        site = guide_trace.nodes.get(name)
        if site is None:
            continue
        common -= {f.name for f in site["cond_indep_stack"] if f.name in common and f.size > 1}
    return common


def _score_plate_names(terms: ParticleTerms) -> frozenset[str]:
    return frozenset(n for plates in terms.score_plates.values() for n in plates.values())


def _mixed_plates(runs: Iterable[Run], kept: frozenset[str]) -> frozenset[str]:
    """The kept plates along which a score may not multiply only its own element's
    signal: some cost element reads the score's site at another element (the
    plate rule, :class:`~tracegraph.infer.plates.PlateRule`, did not keep the plate
    for that pair), or a run lacked the tags to tell (all kept plates a score is
    in).  Summing there is always unbiased; the union over the step's runs is
    taken, so the choice for one particle never depends on its own draw alone."""
    mixed: set[str] = set()
    for terms, _ in runs:
        in_scores = kept & _score_plate_names(terms)
        if terms.incomplete:
            mixed |= in_scores
            continue
        for g in terms.groups:
            names = frozenset(g.plates.values()) & in_scores
            for i in g.deps:
                shared = names & frozenset(terms.score_plates.get(i, {}).values())
                mixed |= shared - frozenset(g.target(i).values())
    return frozenset(mixed)
