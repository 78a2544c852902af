"""Multi-sample bounds: log-weights per particle, the Renyi bound and the
leave-one-out learning signals of VIMCO.

With ``K`` particles ``z_1..z_K`` drawn from the guide and log-weights
``l_k = log p(x, z_k) - log q(z_k)``, the Renyi bound of order ``alpha``
(Li & Turner 2016) is

    F(l) = 1 / (1 - alpha) * log (1/K) sum_k exp((1 - alpha) l_k),

the importance-weighted bound of Burda et al. (2016) at ``alpha = 0`` and the
ELBO in the limit ``alpha -> 1``.  Its gradient has a pathwise part, ``sum_k
wbar_k grad l_k`` with the normalized weights ``wbar = softmax((1 - alpha) l)``,
and, for every non-reparameterized site of particle ``k``, its score times the
whole bound ``F``: every particle's draw changes ``F``.  VIMCO (Mnih & Rezende
2016) subtracts from that learning signal the bound with ``l_k`` replaced by the
mean of the other particles' log-weights (a geometric mean of their weights):
a baseline that does not depend on ``z_k`` (the particles are independent), so
the estimator stays unbiased, and that tracks ``F`` closely, so the variance falls.

*Independent plates.*  The bound is usually wanted per data point: a plate whose
elements are separate problems (every site of model and guide inside it) has
log-weights per element and the bound ``sum_e F(l_e)``, the tighter
importance-weighted bound of a minibatch.  An element's scores then multiply only
that element's signal.  With subsampling, the bound of an element is taken on its
unscaled log-weight and scaled back (``s F(l / s)``).

>>> l = torch.tensor([[-1.0], [-3.0]])        # K = 2 particles, one element
>>> round(float(renyi_bound(l, alpha=0.0, scale=1.0)), 4)   # log mean exp
-1.5662
>>> signals = leave_one_out_signals(l, alpha=0.0, scale=1.0)
>>> [round(float(s), 4) for s in signals.flatten()]   # F - F(l_k -> mean of the others)
[1.4338, -0.5662]
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from tracegraph.infer.terms import ParticleTerms

__all__ = ["leave_one_out_signals", "normalized_weights", "particle_sums", "renyi_bound"]


def _to_target(x: torch.Tensor, target: Sequence[int]) -> torch.Tensor:
    """``x`` (plate form) summed over every dim but ``target`` (negative
    dims, ascending), returned with exactly ``len(target)`` dims."""
    width = max([-d for d in target] + [x.dim()])
    if x.dim() < width:
        x = x.reshape((1,) * (width - x.dim()) + tuple(x.shape))
    # A dim outside the target is summed out (in plate form, only a plate dim can
    # be larger than one); a target plate the tensor lacks stays of size 1.
    drop = [d for d in range(-width, 0) if d not in target]
    if drop:
        x = x.sum(drop)
    return x


def particle_sums(
    terms: ParticleTerms, target: Sequence[int]
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One run's log-weight (every cost term summed) and the sum of its
    non-reparameterized sites' log-densities, each summed over every dim but the
    ``target`` plate dims (negative, ascending; they stay, in that order).

    :returns: ``(log_weight, scores)``; ``scores`` is ``None`` without a
        non-reparameterized site.

    >>> from tracegraph.infer.terms import CostGroup
    >>> group = CostGroup(frozenset(), {-1: "data"}, torch.tensor([1.0, 2.0]))
    >>> particle_sums(ParticleTerms([group], {}, {}), [-1])
    (tensor([1., 2.]), None)
    """
    total: torch.Tensor | None = None
    scalar = terms.scalar
    if scalar is not None:
        total = scalar.costs @ scalar.signs
    for g in terms.groups:
        part = _to_target(g.cost, target)
        part = part if g.sign > 0 else -part
        total = part if total is None else total + part
    if total is None:
        total = torch.zeros(())
    if total.dim() < len(target):
        total = total.reshape((1,) * (len(target) - total.dim()) + tuple(total.shape))
    scores: torch.Tensor | None = None
    for score in terms.scores.values():
        part = _to_target(score, target)
        scores = part if scores is None else scores + part
    return total, scores


def renyi_bound(log_weights: torch.Tensor, alpha: float, scale: float) -> torch.Tensor:
    """``s F(l / s)`` per element: the Renyi bound of order ``alpha`` of the
    particles along dim 0.

    :param log_weights: ``l``, particles along dim 0.
    :param scale: ``s``, the subsampling scale the log-weights carry (1 without).

    >>> round(float(renyi_bound(torch.tensor([0.0, 0.0]), alpha=0.5, scale=1.0)), 6)
    0.0
    """
    k = log_weights.shape[0]
    lw = (1.0 - alpha) * log_weights / scale
    return scale / (1.0 - alpha) * (torch.logsumexp(lw, 0) - math.log(k))


def normalized_weights(log_weights: torch.Tensor, alpha: float, scale: float) -> torch.Tensor:
    """``softmax((1 - alpha) l / s)`` along the particles (dim 0), detached: the
    weight of each particle's pathwise gradient.

    >>> normalized_weights(torch.tensor([0.0, 0.0]), alpha=0.0, scale=1.0)
    tensor([0.5000, 0.5000])
    """
    return torch.softmax((1.0 - alpha) * log_weights.detach() / scale, 0)


def leave_one_out_signals(log_weights: torch.Tensor, alpha: float, scale: float) -> torch.Tensor:
    """Each particle's learning signal ``F(l) - F(l with l_k -> mean_{j != k} l_j)``
    (VIMCO's, Mnih & Rezende 2016), detached; with one particle, ``F`` itself.

    >>> leave_one_out_signals(torch.tensor([1.0, 1.0, 1.0]), alpha=0.0, scale=1.0)
    tensor([0., 0., 0.])
    """
    l = log_weights.detach()
    k = l.shape[0]
    full = renyi_bound(l, alpha, scale)
    if k < 2:
        return full.expand_as(l).clone()
    # rows[k] is l with entry k replaced by the mean of the others: a (K, K, ...)
    # tensor, small for the particle counts these estimators use.
    others_mean = (l.sum(0, keepdim=True) - l) / (k - 1)
    eye = torch.eye(k, dtype=torch.bool, device=l.device).reshape((k, k) + (1,) * (l.dim() - 1))
    rows = torch.where(eye, others_mean.unsqueeze(1), l.unsqueeze(0))
    lw = (1.0 - alpha) * rows / scale
    loo = scale / (1.0 - alpha) * (torch.logsumexp(lw, 1) - math.log(k))
    return full.unsqueeze(0) - loo
