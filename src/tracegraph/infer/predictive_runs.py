"""The runs behind :class:`~tracegraph.infer.predictive.Predictive`: a hidden run to
find the plate nesting, a run for the returned sites' shapes, then the model
conditioned on each posterior sample in turn, or on all of them at once inside a
plate (the same runs as Pyro's, in the same order, so that from one seed both
draw the same values).

>>> import torch
>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> def model():
...     z = tracegraph.sample("z", dist.Normal(0.0, 1.0))
...     with tracegraph.plate("data", 2):
...         tracegraph.sample("x", dist.Normal(z, 1.0))
>>> run = predictive_run(model, {"z": torch.zeros(3)}, 3, (), True, (), {})
>>> {name: tuple(v.shape) for name, v in run.samples.items()}
{'x': (3, 2)}
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Collection
from typing import Any

import torch

from tracegraph.infer.plate_sums import plate_log_prob_sum
from tracegraph.poutine import handlers
from tracegraph.poutine.trace_struct import Trace
from tracegraph.poutine.util import prune_subsample_sites
from tracegraph.primitives import plate

__all__ = ["VECTORIZE_PLATE", "PredictiveRun", "predictive_run"]


#: The plate that vectorizes the samples (Pyro's name).
VECTORIZE_PLATE = "_num_predictive_samples"


def _guess_max_plate_nesting(model: Callable[..., Any], args: Any, kwargs: Any) -> int:
    # One hidden run: the deepest vectorized plate dim of any sample site.
    with handlers.block():
        tr = handlers.trace(model).get_trace(*args, **kwargs)
    dims = [
        f.dim
        for site in tr.nodes.values()
        if site["type"] == "sample"
        for f in site["cond_indep_stack"]
        if f.dim is not None
    ]
    return -min(dims) if dims else 0


@dataclasses.dataclass
class PredictiveRun:
    """What one predictive pass produced: the returned sites' samples, and (when
    asked) each sample's log-density or the vectorized trace.

    >>> PredictiveRun({}).log_prob is None
    True
    """

    samples: dict[str, Any]
    log_prob: torch.Tensor | None = None
    trace: Trace | None = None


def _return_site_shapes(
    model_trace: Trace,
    posterior_samples: dict[str, torch.Tensor],
    num_samples: int,
    return_sites: Collection[str] | None,
    max_plate_nesting: int,
) -> dict[str, tuple[int, ...] | None]:
    """Each returned site's output shape: ``(num_samples,)``, then 1s up to
    ``max_plate_nesting`` batch dims, then the value's shape."""
    shapes: dict[str, tuple[int, ...] | None] = {}
    for name in model_trace.stochastic_nodes + model_trace.observation_nodes:
        site = model_trace.nodes[name]
        pad = max(0, max_plate_nesting - len(getattr(site["fn"], "batch_shape", ())))
        shape = (num_samples,) + (1,) * pad + tuple(torch.as_tensor(site["value"]).shape)
        if return_sites:
            if name in return_sites:
                shapes[name] = shape
        elif return_sites is None or name not in posterior_samples:
            # None: every site (a guide's pass); (): the sites not given.
            shapes[name] = shape
    if return_sites is not None and "_RETURN" in return_sites:
        value = model_trace.nodes["_RETURN"]["value"]
        shapes["_RETURN"] = (num_samples,) + tuple(value.shape) if torch.is_tensor(value) else None
    return shapes


def _vectorized_sample(
    sample: torch.Tensor, site_shape: tuple[int, ...] | None, max_plate_nesting: int
) -> torch.Tensor:
    # A posterior sample laid out for the vectorized run: the sample dim left of
    # every plate dim.  The model's own site tells the batch/event split; without
    # it, the sample's trailing dims are taken as they are.
    if site_shape is not None and math.prod(site_shape) == sample.numel():
        return sample.reshape(site_shape)
    pad = max(0, max_plate_nesting - (sample.dim() - 1))
    return sample.reshape(sample.shape[:1] + (1,) * pad + sample.shape[1:])


