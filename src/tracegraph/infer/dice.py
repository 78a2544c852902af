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

Costs with the same dependencies and plates are summed before the product, so the
work grows with the number of distinct dependency patterns, not with sites times
costs.

Baseline terms ``sum_i (1 - box(log q_i)) * b_i`` have value 0 and subtract
``b_i * grad log q_i`` (Mnih & Gregor 2014).
"""

from __future__ import annotations

from collections.abc import Callable
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
    "tracked_deps",
    "untracked_deps",
]

#: ``deps(log_prob, site, role) -> (full, control)``: every tagged site the cost
#: depends on (its provenance and the control flow before it) and the control-flow
#: part alone; ``None`` when the run was not tracked.  ``role`` is "model" or "guide".
DepsFn = Callable[[Any, Any, str], "tuple[frozenset[str], frozenset[str]] | None"]


def magic_box(x: torch.Tensor) -> torch.Tensor:
    """``exp(x - x.detach())``: value 1, gradient ``grad x`` (DiCE).

    >>> x = torch.tensor(2.0, requires_grad=True)
    >>> y = magic_box(x); y.backward(); (y.detach().item(), x.grad.item())
    (1.0, 1.0)
    """
    return torch.exp(x - x.detach())


@dataclass
class CostGroup:
    """Summed cost terms sharing a dependency set, a plate set and the plates along
    which each dependency is element-wise (``elementwise[i]``; absent: all shared)."""

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
class ParticleTerms:
    """What one particle contributes: its cost groups and the log-density (plate
    form) of every non-reparameterized guide site."""

    groups: list[CostGroup]
    scores: dict[str, torch.Tensor]
    score_plates: dict[str, dict[int, str]]
    _tau_cache: dict[tuple[str, tuple[tuple[int, str], ...]], torch.Tensor] = field(
        default_factory=dict
    )

    def score_at(self, site: str, plates: dict[int, str]) -> torch.Tensor:
        """``log q_site`` summed over its plates that are not in ``plates`` (memoized)."""
        key = (site, tuple(sorted(plates.items())))
        out = self._tau_cache.get(key)
        if out is None:
            out = reduce_to_dims(self.scores[site], self.score_plates[site], plates)
            self._tau_cache[key] = out
        return out

    def surrogate(self) -> torch.Tensor:
        """``sum_c c * box(tau_c)`` (value: the ELBO).

        Groups whose cost and reduced scores are scalars (no plates) are done in
        one product: ``tau = D @ S`` with a 0/1 matrix ``D`` (groups x sites) and
        the stacked scores ``S``; ``tau`` is linear in the scores, so the DiCE
        derivatives are unchanged, and a chain of many discrete sites costs a
        handful of ops instead of several per group.
        """
        total = torch.zeros(())
        scalar_costs: list[torch.Tensor] = []
        scalar_signs: list[float] = []
        scalar_deps: list[frozenset[str]] = []
        scores = self.scores
        for g in self.groups:
            if not g.deps:
                total = total + g.signed().sum()
                continue
            if g.cost.numel() == 1 and all(scores[s].numel() == 1 for s in g.deps):
                # A scalar cost and scalar scores: no plate to reduce over.
                scalar_costs.append(g.cost.reshape(()))
                scalar_signs.append(g.sign)
                scalar_deps.append(g.deps)
                continue
            parts = [self.score_at(site, g.target(site)) for site in g.deps]
            tau = parts[0]
            for p in parts[1:]:
                tau = tau + p
            total = total + (g.signed() * magic_box(tau)).sum()
        if scalar_costs:
            sites = sorted(set().union(*scalar_deps))
            column = {s: j for j, s in enumerate(sites)}
            stacked = torch.stack([scores[s].reshape(()) for s in sites])
            rows = [[0.0] * len(sites) for _ in scalar_deps]
            for row, deps in zip(rows, scalar_deps):
                for s in deps:
                    row[column[s]] = 1.0
            matrix = torch.tensor(rows, dtype=stacked.dtype, device=stacked.device)
            signs = torch.tensor(scalar_signs, dtype=stacked.dtype, device=stacked.device)
            tau = matrix @ stacked
            total = total + (torch.stack(scalar_costs) * signs * magic_box(tau)).sum()
        return total

    def downstream_cost(self, site: str) -> torch.Tensor:
        """The detached sum of the cost terms that depend on ``site``, each reduced to
        the plates along which it is charged per element (shape of the site's
        plate-form log-density)."""
        plates = self.score_plates[site]
        out = torch.zeros_like(self.scores[site]).detach()
        for g in self.groups:
            if site in g.deps:
                keep = g.target(site)
                target = {d: n for d, n in plates.items() if keep.get(d) == n}
                out = out + reduce_to_dims(g.signed().detach(), g.plates, target)
        return out


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
    :param complete: whether the run tagged every latent site (not only the
        non-reparameterized ones), which the plate rule needs to see paths through
        reparameterized sites.
    :raises NeedsProvenance: when a non-reparameterized site shares a plate with a
        cost and the run lacks the dependency information the plate rule needs.
    """
    model_trace.compute_log_prob()
    guide_trace.compute_score_parts()
    scores: dict[str, torch.Tensor] = {}
    score_plates: dict[str, dict[int, str]] = {}
    info: dict[str, tuple[frozenset[str], frozenset[str], frozenset[str]]] = {}
    has_reparam = False
    any_plated_score = False
    for name, site in guide_trace.nodes.items():
        if not _is_latent(site):
            continue
        plates = plate_dims(site["cond_indep_stack"])
        if getattr(site["fn"], "has_rsample", False):
            has_reparam = True
        else:
            score = detach_provenance(site["score_parts"].score_function)
            scores[name] = to_plate_form(torch.as_tensor(score), plates)
            score_plates[name] = plates
            any_plated_score = any_plated_score or bool(plates)
    nonreparam = frozenset(scores)

    rule: PlateRule | None = None
    if any_plated_score:
        # Paths through reparameterized and deterministic sites are visible only
        # when those sites were tagged too.
        hidden = has_reparam or any(
            site_is_deterministic(site)
            for tr in (model_trace, guide_trace)
            for site in tr.nodes.values()
        )
        for role, tr in (("guide", guide_trace), ("model", model_trace)):
            for name, site in tr.nodes.items():
                deterministic = site_is_deterministic(site)
                if not deterministic and (role == "model" or not _is_latent(site)):
                    continue
                # A deterministic site's log-prob is masked to zero (no
                # provenance): its value says what it depends on.
                deps = deps_fn(site["value"] if deterministic else site["log_prob"], site, role)
                if deps is None or (hidden and not complete):
                    raise NeedsProvenance
                full, control = deps
                names = frozenset(plate_dims(site["cond_indep_stack"]).values())
                info[name] = (names, full - {name}, control)
        rule = PlateRule(info)

    # Parts of each group, summed once at the end: adding them one by one costs
    # several tiny torch ops per site, which dominates models of many scalar sites.
    groups: dict[tuple[Any, ...], tuple[CostGroup, list[torch.Tensor], list[float]]] = {}

    def add(log_prob: Any, site: Any, sign: float, role: str) -> None:
        found = deps_fn(log_prob, site, role)
        if rao_blackwellize:
            assert found is not None, "Rao-Blackwellization needs a tracked run"
            deps = found[0] & nonreparam
        else:
            deps = nonreparam
        plates = plate_dims(site["cond_indep_stack"])
        cost = to_plate_form(torch.as_tensor(detach_provenance(log_prob)), plates)
        elementwise: dict[str, frozenset[str]] = {}
        if rule is not None and plates:
            if found is None:
                raise NeedsProvenance
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
    finished = [_sum_parts(group, parts, signs) for group, parts, signs in groups.values()]
    return ParticleTerms(finished, scores, score_plates)


def _sum_parts(group: CostGroup, parts: list[torch.Tensor], signs: list[float]) -> CostGroup:
    if len(parts) == 1:
        group.cost, group.sign = parts[0], signs[0]
    elif all(p.numel() == 1 for p in parts):
        flat = torch.cat([p.reshape(1) for p in parts])
        sign = torch.tensor(signs, dtype=flat.dtype, device=flat.device)
        shape = max((p.shape for p in parts), key=len)
        group.cost = (flat * sign).sum().reshape(shape)
    else:
        total = parts[0] if signs[0] > 0 else -parts[0]
        for p, s in zip(parts[1:], signs[1:]):
            total = total + p if s > 0 else total - p
        group.cost = total
    return group
