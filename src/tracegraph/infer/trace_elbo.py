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

import torch

from tracegraph.infer.baselines import Run
from tracegraph.infer.elbo import ELBO
from tracegraph.infer.runs import Tracking
from tracegraph.infer.surrogate import Surrogate

__all__ = ["Trace_ELBO"]


class Trace_ELBO(ELBO):
    """The ELBO estimator without Rao-Blackwellization: a non-reparameterized
    site's score multiplies every cost term.

    Inside a plate shared by the site and a cost the product is per element only
    where that is unbiased (see :class:`~tracegraph.infer.plates.PlateRule`);
    deciding it needs the dependency graph, so a model with non-reparameterized
    sites inside plates is tracked from its second step on (its first, untracked
    step sums the shared plates), and other models run untracked.

    See :class:`~tracegraph.infer.elbo.ELBO` for the arguments.
    """

    tracking = Tracking.NONE
    rao_blackwellize = False

    def _estimate(self, runs: list[Run], surrogate: Surrogate) -> tuple[torch.Tensor, torch.Tensor]:
        return self._particle_mean(runs, surrogate)
