"""Posterior-predictive traces from a :class:`~tracegraph.infer.trace_posterior.TracePosterior`
(deprecated in Pyro in favour of :class:`~tracegraph.infer.predictive.Predictive`).

>>> import warnings
>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> from tracegraph.infer import Importance
>>> def model():
...     return tracegraph.sample("z", dist.Normal(0.0, 1.0))
>>> with warnings.catch_warnings():
...     warnings.simplefilter("ignore", FutureWarning)
...     predictive = TracePredictive(model, Importance(model, num_samples=5).run(), 3).run()
>>> len(predictive.exec_traces)
3
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch

from tracegraph.infer.trace_posterior import Marginals, TracePosterior
from tracegraph.poutine import handlers
from tracegraph.poutine.trace_struct import Trace
from tracegraph.poutine.util import site_is_subsample

__all__ = ["TracePredictive"]


class TracePredictive(TracePosterior):
    """Deprecated (as in Pyro): use :class:`~tracegraph.infer.Predictive`.

    Posterior-predictive traces: each draws a trace from ``posterior`` by weight,
    keeps ``keep_sites`` of it (default all), resamples the values of plated sites
    along their plate dims to the plate sizes of a run on the new data (random
    indices), and replays ``model`` against it; sites not replayed are sampled.

    :param model: the model.
    :param posterior: a :class:`TracePosterior` (run here if not run yet).
    :param num_samples: how many traces to generate.
    :param keep_sites: the sites whose posterior values are kept.

    >>> import torch
    >>> import tracegraph
    >>> import tracegraph.distributions as dist
    >>> import warnings
    >>> from tracegraph.infer import Importance
    >>> def model():
    ...     return tracegraph.sample("z", dist.Normal(0.0, 1.0))
    >>> posterior = Importance(model, num_samples=10).run()
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", FutureWarning)
    ...     predictive = TracePredictive(model, posterior, num_samples=4).run()
    >>> predictive.marginal().support()["_RETURN"].shape
    torch.Size([4])
    """

    def __init__(
        self,
        model: Callable[..., Any],
        posterior: TracePosterior,
        num_samples: int,
        keep_sites: Sequence[str] | None = None,
    ) -> None:
        warnings.warn(
            "The `TracePredictive` class is deprecated and will be removed in a future "
            "release. Use the `tracegraph.infer.Predictive` class instead.",
            FutureWarning,
            stacklevel=2,
        )
        self.model = model
        self.posterior = posterior
        self.num_samples = num_samples
        self.keep_sites = keep_sites
        super().__init__()

    def _traces(self, *args: Any, **kwargs: Any) -> Iterator[tuple[Trace, float, int]]:
        if not self.posterior.exec_traces:
            self.posterior.run(*args, **kwargs)
        data_trace = handlers.trace(self.model).get_trace(*args, **kwargs)
        for _ in range(self.num_samples):
            model_trace = self.posterior()
            if self.keep_sites is not None:
                for name in list(model_trace.nodes):
                    if name not in self.keep_sites:
                        model_trace.remove_node(name)
            _resample_to_data(model_trace, data_trace)
            resampled = handlers.trace(handlers.replay(self.model, trace=model_trace)).get_trace(
                *args, **kwargs
            )
            yield resampled, 0.0, 0

    def marginal(self, sites: str | Sequence[str] | None = None) -> Marginals:
        """The marginal distributions of ``sites`` over the predictive traces.

        :returns: a :class:`Marginals`.
        """
        return Marginals(self, sites)


def _resample_to_data(model_trace: Trace, data_trace: Trace) -> None:
    # Fit each plated posterior value to the new data's plate sizes by drawing
    # random indices along each plate dim (Pyro's rule: the indices of the
    # training data and of the new data are not assumed to correspond).
    for name, site in model_trace.nodes.items():
        if site["type"] != "sample":
            continue
        new = data_trace.nodes[name]
        if site_is_subsample(site):
            site["fn"] = new["fn"]
            site["value"] = new["value"]
            continue
        site["fn"] = new["fn"]
        site["cond_indep_stack"] = new["cond_indep_stack"]
        event_dim = getattr(new["fn"], "event_dim", 0)
        for frame in new["cond_indep_stack"]:
            if frame.dim is None:
                continue
            value = site["value"]
            batch_dim = frame.dim - event_dim
            index = torch.randint(0, value.size(batch_dim), (frame.size,), device=value.device)
            site["value"] = value.index_select(batch_dim, index)
