"""The surrogate objective shared by Trace_ELBO and TraceGraph_ELBO.

For one particle, every cost term ``c`` (``log p`` of a model sample site,
``-log q`` of a guide latent site) is multiplied by the *magic box* of the
log-densities of the non-reparameterized guide sites it depends on (DiCE,
Foerster et al. 2018)::

    surrogate = sum_c  c * box(tau_c),   box(t) = exp(t - t.detach()),
    tau_c     = sum_{i in deps(c)} log q_i   (reduced to c's plates)

``box`` has value 1, so the surrogate's value is the ELBO exactly; its gradient
is ``sum_c grad c + c * grad tau_c``, i.e. each non-reparameterized site's score
times its downstream cost (Schulman et al. 2015), and unlike the usual
``score * cost.detach()`` surrogate its higher derivatives are right too.

``deps(c)`` is the only difference between the estimators: every
non-reparameterized site (Trace_ELBO) or the sites in the cost's provenance
(TraceGraph_ELBO).  Inside a shared plate the product is per element only along
the plates where :class:`~tracegraph.infer.downstream.PlateRule` says the site's
influence stays element-wise; along the others the score is summed over the plate.

Costs outside every plate (scalars) are done together, whatever their
dependencies: ``tau = D @ S`` with a constant 0/1 matrix ``D`` (costs x sites,
cached per dependency pattern) and the stacked summed scores ``S``, so a model of
many scalar sites costs a handful of tensor ops, not several per site.  Plated
costs with the same dependencies and plates are summed before the product.

Baseline terms ``sum_i (1 - box(log q_i)) * b_i`` have value 0 and subtract
``b_i * grad log q_i`` (Mnih & Gregor 2014).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch

from tracegraph.infer.downstream import (
    NeedsProvenance,
    PlateRule,
    plate_dims,
    reduce_to_dims,
    to_plate_form,
)
from tracegraph.ops.provenance import detach_provenance, get_provenance
from tracegraph.poutine.trace_struct import Trace
from tracegraph.poutine.util import site_is_deterministic

__all__ = [
    "CostGroup",
    "DepsFn",
    "ParticleTerms",
    "collect_terms",
    "magic_box",
    "sum_surrogates",
    "tracked_deps",
    "untracked_deps",
]

#: ``deps(log_prob, site, role) -> (full, control)``: every tagged site the cost
#: depends on (its provenance and the control flow before it) and the control-flow
#: part alone; ``None`` when the run was not tracked.  ``role`` is "model" or "guide".
DepsFn = Callable[[Any, Any, str], "tuple[frozenset[str], frozenset[str]] | None"]

# The surrogate's arithmetic runs with tracked tensors read as plain ones: their
# provenance was read already, and tracking every op would only cost time.
_untracked = torch._C.DisableTorchFunctionSubclass

_NO_PLATES: dict[int, str] = {}
# Up to this many terms, adding them one by one beats stacking them.
_FEW = 6


def magic_box(x: torch.Tensor) -> torch.Tensor:
    """``exp(x - x.detach())``: value 1, gradient ``grad x`` (DiCE).

    >>> x = torch.tensor(2.0, requires_grad=True)
    >>> y = magic_box(x); y.backward(); (y.detach().item(), x.grad.item())
    (1.0, 1.0)
    """
    return torch.exp(x - x.detach())


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


@dataclass
class ParticleTerms:
    """What one particle contributes: its cost terms and the log-density (plate
    form) of every non-reparameterized guide site.

    ``groups`` holds the plated costs (and a few scalar ones), ``scalar`` the
    scalar costs done as one product.
    """

    groups: list[CostGroup]
    scores: dict[str, torch.Tensor]
    score_plates: dict[str, dict[int, str]]
    scalar: ScalarTerms | None = None
    _tau_cache: dict[tuple[str, tuple[tuple[int, str], ...]], torch.Tensor] = field(
        default_factory=dict
    )

    def score_at(self, site: str, plates: dict[int, str]) -> torch.Tensor:
        """``log q_site`` summed over its plates that are not in ``plates`` (memoized)."""
        key = (site, tuple(sorted(plates.items())))
        out = self._tau_cache.get(key)
        if out is None:
            with _untracked():
                out = reduce_to_dims(self.scores[site], self.score_plates[site], plates)
            self._tau_cache[key] = out
        return out

    def plain_score(self, site: str) -> torch.Tensor:
        """The site's log-density in plate form, as a plain (untracked) tensor."""
        return detach_provenance(self.scores[site])  # type: ignore[no-any-return]

    def surrogate(self) -> torch.Tensor:
        """``sum_c c * box(tau_c)``: value the ELBO, first and higher derivatives
        the estimator's."""
        with _untracked():
            return self._surrogate()

    def first_order_surrogate(self) -> tuple[torch.Tensor, torch.Tensor]:
        """A cheaper surrogate with the same *first* derivative as :meth:`surrogate`,
        and the ELBO: ``(surrogate, elbo)``.

        ``sum_c c + sum_i sum(log q_i * D_i)``, where ``D_i`` is the detached
        downstream cost of site ``i`` (:meth:`downstream_cost`): per site, not per
        cost group, and without the boxes, so its graph is smaller.  Its value is
        not the ELBO and its second derivatives are not the estimator's: for a
        single ``backward`` only (``loss_and_grads``).
        """
        with _untracked():
            return self._first_order()

    def _surrogate(self) -> torch.Tensor:
        total: torch.Tensor | None = None
        scalar = self.scalar
        if scalar is not None:
            if scalar.sites:
                costs, signs, matrix, stacked = self._scalar_operands(scalar)
                total = (costs * magic_box(matrix @ stacked)) @ signs
            else:
                total = scalar.costs @ scalar.signs
        for g in self.groups:
            if g.deps:
                parts = [self.score_at(site, g.target(site)) for site in sorted(g.deps)]
                tau = parts[0]
                for p in parts[1:]:
                    tau = tau + p
                term = (g.cost * magic_box(tau)).sum()
            else:
                term = g.cost.sum()
            total = _accumulate(total, term, g.sign)
        return torch.zeros(()) if total is None else total

    def _first_order(self) -> tuple[torch.Tensor, torch.Tensor]:
        pathwise: torch.Tensor | None = None
        score_terms: torch.Tensor | None = None
        scalar = self.scalar
        if scalar is not None:
            pathwise = scalar.costs @ scalar.signs
            if scalar.sites:
                costs, signs, matrix, stacked = self._scalar_operands(scalar)
                score_terms = stacked @ (matrix.t() @ (costs.detach() * signs))
        plated: set[str] = set()
        for g in self.groups:
            pathwise = _accumulate(pathwise, g.cost.sum(), g.sign)
            plated.update(g.deps)
        for site in sorted(plated):
            term = (self.scores[site] * self._plated_downstream(site)).sum()
            score_terms = term if score_terms is None else score_terms + term
        elbo = torch.zeros(()) if pathwise is None else pathwise
        return (elbo if score_terms is None else elbo + score_terms), elbo

    def _scalar_operands(
        self, scalar: ScalarTerms
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        # Costs, signs, matrix and stacked scores in one dtype: the products do not
        # promote (float64 observations with float32 latents).
        stacked = self._stacked_scores(scalar.sites)
        costs = scalar.costs
        if stacked.dtype == costs.dtype:
            return costs, scalar.signs, scalar.matrix, stacked
        dtype = torch.promote_types(stacked.dtype, costs.dtype)
        return (
            costs.to(dtype),
            scalar.signs.to(dtype),
            scalar.matrix.to(dtype),
            stacked.to(dtype),
        )

    def _stacked_scores(self, sites: tuple[str, ...]) -> torch.Tensor:
        # Each site's log-density summed over its plates, one entry per site.
        parts = []
        for site in sites:
            score = self.scores[site]
            parts.append(score if score.dim() == 0 else self.score_at(site, _NO_PLATES).reshape(()))
        return torch.stack(parts)

    def _plated_downstream(self, site: str) -> torch.Tensor:
        # The part of downstream_cost(site) that comes from the plated groups.
        plates = self.score_plates[site]
        out: torch.Tensor | None = None
        for g in self.groups:
            if site in g.deps:
                keep = g.target(site)
                target = {d: n for d, n in plates.items() if keep.get(d) == n}
                part = reduce_to_dims(g.cost.detach(), g.plates, target)
                out = _accumulate(out, part, g.sign)
        assert out is not None
        return out

    def downstream_cost(self, site: str) -> torch.Tensor:
        """The detached sum of the cost terms that depend on ``site``, each reduced to
        the plates along which it is charged per element (shape of the site's
        plate-form log-density)."""
        with _untracked():
            out = torch.zeros_like(self.scores[site]).detach()
            scalar = self.scalar
            if scalar is not None and site in scalar.sites:
                column = scalar.matrix[:, scalar.sites.index(site)]
                out = out + (scalar.costs.detach() * scalar.signs) @ column
            if any(site in g.deps for g in self.groups):
                out = out + self._plated_downstream(site)
            return out


def sum_surrogates(
    particles: Iterable[ParticleTerms], first_order: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """The summed surrogate of several particles and their summed ELBO:
    :meth:`ParticleTerms.first_order_surrogate` or (twice)
    :meth:`ParticleTerms.surrogate`.

    >>> sum_surrogates([], first_order=True)
    (tensor(0.), tensor(0.))
    """
    surrogate: torch.Tensor | None = None
    elbo: torch.Tensor | None = None
    for terms in particles:
        if first_order:
            s, e = terms.first_order_surrogate()
        else:
            s = e = terms.surrogate()
        surrogate = s if surrogate is None else surrogate + s
        elbo = e if elbo is None else elbo + e
    if surrogate is None or elbo is None:
        return torch.zeros(()), torch.zeros(())
    return surrogate, elbo


def _accumulate(total: torch.Tensor | None, term: torch.Tensor, sign: float) -> torch.Tensor:
    if total is None:
        return term if sign > 0 else -term
    return total + term if sign > 0 else total - term


def tracked_deps(log_prob: Any, site: Any, role: str) -> tuple[frozenset[str], frozenset[str]]:
    """Dependencies of a cost in a tracked run: the provenance of its log-prob plus
    the sites whose values decided control flow before its site."""
    control: frozenset[str] = site.get("control_provenance") or frozenset()
    full: frozenset[str] = get_provenance(log_prob)
    if control:
        full = full | control
    return full, control


def untracked_deps(log_prob: Any, site: Any, role: str) -> None:
    """An untracked run knows no dependencies."""
    return None


def _is_latent(site: Any) -> bool:
    return (
        site["type"] == "sample"
        and not site["is_observed"]
        and not site["infer"].get("_subsample", False)
    )


def _plates_of(site: Any) -> dict[int, str]:
    stack = site["cond_indep_stack"]
    return plate_dims(stack) if stack else _NO_PLATES


def collect_terms(
    model_trace: Trace,
    guide_trace: Trace,
    deps_fn: DepsFn,
    rao_blackwellize: bool,
    complete: bool = True,
) -> ParticleTerms:
    """Compute every cost term of one particle and group them.

    :param deps_fn: dependency information of the run (see :data:`DepsFn`).
    :param rao_blackwellize: charge each non-reparameterized site only with the
        costs that depend on it (TraceGraph_ELBO); otherwise with every cost.
    :param complete: whether the run tagged every latent and deterministic site,
        which the plate rule needs to see every path from a score to a cost.
    :raises NeedsProvenance: when a non-reparameterized site shares a plate with a
        cost and the run is not complete.
    """
    # The ELBO reads ``log_prob`` only; per-site sums would be work thrown away.
    model_trace.compute_log_prob(sums=False)
    guide_trace.compute_score_parts(sums=False)
    with _untracked():
        return _collect(model_trace, guide_trace, deps_fn, rao_blackwellize, complete)


def _collect(
    model_trace: Trace,
    guide_trace: Trace,
    deps_fn: DepsFn,
    rao_blackwellize: bool,
    complete: bool,
) -> ParticleTerms:
    scores: dict[str, torch.Tensor] = {}
    score_plates: dict[str, dict[int, str]] = {}
    any_plated_score = False
    for name, site in guide_trace.nodes.items():
        if not _is_latent(site) or getattr(site["fn"], "has_rsample", False):
            continue
        plates = _plates_of(site)
        score = site["score_parts"].score_function
        scores[name] = to_plate_form(torch.as_tensor(score), plates)
        score_plates[name] = plates
        any_plated_score = any_plated_score or bool(plates)
    nonreparam = frozenset(scores)

    rule: PlateRule | None = None
    if any_plated_score:
        if not complete:
            # Whether a path leaves a plate is unknown: reparameterized and
            # deterministic sites were not tagged.
            raise NeedsProvenance
        rule = PlateRule(_rule_info(model_trace, guide_trace, deps_fn))

    scalar_costs: list[torch.Tensor] = []
    scalar_signs: list[float] = []
    scalar_deps: list[frozenset[str]] = []
    groups: dict[tuple[Any, ...], tuple[CostGroup, list[torch.Tensor], list[float]]] = {}

    def add(log_prob: Any, site: Any, sign: float, role: str) -> None:
        found = deps_fn(log_prob, site, role)
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
        if rule is not None:
            assert found is not None
            full, control = found
            names = frozenset(plates.values())
            for i in deps:
                shared = rule.plates(i) & names
                if shared:
                    keep = rule.elementwise(i, full, control, shared)
                    if keep != shared:
                        elementwise[i] = keep
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

    for site in model_trace.nodes.values():
        if site["type"] == "sample" and not site["infer"].get("_subsample"):
            add(site["log_prob"], site, 1.0, "model")
    for site in guide_trace.nodes.values():
        if _is_latent(site):
            add(site["log_prob"], site, -1.0, "guide")

    if len(scalar_costs) <= _FEW:
        # A few scalar costs: cheaper as cost groups than stacked (a stack's
        # backward makes one view per entry).
        for cost, sign, deps in zip(scalar_costs, scalar_signs, scalar_deps):
            entry = groups.get((deps, (), ()))
            if entry is None:
                groups[(deps, (), ())] = (CostGroup(deps, _NO_PLATES, cost), [cost], [sign])
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
    return ParticleTerms(finished, scores, score_plates, scalar)


def _rule_info(
    model_trace: Trace, guide_trace: Trace, deps_fn: DepsFn
) -> dict[str, tuple[frozenset[str], frozenset[str], frozenset[str]]]:
    # What PlateRule needs of every guide latent and deterministic site.
    info: dict[str, tuple[frozenset[str], frozenset[str], frozenset[str]]] = {}
    for role, tr in (("guide", guide_trace), ("model", model_trace)):
        for name, site in tr.nodes.items():
            deterministic = site_is_deterministic(site)
            if not deterministic and (role == "model" or not _is_latent(site)):
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