def _per_sample_log_prob(tr: Trace) -> torch.Tensor:
    tr.compute_log_prob()
    tr.pack_tensors()
    symbol = tr.plate_to_symbol.get(VECTORIZE_PLATE)
    if symbol is None:  # a single sample: no dim left to keep
        return torch.as_tensor(tr.log_prob_sum()).reshape(1)
    return plate_log_prob_sum(tr, symbol)


def predictive_run(
    model: Callable[..., Any],
    posterior_samples: dict[str, torch.Tensor],
    num_samples: int,
    return_sites: Collection[str] | None,
    parallel: bool,
    args: Any,
    kwargs: Any,
    *,
    log_prob: bool = False,
    return_trace: bool = False,
) -> PredictiveRun:
    """Run ``model`` for ``num_samples`` predictive samples.

    :param model: the program (a model or a guide).
    :param posterior_samples: values to condition on, a leading dim per sample.
    :param num_samples: how many samples.
    :param return_sites: ``None`` for every sample site, ``()`` for those not in
        ``posterior_samples``, else the names to return (``"_RETURN"`` included).
    :param parallel: one vectorized run instead of one run per sample.
    :param args: the program's positional arguments.
    :param kwargs: its keyword arguments.
    :param log_prob: also compute each sample's log-density.
    :param return_trace: return the vectorized trace (whatever ``parallel`` says).
    :returns: a :class:`PredictiveRun`.
    :raises TypeError: if a returned site's values are not tensors and cannot
        be stacked (sequential runs).
    """
    max_plate_nesting = _guess_max_plate_nesting(model, args, kwargs)
    model_trace = prune_subsample_sites(handlers.trace(model).get_trace(*args, **kwargs))
    shapes = _return_site_shapes(
        model_trace, posterior_samples, num_samples, return_sites, max_plate_nesting
    )
    if not (parallel or return_trace):
        return _sequential(model, posterior_samples, num_samples, shapes, args, kwargs, log_prob)

    all_shapes = _return_site_shapes(model_trace, {}, num_samples, None, max_plate_nesting)
    reshaped = {
        name: _vectorized_sample(value, all_shapes.get(name), max_plate_nesting)
        for name, value in posterior_samples.items()
    }

    def vectorized(*a: Any, **k: Any) -> Any:
        with plate(VECTORIZE_PLATE, num_samples, dim=-max_plate_nesting - 1):
            return model(*a, **k)

    tr = handlers.trace(handlers.condition(vectorized, data=reshaped)).get_trace(*args, **kwargs)
    if return_trace:
        return PredictiveRun({}, trace=tr)
    samples: dict[str, Any] = {}
    for name, shape in shapes.items():
        value = tr.nodes[name]["value"]
        if shape is None:
            samples[name] = value
        elif value.numel() < math.prod(shape):
            samples[name] = value.detach().expand(shape)
        else:
            samples[name] = value.detach().reshape(shape)
    return PredictiveRun(samples, _per_sample_log_prob(tr) if log_prob else None)


def _sequential(
    model: Callable[..., Any],
    posterior_samples: dict[str, torch.Tensor],
    num_samples: int,
    shapes: dict[str, tuple[int, ...] | None],
    args: Any,
    kwargs: Any,
    log_prob: bool,
) -> PredictiveRun:
    collected: dict[str, list[Any]] = {name: [] for name in shapes}
    log_probs = []
    for i in range(num_samples):
        data = {name: value[i] for name, value in posterior_samples.items()}
        tr = handlers.trace(handlers.condition(model, data=data)).get_trace(*args, **kwargs)
        for name in shapes:
            collected[name].append(tr.nodes[name]["value"])
        if log_prob:
            log_probs.append(torch.as_tensor(tr.log_prob_sum()))
    samples: dict[str, Any] = {}
    for name, shape in shapes.items():
        values = collected[name]
        if not all(torch.is_tensor(v) for v in values):
            raise TypeError(
                f"Predictive: site '{name}' has non-tensor values "
                f"({type(values[0]).__name__}); they cannot be stacked; hint: return a "
                "tensor from the model, or use parallel=True"
            )
        stacked = torch.stack(values).detach()
        samples[name] = stacked if shape is None else stacked.reshape(shape)
    return PredictiveRun(samples, torch.stack(log_probs) if log_prob else None)
