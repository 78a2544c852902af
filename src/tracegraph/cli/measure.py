"""Measure gradient estimators: the variance of the gradient and the time per step.

The variance of an estimator is measured at fixed params: draw the gradient of
its loss ``draws`` times and sum the per-element variances (``tr Cov``) per
param.  Lower is better; at the same expected gradient, lower variance means
fewer steps to converge.

>>> import torch
>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> from tracegraph.infer import Trace_ELBO
>>> def model():
...     tracegraph.sample("z", dist.Bernoulli(0.5))
>>> def guide():
...     p = tracegraph.param("p", torch.tensor(0.3), constraint=dist.constraints.unit_interval)
...     tracegraph.sample("z", dist.Bernoulli(p))
>>> guide()
>>> report = gradient_variance("Trace_ELBO", Trace_ELBO(), model, guide, (), {}, ["p"], 50)
>>> report.total > 0, sorted(report.per_param)
(True, ['p'])
>>> print(format_table(["a", "bb"], [["x", "1.5"], ["yyy", "10"]]))
a     bb
---  ---
x    1.5
yyy   10
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from tracegraph.params import get_param_store

__all__ = ["VarianceReport", "format_number", "format_table", "gradient_variance"]


@dataclass
class VarianceReport:
    """One estimator's measurement.

    :param name: the estimator's label.
    :param particles: particles per step.
    :param per_param: ``tr Cov`` of the gradient w.r.t. each param.
    :param seconds_per_step: median wall time of one loss and gradient.
    :param mean_elbo: the mean ELBO estimate over the draws.

    >>> VarianceReport("Trace_ELBO", 1, {"a": 1.5, "b": 0.5}, 0.01, -3.0).total
    2.0
    """

    name: str
    particles: int
    per_param: dict[str, float]
    seconds_per_step: float
    mean_elbo: float

    @property
    def total(self) -> float:
        """``tr Cov`` of the whole gradient."""
        return sum(self.per_param.values())


def gradient_variance(
    name: str,
    elbo: Any,
    model: Callable[..., Any],
    guide: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    params: Sequence[str],
    draws: int,
    warmup: int = 0,
    before_draw: Callable[[torch.Tensor], None] | None = None,
) -> VarianceReport:
    """Draw the gradient of ``elbo.differentiable_loss`` w.r.t. the unconstrained
    values of ``params`` (already in the param store) ``draws`` times.

    The params are not changed.  ``warmup`` draws run first and are not counted
    (they let stateful baselines, such as decaying averages, settle);
    ``before_draw(loss)`` is called with each warm-up loss (to train a learned
    baseline, for example).

    :returns: a :class:`VarianceReport`.
    """
    store = dict(get_param_store().named_parameters())
    leaves = [store[p] for p in params]
    for _ in range(warmup):
        loss = elbo.differentiable_loss(model, guide, *args, **kwargs)
        if before_draw is not None:
            before_draw(loss)
    # Running sums in double precision: a million-element gradient times a few
    # hundred draws would not fit in memory as a stack.
    sums = [torch.zeros(leaf.shape, dtype=torch.float64) for leaf in leaves]
    squares = [torch.zeros(leaf.shape, dtype=torch.float64) for leaf in leaves]
    times: list[float] = []
    elbo_sum = 0.0
    for _ in range(draws):
        start = time.perf_counter()
        loss = elbo.differentiable_loss(model, guide, *args, **kwargs)
        grads: Sequence[torch.Tensor | None] = [None] * len(leaves)
        if loss.requires_grad and leaves:
            grads = torch.autograd.grad(loss, leaves, allow_unused=True)
        times.append(time.perf_counter() - start)
        elbo_sum -= float(loss.detach())
        for i, g in enumerate(grads):
            if g is not None:
                g64 = g.detach().to(torch.float64)
                sums[i] += g64
                squares[i] += g64 * g64
    per_param = {}
    for p, s, sq in zip(params, sums, squares):
        mean = s / draws
        # Unbiased sample variance, clamped at 0 against rounding.
        var = (sq - draws * mean * mean).clamp(min=0.0) / max(draws - 1, 1)
        per_param[p] = float(var.sum())
    return VarianceReport(
        name=name,
        particles=int(getattr(elbo, "num_particles", 1)),
        per_param=per_param,
        seconds_per_step=statistics.median(times) if times else float("nan"),
        mean_elbo=elbo_sum / max(draws, 1),
    )


def format_number(x: float) -> str:
    """Four significant digits, switching to exponent form for large or small numbers.

    >>> format_number(12345.678), format_number(0.5), format_number(3.2e-7)
    ('1.235e+04', '0.5', '3.2e-07')
    """
    return f"{x:.4g}"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table: the first column left-aligned, the others right-aligned.

    :param headers: the column titles.
    :param rows: the cells, as strings.
    :returns: the table, one line per row, under a rule.
    """
    widths = [len(h) for h in headers]
    for row in rows:
        for j, cell in enumerate(row):
            widths[j] = max(widths[j], len(cell))

    def line(cells: Sequence[str]) -> str:
        parts = [cells[0].ljust(widths[0])]
        parts += [c.rjust(w) for c, w in zip(cells[1:], widths[1:])]
        return "  ".join(parts).rstrip()

    out = [line(headers), "  ".join("-" * w for w in widths)]
    out += [line(row) for row in rows]
    return "\n".join(out)
