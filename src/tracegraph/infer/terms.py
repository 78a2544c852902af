"""One particle's cost terms: what each depends on, grouped for the surrogate.

A *cost term* is one site's contribution to the ELBO: ``log p`` of a model sample
site or ``-log q`` of a guide latent site.  Each gets its dependency set (every
non-reparameterized site for Trace_ELBO, the non-reparameterized sites in its
provenance for TraceGraph_ELBO), its plates and, inside plates shared with a
score, the plates along which that score may multiply it per element
(:class:`~tracegraph.infer.plates.PlateRule`).  Costs with the same of all three
are summed into one :class:`CostGroup`; many scalar costs become one
:class:`ScalarTerms` with a cached 0/1 dependency matrix.  The surrogates of
:mod:`tracegraph.infer.surrogate` read the result, :class:`ParticleTerms`.

>>> import torch
>>> import tracegraph, tracegraph.distributions as dist
>>> from tracegraph.poutine import handlers
>>> guide = handlers.trace(lambda: tracegraph.sample("z", dist.Bernoulli(0.3))).get_trace()
>>> model = handlers.trace(handlers.replay(
...     lambda: tracegraph.sample("z", dist.Bernoulli(0.5)), trace=guide)).get_trace()
>>> terms = collect_terms(model, guide, untracked_deps, rao_blackwellize=False)
>>> sorted(terms.scores), terms.incomplete
(['z'], False)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from tracegraph.infer.plates import (
    PARTICLE_PLATE,
    PlateRule,
    per_element,
    plate_dims,
    reduce_to_dims,
    to_plate_form,
)
from tracegraph.ops.provenance import detach_provenance, get_provenance, untracked
from tracegraph.poutine.trace_struct import Trace
from tracegraph.poutine.util import (
    site_is_deterministic,
    site_is_latent,
    site_is_nonreparam,
    site_is_subsample,
)

__all__ = [
    "Analytic",
    "CostGroup",
    "DepsFn",
    "ParticleTerms",
    "ScalarTerms",
    "collect_terms",
    "tracked_deps",
    "untracked_deps",
]

#: ``deps(log_prob, site, role) -> (full, control)``: every tagged site the cost
#: depends on (its provenance and the control flow before it) and the control-flow
#: part alone; ``None`` when the run was not tracked (or, for role ``"analytic"``,
#: when the site's analytic term is not known to be valid).  ``role`` is "model",
#: "guide" or "analytic".
DepsFn = Callable[[Any, Any, str], "tuple[frozenset[str], frozenset[str]] | None"]

#: ``analytic(model_site, guide_site) -> cost | None``: the expectation over the
#: site's own value of its two cost terms (``log p - log q``, scales and masks
#: applied), e.g. a negative KL divergence; ``None`` where there is none.
Analytic = Callable[[Any, Any], "torch.Tensor | None"]

NO_PLATES: dict[int, str] = {}
_PARTICLES = frozenset({PARTICLE_PLATE})

# Up to this many terms, adding them one by one beats stacking them.
_FEW = 6


@dataclass
class CostGroup:
    """Summed plated cost terms sharing a dependency set, a plate set and the plates
    along which each dependency is element-wise (``elementwise[i]``; absent: all
    shared)."""

    deps: frozenset[str]
    plates: dict[int, str]
    cost: torch.Tensor
    elementwise: dict[str, frozenset[str]] = field(default_factory=dict)
    #: ``cost`` enters the ELBO times ``sign`` (a single guide term keeps its
    #: log-density and a sign of -1, saving a negation per site).
    sign: float = 1.0

    def signed(self) -> torch.Tensor:
        """The group's contribution to the ELBO."""
        return self.cost if self.sign > 0 else -self.cost

    def target(self, site: str) -> dict[int, str]:
        """The plates of this group along which ``site``'s score stays per element."""
        keep = self.elementwise.get(site)
        if keep is None:
            return self.plates
        return {d: n for d, n in self.plates.items() if n in keep}


