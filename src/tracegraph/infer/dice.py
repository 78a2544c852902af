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
(TraceGraph_ELBO).  Costs with the same dependencies and plates are summed before
the product, so the work grows with the number of distinct dependency patterns,
not with sites times costs.

Baseline terms ``sum_i (1 - box(log q_i)) * b_i`` have value 0 and subtract
``b_i * grad log q_i`` (Mnih & Gregor 2014).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from tracegraph.infer.downstream import plate_dims, reduce_to_dims, to_plate_form
from tracegraph.ops.provenance import detach_provenance, get_provenance
from tracegraph.poutine.trace_struct import Trace

__all__ = ["CostGroup", "ParticleTerms", "collect_terms", "magic_box"]


def magic_box(x: torch.Tensor) -> torch.Tensor:
    """``exp(x - x.detach())``: value 1, gradient ``grad x`` (DiCE).

    >>> x = torch.tensor(2.0, requires_grad=True)
    >>> y = magic_box(x); y.backward(); (y.detach().item(), x.grad.item())
    (1.0, 1.0)
    """
    return torch.exp(x - x.detach())


@dataclass
class CostGroup:
    """Summed cost terms sharing a dependency set and a plate set."""

    deps: frozenset[str]
    plates: dict[int, str]
    cost: torch.Tensor


@dataclass
class ParticleTerms:
    """What one particle contributes: the ELBO value, its cost groups and the
    log-density (plate form) of every non-reparameterized guide site."""

    elbo: torch.Tensor
    groups: list[CostGroup]
    scores: dict[str, torch.Tensor]
    score_plates: dict[str, dict[int, str]]
    _tau_cache: dict[tuple[str, tuple[tuple[int, str], ...]], torch.Tensor] = field(
        default_factory=dict
    )

    def score_at(self, site: str, plates: dict[int, str]) -> torch.Tensor:
        """``log q_site`` reduced to the given plates (memoized)."""
        key = (site, tuple(sorted(plates.items())))
        out = self._tau_cache.get(key)
        if out is None:
            out = reduce_to_dims(self.scores[site], self.score_plates[site], plates)
            self._tau_cache[key] = out
        return out

    def surrogate(self) -> torch.Tensor:
        """``sum_c c * box(tau_c)`` (value: the ELBO)."""
        total = self.elbo.new_zeros(())
        for g in self.groups:
            if not g.deps:
                total = total + g.cost.sum()
                continue
            tau = None
            for site in g.deps:
                s = self.score_at(site, g.plates)
                tau = s if tau is None else tau + s
            assert tau is not None
            total = total + (g.cost * magic_box(tau)).sum()
        return total

    def downstream_cost(self, site: str) -> torch.Tensor:
        """The detached sum of the cost terms that depend on ``site``, reduced to its
        plates (shape of its plate-form log-density)."""
        plates = self.score_plates[site]
        out = torch.zeros_like(self.scores[site]).detach()
        for g in self.groups:
            if site in g.deps:
                out = out + reduce_to_dims(g.cost.detach(), g.plates, plates)
        return out


def collect_terms(
    model_trace: Trace,
    guide_trace: Trace,
    deps_of: Callable[[torch.Tensor, Any, frozenset[str], str], frozenset[str]],
) -> ParticleTerms:
    """Compute every cost term of one particle and group them.

    :param deps_of: ``deps_of(log_prob, site, nonreparam_sites, role)`` -> the
        non-reparameterized guide sites the cost depends on; ``role`` is
        ``"model"`` or ``"guide"``.
    """
    model_trace.compute_log_prob()
    guide_trace.compute_score_parts()
    nonreparam: set[str] = set()
    scores: dict[str, torch.Tensor] = {}
    score_plates: dict[str, dict[int, str]] = {}
    for name, site in guide_trace.nodes.items():
        if site["type"] != "sample" or site["is_observed"] or site["infer"].get("_subsample"):
            continue
        if not getattr(site["fn"], "has_rsample", False):
            nonreparam.add(name)
            plates = plate_dims(site["cond_indep_stack"])
            score = detach_provenance(site["score_parts"].score_function)
            scores[name] = to_plate_form(torch.as_tensor(score), plates)
            score_plates[name] = plates
    frozen = frozenset(nonreparam)

    groups: dict[tuple[frozenset[str], tuple[tuple[int, str], ...]], CostGroup] = {}
    elbo: torch.Tensor | float = 0.0

    def add(log_prob: Any, site: Any, sign: float) -> None:
        nonlocal elbo
        deps = deps_of(log_prob, site, frozen, "model" if sign > 0 else "guide")
        plates = plate_dims(site["cond_indep_stack"])
        cost = to_plate_form(torch.as_tensor(detach_provenance(log_prob)), plates)
        if sign < 0:
            cost = -cost
        elbo = elbo + cost.sum()
        key = (deps, tuple(sorted(plates.items())))
        group = groups.get(key)
        if group is None:
            groups[key] = CostGroup(deps, plates, cost)
        else:
            group.cost = group.cost + cost

    for _, site in model_trace.nodes.items():
        if site["type"] == "sample" and not site["infer"].get("_subsample"):
            add(site["log_prob"], site, 1.0)
    for site in guide_trace.nodes.values():
        if site["type"] != "sample" or site["is_observed"] or site["infer"].get("_subsample"):
            continue
        add(site["log_prob"], site, -1.0)
    elbo_t = torch.as_tensor(elbo)
    return ParticleTerms(elbo_t, list(groups.values()), scores, score_plates)


def provenance_deps(
    log_prob: Any, site: Any, nonreparam: frozenset[str], role: str = "model"
) -> frozenset[str]:
    """TraceGraph's rule: the non-reparameterized sites in the cost's provenance,
    including those whose values decided Python control flow before the site."""
    deps = get_provenance(log_prob)
    control = site.get("control_provenance")
    if control:
        deps = deps | control
    return deps & nonreparam


def all_deps(
    log_prob: Any, site: Any, nonreparam: frozenset[str], role: str = "model"
) -> frozenset[str]:
    """Trace_ELBO's rule: every cost depends on every non-reparameterized site."""
    return nonreparam
