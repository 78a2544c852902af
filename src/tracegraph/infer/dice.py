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

The cost terms are computed and grouped by :mod:`tracegraph.infer.collect`.
Costs outside every plate (scalars) are done together, whatever their
dependencies: ``tau = D @ S`` with a constant 0/1 matrix ``D`` (costs x sites,
cached per dependency pattern) and the stacked summed scores ``S``, so a model of
many scalar sites costs a handful of tensor ops, not several per site.  Plated
costs with the same dependencies and plates are summed before the product.

Baseline terms ``sum_i (1 - box(log q_i)) * b_i`` have value 0 and subtract
``b_i * grad log q_i`` (Mnih & Gregor 2014).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import torch

from tracegraph.infer.downstream import reduce_to_dims
from tracegraph.ops.provenance import detach_provenance, untracked

__all__ = ["CostGroup", "ParticleTerms", "ScalarTerms", "magic_box", "sum_surrogates"]


_NO_PLATES: dict[int, str] = {}


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
            with untracked():
                out = reduce_to_dims(self.scores[site], self.score_plates[site], plates)
            self._tau_cache[key] = out
        return out

    def plain_score(self, site: str) -> torch.Tensor:
        """The site's log-density in plate form, as a plain (untracked) tensor.

        >>> from tracegraph.ops.provenance import track_provenance
        >>> lp = track_provenance(torch.tensor(-0.5), {"z"})
        >>> type(ParticleTerms([], {"z": lp}, {"z": {}}).plain_score("z")).__name__
        'Tensor'
        """
        return detach_provenance(self.scores[site])  # type: ignore[no-any-return]

    def surrogate(self) -> torch.Tensor:
        """``sum_c c * box(tau_c)``: value the ELBO, first and higher derivatives
        the estimator's."""
        with untracked():
            return self._surrogate()

    def first_order_surrogate(self) -> tuple[torch.Tensor, torch.Tensor]:
        """A cheaper surrogate with the same *first* derivative as :meth:`surrogate`,
        and the ELBO: ``(surrogate, elbo)``.

        ``sum_c c + sum_i sum(log q_i * D_i)``, where ``D_i`` is the detached
        downstream cost of site ``i`` (:meth:`downstream_cost`): per site, not per
        cost group, and without the boxes, so its graph is smaller.  Its value is
        not the ELBO and its second derivatives are not the estimator's: for a
        single ``backward`` only (``loss_and_grads``).

        >>> import tracegraph, tracegraph.distributions as dist
        >>> from tracegraph.poutine import handlers
        >>> from tracegraph.infer.collect import collect_terms, untracked_deps
        >>> q = torch.tensor(0.3, requires_grad=True)
        >>> guide = handlers.trace(lambda: tracegraph.sample("z", dist.Bernoulli(q))).get_trace()
        >>> model = handlers.trace(handlers.replay(
        ...     lambda: tracegraph.sample("z", dist.Bernoulli(0.5)), trace=guide)).get_trace()
        >>> terms = collect_terms(model, guide, untracked_deps, rao_blackwellize=False)
        >>> first, elbo = terms.first_order_surrogate()
        >>> dice = terms.surrogate()
        >>> bool(torch.isclose(elbo, dice))  # the ELBO, beside the surrogate
        True
        >>> g1, = torch.autograd.grad(first, q, retain_graph=True)
        >>> g2, = torch.autograd.grad(dice, q)
        >>> bool(torch.isclose(g1, g2))  # the same first derivative
        True
        """
        with untracked():
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
        with untracked():
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