@dataclass
class ScalarTerms:
    """The cost terms outside every plate: ``costs[k]`` enters the ELBO times
    ``signs[k]`` and depends on the sites of row ``k`` of ``matrix`` (columns:
    ``sites``)."""

    costs: torch.Tensor
    signs: torch.Tensor
    sites: tuple[str, ...]
    matrix: torch.Tensor

    def operands(
        self, stacked: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Costs, signs, matrix and the stacked scores in one dtype, so the products
        do not promote (float64 observations with float32 latents)."""
        costs = self.costs
        if stacked.dtype == costs.dtype:
            return costs, self.signs, self.matrix, stacked
        dtype = torch.promote_types(stacked.dtype, costs.dtype)
        return costs.to(dtype), self.signs.to(dtype), self.matrix.to(dtype), stacked.to(dtype)


@dataclass
class ParticleTerms:
    """What one particle contributes: its cost terms and the log-density (plate
    form) of every non-reparameterized guide site.

    ``groups`` holds the plated costs (and a few scalar ones), ``scalar`` the
    scalar costs done as one product.  ``incomplete`` says that the run lacked the
    tags the plate rule needs, so every plate a score shares with a cost was summed
    (see ``docs/design/plate-soundness.md``).
    """

    groups: list[CostGroup]
    scores: dict[str, torch.Tensor]
    score_plates: dict[str, dict[int, str]]
    scalar: ScalarTerms | None = None
    incomplete: bool = False
    #: The sites whose two cost terms were replaced by their analytic expectation,
    #: with the dependencies of that term.
    analytic: dict[str, tuple[frozenset[str], frozenset[str]]] = field(default_factory=dict)
    #: The cost term (``log q``, scaled and masked) of each non-reparameterized guide
    #: site, for surrogates that drop its pathwise gradient (zero in expectation).
    own_costs: dict[str, torch.Tensor] = field(default_factory=dict)
    #: The sites of :attr:`own_costs` whose cost *is* their score function (no
    #: scale): a surrogate may cancel the gradient through the score's multiplier.
    own_is_score: frozenset[str] = frozenset()
    _tau_cache: dict[tuple[str, tuple[tuple[int, str], ...]], torch.Tensor] = field(
        default_factory=dict
    )

    @property
    def plated_scores(self) -> bool:
        """Whether a non-reparameterized site of this run lies in a vectorized plate
        (where the plate rule needs a completely tracked run).

        >>> ParticleTerms([], {"z": torch.zeros(3)}, {"z": {-1: "p"}}).plated_scores
        True
        """
        return any(self.score_plates.values())

    def score_at(self, site: str, plates: dict[int, str]) -> torch.Tensor:
        """``log q_site`` summed over its plates that are not in ``plates`` (memoized)."""
        key = (site, tuple(sorted(plates.items())))
        out = self._tau_cache.get(key)
        if out is None:
            with untracked():
                out = reduce_to_dims(self.scores[site], self.score_plates[site], plates)
            self._tau_cache[key] = out
        return out

    def stacked_scores(self, sites: tuple[str, ...]) -> torch.Tensor:
        """Each site's log-density summed over its plates, one entry per site."""
        parts = []
        for site in sites:
            score = self.scores[site]
            parts.append(score if score.dim() == 0 else self.score_at(site, NO_PLATES).reshape(()))
        return torch.stack(parts)

    def plain_score(self, site: str) -> torch.Tensor:
        """The site's log-density in plate form, as a plain (untracked) tensor.

        >>> from tracegraph.ops.provenance import track_provenance
        >>> lp = track_provenance(torch.tensor(-0.5), {"z"})
        >>> type(ParticleTerms([], {"z": lp}, {"z": {}}).plain_score("z")).__name__
        'Tensor'
        """
        return detach_provenance(self.scores[site])  # type: ignore[no-any-return]

    def plated_downstream(self, site: str) -> torch.Tensor:
        """The part of :meth:`downstream_cost` that comes from the plated groups."""
        plates = self.score_plates[site]
        out: torch.Tensor | None = None
        for g in self.groups:
            if site in g.deps:
                keep = g.target(site)
                target = {d: n for d, n in plates.items() if keep.get(d) == n}
                part = reduce_to_dims(g.cost.detach(), g.plates, target)
                out = accumulate(out, part, g.sign)
        assert out is not None
        return out

    def downstream_cost(self, site: str) -> torch.Tensor:
        """The detached sum of the cost terms that depend on ``site``, each reduced to
        the plates along which it is charged per element (shape of the site's
        plate-form log-density)."""
        with untracked():
            out = torch.zeros_like(self.scores[site]).detach()
            scalar = self.scalar
            if scalar is not None and site in scalar.sites:
                column = scalar.matrix[:, scalar.sites.index(site)]
                out = out + (scalar.costs.detach() * scalar.signs) @ column
            if any(site in g.deps for g in self.groups):
                out = out + self.plated_downstream(site)
            return out


def accumulate(total: torch.Tensor | None, term: torch.Tensor, sign: float) -> torch.Tensor:
    """``total + sign * term``, starting from ``None``."""
    if total is None:
        return term if sign > 0 else -term
    return total + term if sign > 0 else total - term


@functools.lru_cache(maxsize=512)
def _dependency_matrix(
    deps: tuple[frozenset[str], ...], signs: tuple[float, ...], dtype: torch.dtype, device: Any
) -> tuple[tuple[str, ...], torch.Tensor, torch.Tensor]:
    # Built once per dependency pattern: a model of static structure asks for the
    # same matrix every step.
    sites = tuple(sorted(set().union(*deps)))
    column = {s: j for j, s in enumerate(sites)}
    rows = [[0.0] * len(sites) for _ in deps]
    for row, d in zip(rows, deps):
        for s in d:
            row[column[s]] = 1.0
    # Cached across calls: never an inference tensor, which a later step could
    # not save for backward.
    with torch.inference_mode(False):
        matrix = torch.tensor(rows, dtype=dtype, device=device).reshape(len(deps), len(sites))
        return sites, matrix, torch.tensor(signs, dtype=dtype, device=device)


def tracked_deps(log_prob: Any, site: Any, role: str) -> tuple[frozenset[str], frozenset[str]]:
    """Dependencies of a cost in a tracked run: the provenance of its log-prob plus
    the sites whose values decided control flow before its site, and (in a run
    tracked completely) the :class:`~tracegraph.infer.plates.PerElement` markers
    its plate claims prove.  An analytic term reads two distributions: its markers
    are added by :func:`collect_terms`."""
    control: frozenset[str] = site.get("control_provenance") or frozenset()
    full: frozenset[Any] = get_provenance(log_prob)
    if control:
        full = full | control
    if role != "analytic":
        markers = per_element(site)
        if markers:
            full = full | markers
    return full, control


def untracked_deps(log_prob: Any, site: Any, role: str) -> None:
    """An untracked run knows no dependencies."""
    return None


def _plates_of(site: Any) -> dict[int, str]:
    stack = site["cond_indep_stack"]
    return plate_dims(stack) if stack else NO_PLATES


def collect_terms(
    model_trace: Trace,
    guide_trace: Trace,
    deps_fn: DepsFn,
    rao_blackwellize: bool,
    complete: bool = True,
    analytic: Analytic | None = None,
) -> ParticleTerms:
    """Compute every cost term of one particle and group them.

    :param deps_fn: dependency information of the run (see :data:`DepsFn`).
    :param rao_blackwellize: charge each non-reparameterized site only with the
        costs that depend on it (TraceGraph_ELBO); otherwise with every cost.
    :param complete: whether the run tagged every latent and deterministic site,
        which the plate rule needs to see every path from a score to a cost.  An
        incomplete run whose scores share a plate with a cost sums the cost over
        every shared plate (always unbiased) and says so in
        :attr:`ParticleTerms.incomplete`.
    :param analytic: replaces a latent site's ``log p - log q`` by its expectation
        over the site's own value where that is valid: where the replacement does
        not depend on the site's value (its provenance lacks the site; an
        untracked run cannot tell, and keeps the Monte Carlo terms).
    """
    # The ELBO reads ``log_prob`` only; per-site sums would be work thrown away.
    model_trace.compute_log_prob(sums=False)
    guide_trace.compute_score_parts(sums=False)
    # Computed tracked (their provenance says whether they are valid).
    replaced = _analytic_terms(model_trace, guide_trace, deps_fn, analytic) if analytic else {}
    with untracked():
        deps = _memo(deps_fn) if complete else deps_fn  # (the plate rule asks twice)
        return _collect(model_trace, guide_trace, deps, rao_blackwellize, complete, replaced)


def _memo(deps_fn: DepsFn) -> DepsFn:
    # The plate rule and the cost terms ask for the same guide sites' dependencies.
    found: dict[tuple[int, int, str], Any] = {}

    def deps(log_prob: Any, site: Any, role: str) -> Any:
        key = (id(log_prob), id(site), role)
        if key not in found:
            found[key] = deps_fn(log_prob, site, role)
        return found[key]

    return deps


def _analytic_terms(
    model_trace: Trace, guide_trace: Trace, deps_fn: DepsFn, analytic: Analytic
) -> dict[str, tuple[torch.Tensor, tuple[frozenset[str], frozenset[str]]]]:
    replaced = {}
    model_nodes = model_trace.nodes
    for name, gsite in guide_trace.nodes.items():
        msite = model_nodes.get(name)
        if msite is None or not site_is_latent(gsite) or not site_is_latent(msite):
            continue
        cost = analytic(msite, gsite)
        if cost is None:
            continue
        found = deps_fn(cost, msite, "analytic")
        # Valid only if it does not depend on the site's own value (a model prior
        # reading a later guide site that reads this one, for instance).
        if found is not None and name not in found[0]:
            # The term reads both distributions (not the value).
            markers: frozenset[Any] = per_element({**msite, "value": None}, gsite["fn"])
            if markers:
                found = (found[0] | markers, found[1])
            replaced[name] = (cost, found)
    return replaced


def _collect(
    model_trace: Trace,
    guide_trace: Trace,
    deps_fn: DepsFn,
    rao_blackwellize: bool,
    complete: bool,
    replaced: dict[str, tuple[torch.Tensor, tuple[frozenset[str], frozenset[str]]]],
) -> ParticleTerms:
    scores: dict[str, torch.Tensor] = {}
    score_plates: dict[str, dict[int, str]] = {}
    any_plated_score = False
    for name, site in guide_trace.nodes.items():
        if not site_is_nonreparam(site):
            continue
        plates = _plates_of(site)
        score = site["score_parts"].score_function
        scores[name] = to_plate_form(torch.as_tensor(score), plates)
        score_plates[name] = plates
        any_plated_score = any_plated_score or bool(plates)
    nonreparam = frozenset(scores)

    rule: PlateRule | None = None
    incomplete = any_plated_score and not complete
    if any_plated_score and complete:
        rule = PlateRule(_rule_info(model_trace, guide_trace, deps_fn))

    scalar_costs: list[torch.Tensor] = []
    scalar_signs: list[float] = []
    scalar_deps: list[frozenset[str]] = []
    groups: dict[tuple[Any, ...], tuple[CostGroup, list[torch.Tensor], list[float]]] = {}

    def add(log_prob: Any, site: Any, sign: float, role: str, known: Any = None) -> None:
        found = deps_fn(log_prob, site, role) if known is None else known
        if rao_blackwellize:
            assert found is not None, "Rao-Blackwellization needs a tracked run"
            deps = found[0] & nonreparam
        else:
            deps = nonreparam
        plates = _plates_of(site)
        cost = torch.as_tensor(log_prob)
        if not plates:
            scalar_costs.append(cost if cost.dim() == 0 else cost.sum())
            scalar_signs.append(sign)
            scalar_deps.append(deps)
            return
        cost = to_plate_form(cost, plates)
        elementwise: dict[str, frozenset[str]] = {}
        names = frozenset(plates.values())
        if rule is not None:
            assert found is not None
            full, control = found
            for i in deps:
                shared = rule.plates(i) & names
                if shared:
                    keep = rule.elementwise(i, full, control, shared)
                    if keep != shared:
                        elementwise[i] = keep
        elif incomplete:
            # Whether a path leaves a plate is unknown (reparameterized and
            # deterministic sites were not tagged): sum over every shared plate but
            # the particle plate, whose elements are independent runs.
            for i in deps:
                shared = names & frozenset(score_plates[i].values())
                if shared - _PARTICLES:
                    elementwise[i] = shared & _PARTICLES
        key = (
            deps,
            tuple(sorted(plates.items())),
            tuple(sorted((i, tuple(sorted(k))) for i, k in elementwise.items())),
        )
        entry = groups.get(key)
        if entry is None:
            groups[key] = (CostGroup(deps, plates, cost, elementwise), [cost], [sign])
        else:
            entry[1].append(cost)
            entry[2].append(sign)

    for name, site in model_trace.nodes.items():
        if site["type"] == "sample" and not site_is_subsample(site):
            expected = replaced.get(name)
            if expected is None:
                add(site["log_prob"], site, 1.0, "model")
            else:
                add(expected[0], site, 1.0, "analytic", expected[1])
    own_costs: dict[str, torch.Tensor] = {}
    own_is_score: set[str] = set()
    for name, site in guide_trace.nodes.items():
        # Every guide sample site counts in log q, observed ones too (as in Pyro).
        if site["type"] == "sample" and not site_is_subsample(site):
            if name not in replaced:
                add(site["log_prob"], site, -1.0, "guide")
                if name in scores:
                    own_costs[name] = site["log_prob"]
                    if site["log_prob"] is site["score_parts"].score_function:
                        own_is_score.add(name)

    if len(scalar_costs) <= _FEW:
        # A few scalar costs: cheaper as cost groups than stacked (a stack's
        # backward makes one view per entry).
        for cost, sign, deps in zip(scalar_costs, scalar_signs, scalar_deps):
            entry = groups.get((deps, (), ()))
            if entry is None:
                groups[(deps, (), ())] = (CostGroup(deps, NO_PLATES, cost), [cost], [sign])
            else:
                entry[1].append(cost)
                entry[2].append(sign)
        scalar_costs = []
    scalar = None
    if scalar_costs:
        costs = torch.stack(scalar_costs)
        sites, matrix, signs = _dependency_matrix(
            tuple(scalar_deps), tuple(scalar_signs), costs.dtype, costs.device
        )
        scalar = ScalarTerms(costs, signs, sites, matrix)
    finished = [_sum_parts(group, parts, signs) for group, parts, signs in groups.values()]
    analytic = {name: found for name, (_, found) in replaced.items()}
    return ParticleTerms(
        finished,
        scores,
        score_plates,
        scalar,
        incomplete,
        analytic,
        own_costs,
        frozenset(own_is_score),
    )


def _rule_info(
    model_trace: Trace, guide_trace: Trace, deps_fn: DepsFn
) -> dict[str, tuple[frozenset[str], frozenset[str], frozenset[str]]]:
    # What PlateRule needs of every guide latent and deterministic site.
    info: dict[str, tuple[frozenset[str], frozenset[str], frozenset[str]]] = {}
    for role, tr in (("guide", guide_trace), ("model", model_trace)):
        for name, site in tr.nodes.items():
            deterministic = site_is_deterministic(site)
            if not deterministic and (role == "model" or not site_is_latent(site)):
                continue
            # A deterministic site's log-prob is masked to zero (no provenance):
            # its value says what it depends on.
            deps = deps_fn(site["value"] if deterministic else site["log_prob"], site, role)
            assert deps is not None, "a complete run is tracked"
            full, control = deps
            names = frozenset(_plates_of(site).values())
            info[name] = (names, full - {name}, control)
    return info


def _sum_parts(group: CostGroup, parts: list[torch.Tensor], signs: list[float]) -> CostGroup:
    if len(parts) == 1:
        group.cost, group.sign = parts[0], signs[0]
        return group
    shape, dtype = parts[0].shape, parts[0].dtype
    if len(parts) > _FEW and all(p.shape == shape and p.dtype == dtype for p in parts):
        # One stack and one product, however many parts.
        sign = torch.tensor(signs, dtype=parts[0].dtype, device=parts[0].device)
        group.cost = torch.tensordot(sign, torch.stack(parts), dims=1)
        return group
    total = parts[0] if signs[0] > 0 else -parts[0]
    for p, s in zip(parts[1:], signs[1:]):
        total = total + p if s > 0 else total - p
    group.cost = total
    return group
