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

# Pyro's names at this module path (implementation helpers Pyro imports here),
# re-exported from where they live.
from tracegraph.distributions.util import is_identically_zero  # noqa: E402, F401
from tracegraph.distributions.validation import is_validation_enabled  # noqa: E402, F401
from tracegraph.infer.baselines import Run
from tracegraph.infer.elbo import ELBO, Program
from tracegraph.infer.importance_trace import get_importance_trace  # noqa: E402, F401
from tracegraph.infer.jit import CachedStructure
from tracegraph.infer.numeric import torch_backward, torch_item  # noqa: E402, F401
from tracegraph.infer.plate_sums import MultiFrameTensor, get_plate_stacks  # noqa: E402, F401
from tracegraph.infer.runs import Tracking
from tracegraph.infer.surrogate import Surrogate
from tracegraph.infer.validation import check_if_enumerated  # noqa: E402, F401
from tracegraph.ops.tensor_checks import warn_if_nan  # noqa: E402, F401

__all__ = ["JitTrace_ELBO", "Trace_ELBO"]


class Trace_ELBO(ELBO):
    """The ELBO estimator without Rao-Blackwellization: a non-reparameterized
    site's score multiplies every cost term.

    Inside a plate shared by the site and a cost the product is per element only
    where that is unbiased (see :class:`~tracegraph.infer.plates.PlateRule`);
    deciding it needs the dependency graph, so a model with non-reparameterized
    sites inside plates is tracked from its second step on (its first, untracked
    step sums the shared plates), and other models run untracked.

    See :class:`~tracegraph.infer.elbo.ELBO` for the arguments.

    >>> import torch, tracegraph, tracegraph.distributions as dist
    >>> def model():
    ...     z = tracegraph.sample("z", dist.Bernoulli(0.5))
    ...     tracegraph.sample("x", dist.Normal(z, 1.0), obs=torch.tensor(1.0))
    >>> def guide():
    ...     p = tracegraph.param("p", torch.tensor(0.4), constraint=dist.constraints.unit_interval)
    ...     tracegraph.sample("z", dist.Bernoulli(p))
    >>> loss = Trace_ELBO().loss_and_grads(model, guide)
    >>> 0.9 < loss < 5.0  # -log p(x=1 | z) is 0.92 or 1.42, plus log q - log p
    True
    """

    tracking = Tracking.NONE
    rao_blackwellize = False

    def _estimate(self, runs: list[Run], surrogate: Surrogate) -> tuple[torch.Tensor, torch.Tensor]:
        return self._particle_mean(runs, surrogate)


class JitTrace_ELBO(CachedStructure, Trace_ELBO):
    """:class:`Trace_ELBO` with what the plate rule needs cached per structure
    (:class:`~tracegraph.infer.jit.CachedStructure`).

    >>> import torch
    >>> import tracegraph
    >>> import tracegraph.distributions as dist
    >>> def model():
    ...     tracegraph.sample("z", dist.Normal(0.0, 1.0))
    >>> def guide():
    ...     tracegraph.sample("z", dist.Normal(tracegraph.param("loc", torch.tensor(0.0)), 1.0))
    >>> loss, surrogate = JitTrace_ELBO().loss_and_surrogate_loss(model, guide)
    >>> abs(float(loss)) < 1e-5  # the guide is the prior: the ELBO is 0
    True
    """

    def loss_and_surrogate_loss(
        self, model: Program, guide: Program, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The negative ELBO and a surrogate loss whose gradient is the estimator's,
        both as tensors (Pyro's ``JitTrace_ELBO`` method).

        :returns: ``(loss, surrogate_loss)``.
        """
        surrogate, loss = self._losses(model, guide, args, kwargs, self.first_order)
        return loss.detach(), surrogate
