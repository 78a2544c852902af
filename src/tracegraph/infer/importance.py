"""Importance sampling: weighted posterior samples and the log normalizer.

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
from collections.abc import Callable
from typing import Any

import torch

from tracegraph.poutine import handlers
from tracegraph.poutine.trace_struct import Trace

__all__ = ["EmpiricalMarginal", "Importance"]


class Importance:
    """Draw ``num_samples`` traces from ``guide`` (the prior when None), weighted by
    ``p(x, z) / q(z)``.

    :param model: the model (with its observations).
    :param guide: the proposal; ``None`` proposes from the model's prior.
    :param num_samples: number of weighted traces.
    """

    def __init__(
        self,
        model: Callable[..., Any],
        guide: Callable[..., Any] | None = None,
        num_samples: int = 10,
    ) -> None:
        if not isinstance(num_samples, int) or num_samples < 1:
            raise ValueError(f"num_samples must be a positive int, got {num_samples!r}")
        self.model = model
        self.guide = guide
        self.num_samples = num_samples
        self.exec_traces: list[Trace] = []
        self.log_weights: torch.Tensor = torch.empty(0)

    def _one(self, args: Any, kwargs: Any) -> tuple[Trace, torch.Tensor]:
        if self.guide is None:
            model_trace = handlers.trace(self.model).get_trace(*args, **kwargs)
            log_w = model_trace.log_prob_sum(lambda name, site: site["is_observed"])
            return model_trace, torch.as_tensor(log_w)
        guide_trace = handlers.trace(self.guide).get_trace(*args, **kwargs)
        model_trace = handlers.trace(handlers.replay(self.model, trace=guide_trace)).get_trace(
            *args, **kwargs
        )
        log_w = model_trace.log_prob_sum() - guide_trace.log_prob_sum()
        return model_trace, torch.as_tensor(log_w)

    def run(self, *args: Any, **kwargs: Any) -> Importance:
        """Draw the weighted traces.

        :returns: ``self``.
        """
        traces, weights = [], []
        with torch.no_grad():
            for _ in range(self.num_samples):
                tr, log_w = self._one(args, kwargs)
                traces.append(tr)
                weights.append(log_w.detach())
        self.exec_traces = traces
        self.log_weights = torch.stack(weights)
        return self

    def _require_run(self) -> None:
        if not self.exec_traces:
            raise RuntimeError("call Importance.run(...) before asking for results")

    def get_log_normalizer(self) -> torch.Tensor:
        """Estimate of ``log p(x)``: ``logsumexp(log_weights) - log(num_samples)``."""
        self._require_run()
        return torch.logsumexp(self.log_weights, 0) - math.log(len(self.log_weights))

    def get_normalized_weights(self, log_scale: bool = False) -> torch.Tensor:
        """The self-normalized weights (or their logs)."""
        self._require_run()
        log_w = self.log_weights - torch.logsumexp(self.log_weights, 0)
        return log_w if log_scale else log_w.exp()

    def get_ESS(self) -> torch.Tensor:
        """Effective sample size ``(sum w)^2 / sum w^2``."""
        self._require_run()
        lw = self.log_weights
        return torch.exp(2 * torch.logsumexp(lw, 0) - torch.logsumexp(2 * lw, 0))

    def marginal(self, site: str) -> EmpiricalMarginal:
        """The weighted empirical distribution of ``site``'s values."""
        self._require_run()
        missing = [i for i, tr in enumerate(self.exec_traces) if site not in tr.nodes]
        if missing:
            raise KeyError(f"site '{site}' is missing from {len(missing)} of the traces")
        values = torch.stack([tr.nodes[site]["value"].detach() for tr in self.exec_traces])
        return EmpiricalMarginal(values, self.log_weights)


class EmpiricalMarginal:
    """A weighted set of samples: ``mean``, ``variance`` and resampling.

    >>> m = EmpiricalMarginal(torch.tensor([0.0, 2.0]), torch.tensor([0.0, 0.0]))
    >>> float(m.mean), float(m.variance)
    (1.0, 1.0)
    """

    def __init__(self, values: torch.Tensor, log_weights: torch.Tensor) -> None:
        if len(values) != len(log_weights):
            raise ValueError(
                f"{len(values)} values but {len(log_weights)} weights; they must match"
            )
        self.values = values
        self.log_weights = log_weights - torch.logsumexp(log_weights, 0)

    def _w(self) -> torch.Tensor:
        w = self.log_weights.exp()
        return w.reshape(w.shape + (1,) * (self.values.dim() - 1))

    @property
    def mean(self) -> torch.Tensor:
        return (self._w() * self.values).sum(0)

    @property
    def variance(self) -> torch.Tensor:
        return (self._w() * (self.values - self.mean) ** 2).sum(0)

    def sample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:
        """Resample values in proportion to their weights."""
        idx = torch.distributions.Categorical(logits=self.log_weights).sample(sample_shape)
        return self.values[idx]
