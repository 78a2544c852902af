"""Computing one particle's cost terms and grouping them for the surrogate
(:mod:`tracegraph.infer.dice`).

Each cost term (``log p`` of a model sample site, ``-log q`` of a guide latent
site) gets its dependency set (every non-reparameterized site for Trace_ELBO, the
non-reparameterized sites in its provenance for TraceGraph_ELBO), its plates and,
inside plates shared with a score, the plates along which that score may multiply
it per element (:class:`~tracegraph.infer.downstream.PlateRule`).  Costs with the
same of all three are summed; many scalar costs become one
:class:`~tracegraph.infer.dice.ScalarTerms` with a cached 0/1 dependency matrix.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch

from tracegraph.infer.dice import _NO_PLATES, CostGroup, ParticleTerms, ScalarTerms
from tracegraph.infer.downstream import NeedsProvenance, PlateRule, plate_dims, to_plate_form
from tracegraph.ops.provenance import get_provenance, untracked
from tracegraph.poutine.trace_struct import Trace
from tracegraph.poutine.util import site_is_deterministic

__all__ = ["DepsFn", "collect_terms", "tracked_deps", "untracked_deps"]

#: ``deps(log_prob, site, role) -> (full, control)``: every tagged site the cost
#: depends on (its provenance and the control flow before it) and the control-flow
#: part alone; ``None`` when the run was not tracked.  ``role`` is "model" or "guide".
DepsFn = Callable[[Any, Any, str], "tuple[frozenset[str], frozenset[str]] | None"]

# Up to this many terms, adding them one by one beats stacking them.
_FEW = 6


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
    with untracked():
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
