"""Surrogate objectives: how cost terms become the tensor an ELBO differentiates.

Two surrogates read the same :class:`~tracegraph.infer.terms.ParticleTerms`:

* :data:`DICE` (for ``differentiable_loss``): every cost term ``c`` is multiplied
  by the *magic box* of the log-densities of the non-reparameterized guide sites
  it depends on (DiCE, Foerster et al. 2018)::

      surrogate = sum_c  c * box(tau_c),   box(t) = exp(t - t.detach()),
      tau_c     = sum_{i in deps(c)} log q_i   (reduced to c's plates)

  ``box`` has value 1, so the surrogate's value is the ELBO exactly; its gradient
  is ``sum_c grad c + c * grad tau_c``, each non-reparameterized site's score
  times its downstream cost (Schulman et al. 2015), and its higher derivatives
  are right too.

* :data:`FIRST_ORDER`: ``sum_c c + sum_i sum(log q_i * D_i)`` with ``D_i`` the
  detached downstream cost of site ``i``: the same first derivative from a graph
  no larger than Pyro's, but neither its value nor its higher derivatives are the
  ELBO's.  :data:`SCORE_ONLY` (for ``loss_and_grads``, one ``backward``) is the
  same without the pathwise gradient of each score site's own ``-log q_i`` (zero
  in expectation, and left out by Pyro too).

``deps(c)`` and the plates along which a product is per element are decided by
:mod:`tracegraph.infer.terms`; the surrogates only multiply.  Costs outside every
plate are done together: ``tau = D @ S`` with a constant 0/1 matrix ``D`` (costs x
sites) and the stacked summed scores ``S``.

Baseline terms have value 0 and subtract ``b_i * grad log q_i`` (Mnih & Gregor
2014): ``sum_i (1 - box(log q_i)) * b_i`` (DiCE) or ``-sum_i log q_i * b_i``.
The baseline values come from :mod:`tracegraph.infer.baselines`.

>>> import tracegraph, tracegraph.distributions as dist
>>> from tracegraph.poutine import handlers
>>> from tracegraph.infer.terms import collect_terms, untracked_deps
>>> q = torch.tensor(0.3, requires_grad=True)
>>> guide = handlers.trace(lambda: tracegraph.sample("z", dist.Bernoulli(q))).get_trace()
>>> model = handlers.trace(handlers.replay(
...     lambda: tracegraph.sample("z", dist.Bernoulli(0.5)), trace=guide)).get_trace()
>>> terms = collect_terms(model, guide, untracked_deps, rao_blackwellize=False)
>>> first, elbo = FIRST_ORDER.objective([terms])
>>> dice, dice_elbo = DICE.objective([terms])
>>> bool(torch.isclose(elbo, dice)) and dice is dice_elbo  # DiCE's value is the ELBO
True
>>> g1, = torch.autograd.grad(first, q, retain_graph=True)
>>> g2, = torch.autograd.grad(dice, q)
>>> bool(torch.isclose(g1, g2))  # the same first derivative
True
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from tracegraph.infer.terms import ParticleTerms, accumulate
from tracegraph.ops.provenance import untracked

__all__ = [
    "DICE",
    "FIRST_ORDER",
    "SCORE_ONLY",
    "DiceSurrogate",
    "FirstOrderSurrogate",
    "Surrogate",
    "magic_box",
]


def magic_box(x: torch.Tensor) -> torch.Tensor:
    """``exp(x - x.detach())``: value 1, gradient ``grad x`` (DiCE).

    >>> x = torch.tensor(2.0, requires_grad=True)
    >>> y = magic_box(x); y.backward(); (y.detach().item(), x.grad.item())
    (1.0, 1.0)
    """
    return torch.exp(x - x.detach())


class Surrogate:
    """How an estimator's terms become one tensor to differentiate.

    :attr:`exact` says whether that tensor's value is the ELBO and its higher
    derivatives are the estimator's (DiCE), or only its first derivative is (a
    cheaper graph for one ``backward``).
    """

    #: Whether :meth:`objective`'s tensor is the ELBO in value and all derivatives.
    exact: bool = True

    def objective(self, particles: Iterable[ParticleTerms]) -> tuple[torch.Tensor, torch.Tensor]:
        """The summed surrogate of the particles and their summed ELBO.

        :returns: ``(surrogate, elbo)``; the same tensor twice when :attr:`exact`.
        """
        surrogate: torch.Tensor | None = None
        elbo: torch.Tensor | None = None
        for terms in particles:
            with untracked():
                s, e = self._particle(terms)
            surrogate = s if surrogate is None else surrogate + s
            if not self.exact:
                elbo = e if elbo is None else elbo + e
        if surrogate is None:
            zero = torch.zeros(())
            return zero, zero
        return surrogate, surrogate if elbo is None else elbo

    def _particle(self, terms: ParticleTerms) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def baseline_term(self, score: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """A term of value 0 whose gradient is ``-b * grad score`` (``b`` a constant).

        :param score: the site's plain log-density (plate form).
        :param b: the baseline, broadcastable to ``score``.
        """
        raise NotImplementedError

    def auxiliary(self, loss: torch.Tensor) -> torch.Tensor:
        """What a learnable baseline's training loss adds to the objective: its
        gradient, and (when :attr:`exact`) no value."""
        raise NotImplementedError


class DiceSurrogate(Surrogate):
    """``sum_c c * box(tau_c)``: value the ELBO, first and higher derivatives the
    estimator's."""

    exact = True

    def _particle(self, terms: ParticleTerms) -> tuple[torch.Tensor, torch.Tensor]:
        total: torch.Tensor | None = None
        scalar = terms.scalar
        if scalar is not None:
            if scalar.sites:
                costs, signs, matrix, stacked = scalar.operands(terms.stacked_scores(scalar.sites))
                total = (costs * magic_box(matrix @ stacked)) @ signs
            else:
                total = scalar.costs @ scalar.signs
        for g in terms.groups:
            if g.deps:
                parts = [terms.score_at(site, g.target(site)) for site in sorted(g.deps)]
                tau = parts[0]
                for p in parts[1:]:
                    tau = tau + p
                term = (g.cost * magic_box(tau)).sum()
            else:
                term = g.cost.sum()
            total = accumulate(total, term, g.sign)
        out = torch.zeros(()) if total is None else total
        return out, out

    def baseline_term(self, score: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return ((1.0 - magic_box(score)) * b.detach()).sum()

    def auxiliary(self, loss: torch.Tensor) -> torch.Tensor:
        return loss - loss.detach()


class FirstOrderSurrogate(Surrogate):
    """``sum_c c + sum_i sum(log q_i * D_i)``: the estimator's first derivative from
    a smaller graph (per site, not per cost group, and without the boxes).

    :param own_pathwise: keep the gradient of each non-reparameterized guide site's
        own ``-log q_i`` cost at its fixed draw.  Its expectation is zero
        (``E_q[grad log q] = 0``); dropped, it leaves an unbiased estimator whose
        score effectively multiplies ``D_i - b_i`` instead of ``D_i - b_i - 1``,
        which matters once a baseline has made ``D_i - b_i`` small (Pyro's
        estimators drop it; so does :data:`SCORE_ONLY`, the one ``loss_and_grads``
        uses).
    """

    exact = False

    def __init__(self, own_pathwise: bool = True) -> None:
        self.own_pathwise = own_pathwise

    def _particle(self, terms: ParticleTerms) -> tuple[torch.Tensor, torch.Tensor]:
        pathwise: torch.Tensor | None = None
        score_terms: torch.Tensor | None = None
        # Where a site's own cost is its score (no scale), its -grad(log q) is
        # cancelled by adding 1 to the score's detached multiplier: no extra graph.
        fold = frozenset() if self.own_pathwise else terms.own_is_score
        folded: set[str] = set()
        scalar = terms.scalar
        if scalar is not None:
            pathwise = scalar.costs @ scalar.signs
            if scalar.sites:
                costs, signs, matrix, stacked = scalar.operands(terms.stacked_scores(scalar.sites))
                down = matrix.t() @ (costs.detach() * signs)
                ones = [j for j, s in enumerate(scalar.sites) if s in fold]
                if ones:
                    at = torch.tensor(ones, device=down.device)
                    down = down.index_add(
                        0, at, torch.ones(len(ones), dtype=down.dtype, device=down.device)
                    )
                    folded.update(scalar.sites[j] for j in ones)
                score_terms = stacked @ down
        plated: set[str] = set()
        for g in terms.groups:
            pathwise = accumulate(pathwise, g.cost.sum(), g.sign)
            plated.update(g.deps)
        for site in sorted(plated):
            down = terms.plated_downstream(site)
            if site in fold and site not in folded:
                down = down + 1.0
                folded.add(site)
            term = (terms.scores[site] * down).sum()
            score_terms = term if score_terms is None else score_terms + term
        elbo = torch.zeros(()) if pathwise is None else pathwise
        objective = elbo if score_terms is None else elbo + score_terms
        rest = (
            [] if self.own_pathwise else [c for s, c in terms.own_costs.items() if s not in folded]
        )
        if rest:
            # Value 0, gradient +grad(sum of the costs): cancels the guide terms'
            # -grad(cost), in one product whatever the number of sites.
            with untracked():  # (provenance was read already: plain ops)
                parts = [c if c.dim() == 0 else c.sum() for c in rest]
                if len({(p.dtype, p.device) for p in parts}) == 1:
                    total = parts[0] if len(parts) == 1 else torch.stack(parts).sum()
                else:
                    total = sum(parts[1:], parts[0])
                objective = objective + (total - total.detach())
        return objective, elbo

    def baseline_term(self, score: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return -(score * b.detach()).sum()

    def auxiliary(self, loss: torch.Tensor) -> torch.Tensor:
        return loss


#: The surrogate of ``differentiable_loss``.
DICE = DiceSurrogate()
#: DiCE's first derivative with every term (the machinery ``SCORE_ONLY`` builds on).
FIRST_ORDER = FirstOrderSurrogate()
#: The surrogate of ``loss_and_grads``: without the zero-mean pathwise gradient of
#: each score site's own ``log q`` (as Pyro's ``Trace_ELBO`` and ``TraceGraph_ELBO``).
SCORE_ONLY = FirstOrderSurrogate(own_pathwise=False)
