"""Turning weighed samples into equally weighed ones by Metropolis-Hastings steps
whose proposals are fresh weighed samples (an independence sampler).

>>> import torch
>>> from tracegraph.infer.predictive_results import WeighedPredictiveResults
>>> def sampler():  # equal weights: every proposal is accepted
...     x = torch.randn(4)
...     return WeighedPredictiveResults({"x": x}, torch.zeros(4), torch.zeros(4), torch.zeros(4))
>>> resampler = MHResampler(sampler)
>>> _ = resampler(); _ = resampler()
>>> resampler.get_total_transition_count()
tensor(4)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from tracegraph.infer.predictive_results import WeighedPredictiveResults

__all__ = ["MHResampler"]


def _pick(accept: torch.Tensor, new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
    mask = accept.reshape(accept.shape + (1,) * (new.dim() - accept.dim()))
    return torch.where(mask, new, old)


class MHResampler(torch.nn.Module):
    """Metropolis-Hastings resampling of the weighed samples that ``sampler``
    returns (a :class:`~tracegraph.infer.predictive_results.WeighedPredictiveResults`
    per call, e.g. from :class:`~tracegraph.infer.predictive.WeighedPredictive`).

    The first call keeps the sampler's samples.  Each later call draws new ones
    and, sample by sample, accepts the candidate ``x'`` over the current ``x``
    with probability ``min(1, w(x') / w(x))``, where ``w = p / g`` is the
    importance weight: the proposal is the guide ``g``, independent of ``x``, and
    the target the model ``p``.  The samples approach the target as calls go on;
    if the guide matches the model exactly, every candidate is accepted.

    :param sampler: a callable returning weighed samples; called with the
        arguments given to this module.
    :param source_samples_slice: which of the sampler's results to keep in
        :attr:`source_samples` (applied to the list after each call; default none).
    :param stored_samples_slice: which of the outputs to keep in
        :attr:`stored_samples` (likewise; default none).

    >>> def sampler():
    ...     x = torch.randn(3)
    ...     return WeighedPredictiveResults({"x": x}, -x ** 2, torch.zeros(3), -x ** 2)
    >>> resampler = MHResampler(sampler, stored_samples_slice=slice(-2, None))
    >>> for _ in range(5):
    ...     out = resampler()
    >>> resampler.get_stored_samples().samples["x"].shape  # the last two calls' samples
    torch.Size([6])
    """

    def __init__(
        self,
        sampler: Callable[..., Any],
        source_samples_slice: slice = slice(0),
        stored_samples_slice: slice = slice(0),
    ) -> None:
        super().__init__()
        self.sampler = sampler
        self.samples: WeighedPredictiveResults | None = None
        self.transition_count = torch.tensor(0)
        self.source_samples: list[WeighedPredictiveResults] = []
        self.source_samples_slice = source_samples_slice
        self.stored_samples: list[WeighedPredictiveResults] = []
        self.stored_samples_slice = stored_samples_slice

    def forward(self, *args: Any, **kwargs: Any) -> WeighedPredictiveResults:
        """One resampling step.

        :returns: the current samples (weights included).
        """
        new = self.sampler(*args, **kwargs)
        self.source_samples.append(new)
        self.source_samples = self.source_samples[self.source_samples_slice]
        if self.samples is None:
            self.samples = new
            self.transition_count = torch.zeros(new.log_weights.shape, dtype=torch.long)
        else:
            old = self.samples
            log_ratio = new.log_weights - old.log_weights
            accept = torch.rand(log_ratio.shape, device=log_ratio.device) < log_ratio.exp()
            samples: Any
            if isinstance(new.samples, dict):
                assert isinstance(old.samples, dict)
                samples = {k: _pick(accept, v, old.samples[k]) for k, v in new.samples.items()}
            else:
                old_values: tuple[torch.Tensor, ...] = tuple(old.samples)  # type: ignore[arg-type]
                samples = tuple(_pick(accept, v, o) for v, o in zip(new.samples, old_values))
            self.samples = WeighedPredictiveResults(
                samples=samples,
                log_weights=_pick(accept, new.log_weights, old.log_weights),
                guide_log_prob=_pick(accept, new.guide_log_prob, old.guide_log_prob),
                model_log_prob=_pick(accept, new.model_log_prob, old.model_log_prob),
            )
            self.transition_count = self.transition_count + accept.long()
        self.stored_samples.append(self.samples)
        self.stored_samples = self.stored_samples[self.stored_samples_slice]
        return self.samples

    def get_samples(self, samples: list[WeighedPredictiveResults]) -> WeighedPredictiveResults:
        """Concatenate a list of weighed samples along the sample dim.

        :param samples: the results to join.
        :returns: one :class:`WeighedPredictiveResults`.
        :raises ValueError: for an empty list.
        """
        if not samples:
            raise ValueError(
                "MHResampler.get_samples: no samples to concatenate; hint: set "
                "source_samples_slice / stored_samples_slice to keep some"
            )
        first = samples[0].samples
        joined: Any
        if isinstance(first, dict):
            joined = {k: torch.cat([s.samples[k] for s in samples]) for k in first}  # type: ignore[call-overload]
        else:
            joined = tuple(torch.cat(parts) for parts in zip(*(s.samples for s in samples)))
        return WeighedPredictiveResults(
            samples=joined,
            log_weights=torch.cat([s.log_weights for s in samples]),
            guide_log_prob=torch.cat([s.guide_log_prob for s in samples]),
            model_log_prob=torch.cat([s.model_log_prob for s in samples]),
        )

    def get_source_samples(self) -> WeighedPredictiveResults:
        """The kept results of the sampler, joined (see ``source_samples_slice``)."""
        return self.get_samples(self.source_samples)

    def get_stored_samples(self) -> WeighedPredictiveResults:
        """The kept outputs, joined (see ``stored_samples_slice``)."""
        return self.get_samples(self.stored_samples)

    def get_min_sample_transition_count(self) -> torch.Tensor:
        """The fewest accepted moves of any sample so far."""
        return self.transition_count.min()

    def get_total_transition_count(self) -> torch.Tensor:
        """All accepted moves so far."""
        return self.transition_count.sum()
