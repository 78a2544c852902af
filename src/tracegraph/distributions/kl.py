"""KL divergences between tracegraph distributions that torch does not know.

Registered with torch's ``register_kl`` (so ``kl_divergence`` finds them), for
tracegraph's classes only; plain torch objects keep torch's rules:

* ``Delta`` against any distribution: ``-q.log_prob(p.v)``;
* two masked distributions: the KL of their bases, zero where either mask is false;
* two ``Independent`` distributions with the same number of event dims however
  nested (``Independent(Independent(d, 1), 1)`` against ``Independent(d, 2)``);
* ``Independent`` of a ``Normal`` (one event dim) against a ``MultivariateNormal``.

>>> import torch
>>> import tracegraph.distributions as dist
>>> p = dist.Normal(torch.zeros(3), 1.0).mask(torch.tensor([True, False, True]))
>>> q = dist.Normal(torch.ones(3), 1.0).mask(True)
>>> kl_divergence(p, q)
tensor([0.5000, 0.0000, 0.5000])
"""

from __future__ import annotations

from typing import Any

import torch
from torch.distributions.kl import kl_divergence, register_kl

from tracegraph.distributions.delta import Delta
from tracegraph.distributions.distribution import Distribution
from tracegraph.distributions.independent import Independent
from tracegraph.distributions.masked import MaskedDistribution
from tracegraph.distributions.score_parts import scale_and_mask
from tracegraph.distributions.shapes import sum_rightmost
from tracegraph.distributions.torch import MultivariateNormal

__all__ = ["kl_divergence", "register_kl"]


@register_kl(Delta, Distribution)
def _kl_delta(p: Delta, q: Any) -> torch.Tensor:
    return -q.log_prob(p.v)


@register_kl(MaskedDistribution, MaskedDistribution)
def _kl_masked_masked(p: MaskedDistribution, q: MaskedDistribution) -> Any:
    if p._mask is False or q._mask is False:
        return 0.0
    if p._mask is True:
        mask = q._mask
    elif q._mask is True:
        mask = p._mask
    else:
        mask = p._mask & q._mask
    kl = kl_divergence(p.base_dist, q.base_dist)
    if mask is True:
        return kl
    return scale_and_mask(kl, mask=mask)


@register_kl(Independent, Independent)
def _kl_independent_independent(p: Independent, q: Independent) -> Any:
    # Strip the event dims both share, compare what is left, sum the shared dims.
    shared = min(p.reinterpreted_batch_ndims, q.reinterpreted_batch_ndims)
    p_rest = p.reinterpreted_batch_ndims - shared
    q_rest = q.reinterpreted_batch_ndims - shared
    p_inner = Independent(p.base_dist, p_rest) if p_rest else p.base_dist
    q_inner = Independent(q.base_dist, q_rest) if q_rest else q.base_dist
    return sum_rightmost(kl_divergence(p_inner, q_inner), shared)


@register_kl(Independent, torch.distributions.MultivariateNormal)
def _kl_independent_mvn(p: Independent, q: Any) -> torch.Tensor:
    base = p.base_dist
    if isinstance(base, torch.distributions.Normal) and p.reinterpreted_batch_ndims == 1:
        diagonal = MultivariateNormal(base.loc, scale_tril=torch.diag_embed(base.scale))
        return kl_divergence(diagonal, q)
    raise NotImplementedError
