"""TraceGraph_ELBO: score-function gradients Rao-Blackwellized by provenance.

Each non-reparameterized guide site's score multiplies only the cost terms whose
provenance contains it: the costs computed from its value, plus the costs of sites
that ran after its value decided Python control flow (``if z.item(): ...``), since
their existence or distribution may depend on it.  The surrogate is built with
DiCE (see :mod:`tracegraph.infer.surrogate`), so its value is the ELBO and its first and
second derivatives are the estimator's.

>>> import torch
>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> def model():
...     tracegraph.sample("z", dist.Bernoulli(0.5))
>>> def guide():
...     p = tracegraph.param("p", torch.tensor(0.5), constraint=dist.constraints.unit_interval)
...     tracegraph.sample("z", dist.Bernoulli(p))
>>> abs(TraceGraph_ELBO().differentiable_loss(model, guide).item()) < 1e-6
True
"""

from __future__ import annotations

from typing import Any

import torch

# Pyro's names at this module path (implementation helpers Pyro imports here),
# re-exported from where they live.
from tracegraph.distributions.util import detach, is_identically_zero  # noqa: E402, F401
from tracegraph.distributions.validation import is_validation_enabled  # noqa: E402, F401
from tracegraph.infer.baselines import Baselines, Run
from tracegraph.infer.elbo import ELBO
from tracegraph.infer.importance_trace import get_importance_trace  # noqa: E402, F401
from tracegraph.infer.jit import CachedStructure
from tracegraph.infer.numeric import torch_backward, torch_item  # noqa: E402, F401
from tracegraph.infer.plate_sums import MultiFrameTensor, get_plate_stacks  # noqa: E402, F401
from tracegraph.infer.runs import Tracking
from tracegraph.infer.surrogate import Surrogate
from tracegraph.infer.validation import check_if_enumerated  # noqa: E402, F401
from tracegraph.ops.provenance import detach_provenance, get_provenance, track_provenance  # noqa: E402, F401
from tracegraph.ops.tensor_checks import warn_if_nan  # noqa: E402, F401
from tracegraph.poutine.messenger import Messenger  # noqa: E402, F401
from tracegraph.poutine.provenance_messenger import TrackProvenanceMessenger

__all__ = ["JitTraceGraph_ELBO", "TraceGraph_ELBO", "TrackNonReparam"]


class TrackNonReparam(TrackProvenanceMessenger):
    """Tag the values of non-reparameterized latent sites with their names (and
    record control-flow provenance at every site).

    >>> import tracegraph
    >>> import tracegraph.distributions as dist
    >>> from tracegraph.ops.provenance import get_provenance
    >>> with TrackNonReparam():
    ...     z = tracegraph.sample("z", dist.Bernoulli(0.5))
    >>> sorted(get_provenance(z))
    ['z']
    """

    def __init__(self) -> None:
        super().__init__("nonreparam")


class TraceGraph_ELBO(ELBO):
    """The ELBO with provenance-based Rao-Blackwellization and baselines.

    :param leave_one_out: give every non-reparameterized site without an explicit
        baseline the leave-one-out baseline (needs ``num_particles > 1``).

    Other arguments: see :class:`~tracegraph.infer.elbo.ELBO`.

    >>> import torch, tracegraph, tracegraph.distributions as dist
    >>> def model():
    ...     z = tracegraph.sample("z", dist.Bernoulli(0.5))
    ...     tracegraph.sample("x", dist.Normal(z, 1.0), obs=torch.tensor(1.0))
    >>> def guide():
    ...     p = tracegraph.param("p", torch.tensor(0.4), constraint=dist.constraints.unit_interval)
    ...     tracegraph.sample("z", dist.Bernoulli(p))
    >>> loss = TraceGraph_ELBO(num_particles=2, leave_one_out=True).loss_and_grads(model, guide)
    >>> 0.9 < loss < 5.0  # -log p(x=1 | z) is 0.92 or 1.42, plus log q - log p
    True
    """

    # Tag non-reparameterized sites; raised to every latent site for a pair whose
    # plate rule needs to see paths through reparameterized ones.
    tracking = Tracking.NONREPARAM
    rao_blackwellize = True

    def __init__(self, *args: Any, leave_one_out: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if leave_one_out and self.num_particles < 2:
            raise ValueError("leave_one_out=True needs num_particles >= 2")
        self.leave_one_out = leave_one_out
        self.baselines = Baselines(leave_one_out)

    def _estimate(self, runs: list[Run], surrogate: Surrogate) -> tuple[torch.Tensor, torch.Tensor]:
        extra: torch.Tensor | None = None
        aux: torch.Tensor | None = None
        for b in self.baselines.values(runs, self.num_particles, self.particle_dim):
            term = surrogate.baseline_term(b.score, b.value)
            extra = term if extra is None else extra + term
            if b.training_loss is not None:
                aux = b.training_loss if aux is None else aux + b.training_loss
        loss, neg_elbo = self._particle_mean(runs, surrogate, extra)
        if aux is not None:
            # Trains learnable baselines without changing the loss's value.
            loss = loss + surrogate.auxiliary(aux)
        # A baseline fed tracked inputs would make the loss (and then gradients
        # from torch.autograd.grad) tracked; the loss carries no provenance.
        loss = detach_provenance(loss)
        return loss, (loss if surrogate.exact else neg_elbo)


class JitTraceGraph_ELBO(CachedStructure, TraceGraph_ELBO):
    """TraceGraph_ELBO for models of static structure: the dependency sets found by
    tracking provenance are cached per structure, and steps that hit the cache run
    model and guide untracked (:class:`~tracegraph.infer.jit.CachedStructure`).

    A model whose data flow changes with something other than a site's value (a
    parameter, a global) must use :class:`TraceGraph_ELBO`.

    >>> import tracegraph
    >>> import tracegraph.distributions as dist
    >>> def model():
    ...     tracegraph.sample("z", dist.Bernoulli(0.5))
    >>> def guide():
    ...     p = tracegraph.param("p", torch.tensor(0.5), constraint=dist.constraints.unit_interval)
    ...     tracegraph.sample("z", dist.Bernoulli(p))
    >>> elbo = JitTraceGraph_ELBO()
    >>> losses = [elbo.loss(model, guide) for _ in range(3)]  # tracked once, then cached
    >>> sum(len(entry.tables) for entry in elbo._deps_cache.values())
    1
    """

