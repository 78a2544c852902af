"""Exact multi-sample bounds by enumeration: the expectation of the Renyi bound
over ``K`` independent particles, ``E[F(l_1, ..., l_K)]``, summed over every
``K``-tuple of guide paths weighted by ``prod_k q(z_k)``.  Differentiable in the
params, so its gradient is the exact gradient every unbiased estimator of the
bound must match in expectation.

With ``plate_dim`` the log-weights are kept per element along that dim (every
site must be inside the plate) and the bound is ``sum_e F(l_e)``.

>>> import torch
>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> def model():
...     z = tracegraph.sample("z", dist.Bernoulli(0.5))
...     tracegraph.sample("x", dist.Normal(z, 1.0), obs=torch.tensor(1.0))
>>> def guide():
...     tracegraph.sample("z", dist.Bernoulli(0.5))
>>> iwae1, iwae4 = (float(exact_renyi_bound(model, guide, k, 0.0)) for k in (1, 4))
>>> iwae1 < iwae4   # more particles, a tighter bound
True
"""

from __future__ import annotations

import math
from typing import Any

import torch
from enumeration import _path_traces, enumerate_paths

from tracegraph.poutine.sites import site_is_subsample


def _sum_but(x: torch.Tensor, dim: int | None) -> torch.Tensor:
    x = torch.as_tensor(x, dtype=torch.float64)
    if dim is None:
        return x.sum()
    if x.dim() < -dim:
        return x.sum().reshape(1)
    others = [d for d in range(-x.dim(), 0) if d != dim]
    # x.sum([]) would sum every dim.
    return (x.sum(others) if others else x).reshape(-1)


def path_log_weights(
    model: Any, guide: Any, args: tuple[Any, ...], plate_dim: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(l, log_q)`` of every guide path: ``l`` of shape ``(P,)`` or ``(P, N)``
    (per element along ``plate_dim``), ``log_q`` of shape ``(P,)``."""
    ls, lqs = [], []
    for values in enumerate_paths(guide, *args):
        model_trace, guide_trace = _path_traces(model, guide, values, args, {})
        model_trace.compute_log_prob()
        guide_trace.compute_log_prob()
        l: torch.Tensor | float = 0.0
        lq = torch.zeros((), dtype=torch.float64)
        for tr, sign in ((model_trace, 1.0), (guide_trace, -1.0)):
            for site in tr.nodes.values():
                if site["type"] != "sample" or site_is_subsample(site):
                    continue
                l = l + sign * _sum_but(site["log_prob"], plate_dim)
                if sign < 0 and not site["is_observed"]:
                    lq = lq + _sum_but(site["log_prob"], None)
        ls.append(torch.as_tensor(l))
        lqs.append(lq)
    return torch.stack(ls), torch.stack(lqs)


def exact_renyi_bound(
    model: Any,
    guide: Any,
    k: int,
    alpha: float,
    *args: Any,
    plate_dim: int | None = None,
) -> torch.Tensor:
    """``E[F(l_1..l_K)]`` over ``K`` independent particles, exactly."""
    l, log_q = path_log_weights(model, guide, args, plate_dim)
    paths = torch.arange(len(l))
    # Every K-tuple of paths at once: (P**K, K).
    index = torch.cartesian_prod(*[paths] * k).reshape(-1, k)
    lw = (1.0 - alpha) * l[index]  # (P**K, K) or (P**K, K, N)
    bound = (torch.logsumexp(lw, 1) - math.log(k)) / (1.0 - alpha)
    if bound.dim() > 1:
        bound = bound.sum(-1)
    return (log_q[index].sum(1).exp() * bound).sum()
