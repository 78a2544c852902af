"""Trace_ELBO: the ELBO with pathwise gradients for reparameterized sites and
score-function gradients (costs reduced to each site's plates) for the rest.

>>> import torch
>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> def model():
...     tracegraph.sample("z", dist.Normal(0.0, 1.0))
>>> def guide():
...     loc = tracegraph.param("loc", torch.tensor(0.0))
...     tracegraph.sample("z", dist.Normal(loc, 1.0))
>>> loss = Trace_ELBO().differentiable_loss(model, guide)
>>> abs(loss.item()) < 1e-5  # guide equals the prior: the ELBO is 0
True
"""

from __future__ import annotations

from typing import Any

import torch

from tracegraph.infer.dice import sum_surrogates
from tracegraph.infer.elbo import ELBO

__all__ = ["Trace_ELBO"]


class Trace_ELBO(ELBO):
    """The ELBO estimator without Rao-Blackwellization: a non-reparameterized
    site's score multiplies every cost term.

    Inside a plate shared by the site and a cost the product is per element only
    where that is unbiased (see :class:`~tracegraph.infer.downstream.PlateRule`);
    deciding it needs the dependency graph, so runs of models with
    non-reparameterized sites inside plates are tracked (decided on the first
    step), and other models run untracked.

    See :class:`~tracegraph.infer.elbo.ELBO` for the arguments.
    """

    def _losses(
        self, model: Any, guide: Any, args: Any, kwargs: Any, first_order: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        particles = self._particle_terms(model, guide, args, kwargs, rao_blackwellize=False)
        surrogate, elbo = sum_surrogates((terms for terms, _ in particles), first_order)
        # Vectorized or not, the sums run over num_particles particles.
        n = self.num_particles
        if not first_order:
            loss = -surrogate / n
            return loss, loss
        return -surrogate / n, -elbo / n
