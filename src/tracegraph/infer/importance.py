"""Importance sampling: weighted posterior traces, vectorized importance weights,
and the Pareto-smoothed importance sampling (PSIS) diagnostic of a guide.

>>> import torch
>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> def model(x):
...     z = tracegraph.sample("z", dist.Normal(0.0, 1.0))
...     tracegraph.sample("x", dist.Normal(z, 1.0), obs=x)
>>> def guide(x):  # the exact posterior N(x/2, 1/2)
...     tracegraph.sample("z", dist.Normal(x / 2, 0.5 ** 0.5))
>>> imp = Importance(model, guide, num_samples=50).run(torch.tensor(1.0))
>>> exact = dist.Normal(0.0, 2 ** 0.5).log_prob(torch.tensor(1.0))
>>> bool(torch.isclose(imp.get_log_normalizer(), exact, atol=1e-5))
True
>>> round(float(imp.get_ESS()))
50
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch

from tracegraph.errors import TracegraphWarning
from tracegraph.infer.generalized_pareto import fit_generalized_pareto
from tracegraph.infer.importance_trace import get_importance_trace
from tracegraph.infer.log_weights import LogWeightsMixin
from tracegraph.infer.plate_sums import plate_log_prob_sum
from tracegraph.infer.trace_posterior import TracePosterior
from tracegraph.poutine import handlers
from tracegraph.poutine.trace_struct import Trace
from tracegraph.primitives import plate

__all__ = [
    "Importance",
    "LogWeightsMixin",
    "TracePosterior",
    "fit_generalized_pareto",
    "get_importance_trace",
    "plate_log_prob_sum",
    "psis_diagnostic",
    "vectorized_importance_weights",
]

#: The particle plate of :func:`vectorized_importance_weights` (Pyro's name).
PARTICLE_PLATE = "num_particles_vectorized"


class Importance(TracePosterior, LogWeightsMixin):
    """Posterior inference by importance sampling, with ``guide`` as the proposal.

    Each of ``num_samples`` runs draws a guide trace, replays the model against it
    and weighs the model trace by ``log p(x, z) - log q(z)`` (detached).  Without
    a guide, the model's prior proposes (the model with its observed sites
    hidden), so the weight is the likelihood.

    :param model: the model.
    :param guide: the proposal; ``None`` proposes from the prior.
    :param num_samples: how many weighted traces (default 10, with a warning).

    >>> import torch
    >>> import tracegraph
    >>> import tracegraph.distributions as dist
    >>> def model():
    ...     tracegraph.sample("z", dist.Normal(0.0, 1.0))
    >>> len(Importance(model, num_samples=3).run().exec_traces)
    3
    """

    def __init__(
        self,
        model: Callable[..., Any],
        guide: Callable[..., Any] | None = None,
        num_samples: int | None = None,
    ) -> None:
        super().__init__()
        if num_samples is None:
            num_samples = 10
            warnings.warn(
                "num_samples not provided, defaulting to 10", TracegraphWarning, stacklevel=2
            )
        if guide is None:
            # The prior proposes: the model itself, with its observations hidden.
            guide = handlers.block(model, hide_types=["observe"])
        self.num_samples = num_samples
        self.model = model
        self.guide = guide

    def _traces(self, *args: Any, **kwargs: Any) -> Iterator[tuple[Trace, torch.Tensor]]:
        for _ in range(self.num_samples):
            guide_trace = handlers.trace(self.guide).get_trace(*args, **kwargs)
            model_trace = handlers.trace(
                handlers.replay(self.model, trace=guide_trace)
            ).get_trace(*args, **kwargs)
            log_weight = model_trace.log_prob_sum() - guide_trace.log_prob_sum()
            yield model_trace, torch.as_tensor(log_weight).detach()


def vectorized_importance_weights(
    model: Callable[..., Any], guide: Callable[..., Any], *args: Any, **kwargs: Any
) -> tuple[torch.Tensor, Trace, Trace]:
    """Importance weights of ``num_samples`` particles drawn in one vectorized run.

    Model and guide run inside a plate ``"num_particles_vectorized"`` of size
    ``num_samples`` at dim ``-max_plate_nesting - 1``, so they must have static
    structure and declare their batch dims with plates.

    :param model: the model.
    :param guide: the guide.
    :param args: the model's and guide's positional arguments.
    :param kwargs: their keyword arguments, plus the keywords ``num_samples``
        (default 1), ``max_plate_nesting`` (required) and ``normalized``
        (default False: self-normalize the log weights).
    :returns: ``(log_weights, model_trace, guide_trace)``; ``log_weights`` has
        shape ``(num_samples,)`` (a scalar when ``num_samples == 1``).
    :raises ValueError: without ``max_plate_nesting``.

    >>> import torch
    >>> import tracegraph
    >>> import tracegraph.distributions as dist
    >>> def model():
    ...     tracegraph.sample("z", dist.Normal(0.0, 1.0))
    >>> log_w, _, _ = vectorized_importance_weights(model, model, num_samples=4,
    ...                                              max_plate_nesting=0)
    >>> log_w
    tensor([0., 0., 0., 0.])
    """
    num_samples = kwargs.pop("num_samples", 1)
    max_plate_nesting = kwargs.pop("max_plate_nesting", None)
    normalized = kwargs.pop("normalized", False)
    if max_plate_nesting is None:
        raise ValueError(
            "vectorized_importance_weights needs max_plate_nesting= (how many plate dims "
            "model and guide use); the particle plate goes left of them"
        )

    def vectorize(fn: Callable[..., Any]) -> Callable[..., Any]:
        def vectorized(*a: Any, **k: Any) -> Any:
            with plate(PARTICLE_PLATE, num_samples, dim=-max_plate_nesting - 1):
                return fn(*a, **k)

        return vectorized

    model_trace, guide_trace = get_importance_trace(
        "flat", math.inf, vectorize(model), vectorize(guide), args, kwargs
    )
    guide_trace.pack_tensors()
    model_trace.pack_tensors(guide_trace.plate_to_symbol)
    if num_samples == 1:
        log_weights = model_trace.log_prob_sum() - guide_trace.log_prob_sum()
    else:
        symbol = guide_trace.plate_to_symbol[PARTICLE_PLATE]
        log_weights = plate_log_prob_sum(model_trace, symbol) - plate_log_prob_sum(
            guide_trace, symbol
        )
    log_weights = torch.as_tensor(log_weights)
    if normalized:
        log_weights = log_weights - log_weights.logsumexp(-1)
    return log_weights, model_trace, guide_trace


def psis_diagnostic(
    model: Callable[..., Any], guide: Callable[..., Any], *args: Any, **kwargs: Any
) -> float:
    """The Pareto tail index ``k`` of the importance weights ``p(x, z) / q(z)``
    with ``z ~ guide`` (Yao, Vehtari, Simpson & Gelman 2018, "Yes, but did it
    work?"; Vehtari, Gelman & Gabry, "Pareto smoothed importance sampling").

    ``k < 0.5``: the guide is a good approximation of the posterior;
    ``0.5 <= k <= 0.7``: usable but suboptimal; ``k > 0.7``: poor.  The
    ``M = ceil(min(0.2 S, 3 sqrt(S)))`` largest of ``S`` weights, less the next
    largest, are fitted with a generalized Pareto distribution
    (:func:`fit_generalized_pareto`).  Model and guide must be vectorizable
    (static structure, batch dims declared by plates).

    :param model: the model.
    :param guide: the guide.
    :param args: the model's and guide's positional arguments.
    :param kwargs: their keyword arguments, plus ``num_particles`` (default
        1000), ``max_simultaneous_particles`` (default ``num_particles``; must
        divide it) and ``max_plate_nesting`` (default 7).
    :returns: ``k`` as a float (``inf``, with a warning, when fewer than 10 tail
        weights are available).
    :raises ValueError: if ``max_simultaneous_particles`` does not divide
        ``num_particles``.

    >>> import torch
    >>> import tracegraph
    >>> import tracegraph.distributions as dist
    >>> def model():
    ...     tracegraph.sample("z", dist.Normal(0.0, 1.0))
    >>> def guide():
    ...     tracegraph.sample("z", dist.Normal(0.0, 2.0))  # wider than the target
    >>> psis_diagnostic(model, guide, num_particles=2000) < 0.5
    True
    """
    num_particles = kwargs.pop("num_particles", 1000)
    max_simultaneous_particles = kwargs.pop("max_simultaneous_particles", num_particles)
    max_plate_nesting = kwargs.pop("max_plate_nesting", 7)
    if num_particles % max_simultaneous_particles != 0:
        raise ValueError(
            f"num_particles ({num_particles}) must be divisible by "
            f"max_simultaneous_particles ({max_simultaneous_particles})"
        )
    chunks = []
    with torch.no_grad():
        for _ in range(num_particles // max_simultaneous_particles):
            log_w, _, _ = vectorized_importance_weights(
                model,
                guide,
                *args,
                num_samples=max_simultaneous_particles,
                max_plate_nesting=max_plate_nesting,
                **kwargs,
            )
            chunks.append(log_w.reshape(-1))
    log_weights = torch.cat(chunks)
    return _pareto_tail_index(log_weights)


def _pareto_tail_index(log_weights: torch.Tensor) -> float:
    num = log_weights.numel()
    tail = int(math.ceil(min(0.2 * num, 3.0 * math.sqrt(num))))
    if tail < 10:
        warnings.warn(
            f"Not enough tail samples to compute the PSIS diagnostic ({tail} of {num} "
            "weights; at least 10 are needed): increase num_particles",
            TracegraphWarning,
            stacklevel=3,
        )
        return math.inf
    # Scaling the weights (here by their maximum, to avoid overflow) leaves k as it is.
    weights = torch.sort((log_weights - log_weights.max()).exp()).values
    exceedances = weights[-tail:] - weights[-tail - 1]
    return fit_generalized_pareto(exceedances)[0]
