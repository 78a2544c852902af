"""Posterior predictive samples: run the model with latent values from posterior
samples or a guide, sequentially or vectorized in one run.

>>> import torch
>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> def model(n):
...     z = tracegraph.sample("z", dist.Normal(0.0, 1.0))
...     with tracegraph.plate("data", n):
...         return tracegraph.sample("x", dist.Normal(z, 1.0))
>>> samples = Predictive(model, posterior_samples={"z": torch.zeros(5)})(3)
>>> samples["x"].shape
torch.Size([5, 3])
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Collection
from typing import Any

import torch

from tracegraph.errors import TracegraphWarning
from tracegraph.infer.autoguide.initialization import InitMessenger, init_to_sample  # noqa: F401
from tracegraph.infer.log_weights import LogWeightsMixin
from tracegraph.infer.mh_resampler import MHResampler
from tracegraph.infer.plate_sums import plate_log_prob_sum
from tracegraph.infer.predictive_results import CloneMixin, WeighedPredictiveResults
from tracegraph.infer.predictive_runs import predictive_run
from tracegraph.poutine.trace_struct import Trace
from tracegraph.poutine.util import prune_subsample_sites

__all__ = [
    "CloneMixin",
    "LogWeightsMixin",
    "MHResampler",
    "Predictive",
    "Trace",
    "WeighedPredictive",
    "WeighedPredictiveResults",
    "plate_log_prob_sum",
    "prune_subsample_sites",
]

class Predictive(torch.nn.Module):
    """Samples from the predictive distribution: ``model`` run with its latent
    sites conditioned on ``posterior_samples`` (leading dim: one per sample) or on
    draws from ``guide``.

    By default the sample sites not in ``posterior_samples`` are returned; with a
    guide, every sample site of the model (the guide's latents included).  The
    samples are detached from any gradient graph, as in Pyro.
    ``"_RETURN"`` in ``return_sites`` adds the model's return value.  Each result
    has shape ``(num_samples,)`` + one dim per plate dim the model uses + the
    value's shape.  With ``parallel=True`` all samples are drawn in one run inside
    a plate left of the model's plates (the model must declare its batch dims
    with plates).

    :param model: the model.
    :param posterior_samples: ``{site: samples}``.
    :param guide: draw the latents from this guide instead.
    :param num_samples: how many samples (taken from ``posterior_samples`` when
        given, with a warning if they disagree).
    :param return_sites: the sites to return (a list, tuple or set).
    :param parallel: draw all samples in one vectorized run.
    :raises ValueError: without ``posterior_samples`` or ``num_samples``, or with
        both ``posterior_samples`` and ``guide``.
    :raises RuntimeError: if the posterior samples differ in their leading size.

    >>> import torch
    >>> import tracegraph
    >>> import tracegraph.distributions as dist
    >>> def model(n):
    ...     z = tracegraph.sample("z", dist.Normal(0.0, 1.0))
    ...     with tracegraph.plate("data", n):
    ...         return tracegraph.sample("x", dist.Normal(z, 1.0))
    >>> def guide(n):
    ...     tracegraph.sample("z", dist.Normal(3.0, 0.01))
    >>> out = Predictive(model, guide=guide, num_samples=4, parallel=True)(2)
    >>> sorted(out), out["z"].shape, out["x"].shape
    (['x', 'z'], torch.Size([4, 1]), torch.Size([4, 2]))
    """

    def __init__(
        self,
        model: Callable[..., Any],
        posterior_samples: dict[str, torch.Tensor] | None = None,
        guide: Callable[..., Any] | None = None,
        num_samples: int | None = None,
        return_sites: Collection[str] | None = (),
        parallel: bool = False,
    ) -> None:
        super().__init__()
        if posterior_samples is None:
            posterior_samples = {}
        elif guide is not None:
            raise ValueError("`posterior_samples` cannot be provided with the `guide` argument.")
        sizes = {name: v.shape[0] for name, v in posterior_samples.items()}
        if len(set(sizes.values())) > 1:
            # Pyro fails here too, with a RuntimeError from a reshape.
            raise RuntimeError(
                f"posterior_samples have different leading (sample) sizes: {sizes}; they "
                "must all hold the same number of samples"
            )
        if sizes:
            batch_size = next(iter(sizes.values()))
            if num_samples is not None and num_samples != batch_size:
                warnings.warn(
                    f"Sample's leading dimension size {batch_size} is different from the "
                    f"provided {num_samples} num_samples argument. Defaulting to "
                    f"{batch_size}.",
                    TracegraphWarning,
                    stacklevel=2,
                )
            num_samples = batch_size
        if num_samples is None:
            raise ValueError("Either posterior_samples or num_samples must be specified.")
        self.model = model
        self.posterior_samples = posterior_samples
        self.num_samples = num_samples
        self.guide = guide
        self.return_sites = return_sites
        self.parallel = parallel

    def _samples(self, args: Any, kwargs: Any) -> dict[str, Any]:
        return_sites = self.return_sites
        posterior_samples = self.posterior_samples
        if self.guide is not None:
            # Every model site is returned unless a choice was made.
            return_sites = return_sites if return_sites else None
            posterior_samples = predictive_run(
                self.guide, {}, self.num_samples, None, self.parallel, args, kwargs
            ).samples
        return predictive_run(
            self.model, posterior_samples, self.num_samples, return_sites, self.parallel,
            args, kwargs,
        ).samples

    def forward(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Draw the predictive samples.

        :param args: the model's (and guide's) positional arguments.
        :param kwargs: their keyword arguments.
        :returns: ``{site: samples}``.
        """
        return self._samples(args, kwargs)

    def call(self, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """:meth:`forward`'s samples as a tuple, sorted by site name (for tracing
        tools that cannot return a dict).

        :returns: a tuple of tensors.
        """
        result = self.forward(*args, **kwargs)
        return tuple(value for _, value in sorted(result.items()))

    def get_samples(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Deprecated (as in Pyro, with a ``DeprecationWarning``): :meth:`forward`.

        :returns: ``{site: samples}``.
        """
        warnings.warn(
            "The method `.get_samples` has been deprecated in favor of `.forward`.",
            DeprecationWarning,
            stacklevel=2,
        )
        return self._samples(args, kwargs)

    def get_vectorized_trace(self, *args: Any, **kwargs: Any) -> Trace:
        """One vectorized trace of the model, all samples at once (inside the plate
        ``"_num_predictive_samples"``); latents from ``posterior_samples`` or the
        guide.  The model must declare its batch dims with plates.

        :returns: the trace.
        """
        posterior_samples = self.posterior_samples
        if self.guide is not None:
            posterior_samples = predictive_run(
                self.guide, {}, self.num_samples, None, self.parallel, args, kwargs
            ).samples
        run = predictive_run(
            self.model, posterior_samples, self.num_samples, (), True, args, kwargs,
            return_trace=True,
        )
        assert run.trace is not None
        return run.trace


class WeighedPredictive(Predictive):
    """Predictive samples drawn through a guide, each with the importance weight
    ``p(X_obs, z) / q(z)`` that corrects for the guide's mismatch.

    Call it like :class:`Predictive`, with one extra keyword ``model_guide``: the
    (conditioned) model the guide was fitted to, which gives ``p(X_obs, z)``
    (default: ``model`` itself).  A guide is required.

    :returns: (when called) a :class:`WeighedPredictiveResults`.

    >>> import torch
    >>> import tracegraph
    >>> import tracegraph.distributions as dist
    >>> def model(n):
    ...     z = tracegraph.sample("z", dist.Normal(0.0, 1.0))
    ...     with tracegraph.plate("data", n):
    ...         return tracegraph.sample("x", dist.Normal(z, 1.0))
    >>> def guide(n):
    ...     tracegraph.sample("z", dist.Normal(0.0, 1.0))
    >>> def prior(n):  # the guide equals it: every weight is 1
    ...     tracegraph.sample("z", dist.Normal(0.0, 1.0))
    >>> r = WeighedPredictive(model, guide=guide, num_samples=3)(2, model_guide=prior)
    >>> r.samples["x"].shape, r.log_weights
    (torch.Size([3, 2]), tensor([0., 0., 0.]))
    """

    def _weighed(self, args: Any, kwargs: Any) -> WeighedPredictiveResults:
        model_guide = kwargs.pop("model_guide", self.model)
        if self.guide is None:
            raise TypeError(
                "WeighedPredictive needs a guide: its weights compare the guide's "
                "log-density with the model's"
            )
        return_sites = self.return_sites if self.return_sites else None
        guide_run = predictive_run(
            self.guide, {}, self.num_samples, None, self.parallel, args, kwargs, log_prob=True
        )
        target_log_prob = None
        if model_guide is not self.model:
            # As in Pyro, the target's pass runs before the model's.
            target_log_prob = predictive_run(
                model_guide, guide_run.samples, self.num_samples, (), self.parallel,
                args, kwargs, log_prob=True,
            ).log_prob
        model_run = predictive_run(
            self.model, guide_run.samples, self.num_samples, return_sites, self.parallel,
            args, kwargs, log_prob=target_log_prob is None,
        )
        model_log_prob = model_run.log_prob if target_log_prob is None else target_log_prob
        assert guide_run.log_prob is not None and model_log_prob is not None
        return WeighedPredictiveResults(
            samples=model_run.samples,
            log_weights=model_log_prob - guide_run.log_prob,
            guide_log_prob=guide_run.log_prob,
            model_log_prob=model_log_prob,
        )

    def forward(self, *args: Any, **kwargs: Any) -> WeighedPredictiveResults:  # type: ignore[override]
        """Draw the samples and their weights.

        :param args: the model's and guide's positional arguments.
        :param kwargs: their keyword arguments, plus ``model_guide``.
        :returns: a :class:`WeighedPredictiveResults`.
        """
        return self._weighed(args, kwargs)

    def call(self, *args: Any, **kwargs: Any) -> WeighedPredictiveResults:  # type: ignore[override]
        """:meth:`forward` with the samples as a tuple sorted by site name.

        :returns: a :class:`WeighedPredictiveResults`.
        """
        result = self.forward(*args, **kwargs)
        assert isinstance(result.samples, dict)
        return dataclasses.replace(
            result, samples=tuple(value for _, value in sorted(result.samples.items()))
        )
