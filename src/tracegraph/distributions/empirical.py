"""The weighted empirical distribution ``Empirical`` of a set of samples.

>>> import torch
>>> d = Empirical(torch.tensor([0.0, 1.0, 1.0]), torch.zeros(3))
>>> d.mean, d.log_prob(torch.tensor(1.0)).exp()
(tensor(0.6667), tensor(0.6667))
"""

from __future__ import annotations

from typing import Any

import torch
from torch.distributions import constraints

from tracegraph.distributions.torch_distribution import Shape, TorchDistribution

__all__ = ["Empirical"]


class Empirical(TorchDistribution):
    """The distribution putting weight ``exp(log_weights[..., i])`` (normalized) on
    ``samples[..., i, ...]``.

    ``log_weights`` has shape ``batch_shape + (num_samples,)``; ``samples`` starts
    with that shape and ends with the event shape.  The samples are aggregated over
    the rightmost dim of ``log_weights``.  ``log_prob`` scores one value per batch
    element (no sample dims): the total weight of the samples equal to it.

    :param samples: ``batch_shape + (num_samples,) + event_shape``.
    :param log_weights: unnormalized log weights, ``batch_shape + (num_samples,)``.
    :param validate_args: torch's per-instance validation switch.
    :raises ValueError: if ``log_weights``' shape is not the leading shape of ``samples``.

    >>> d = Empirical(torch.randn(2, 5, 3), torch.zeros(2, 5))
    >>> d.batch_shape, d.event_shape, d.sample((4,)).shape
    (torch.Size([2]), torch.Size([3]), torch.Size([4, 2, 3]))
    """

    arg_constraints: dict[str, Any] = {}
    support = constraints.real
    has_enumerate_support = True

    def __init__(
        self,
        samples: torch.Tensor,
        log_weights: torch.Tensor,
        validate_args: bool | None = None,
    ) -> None:
        if log_weights.dim() == 0 or samples.shape[: log_weights.dim()] != log_weights.shape:
            raise ValueError(
                f"Empirical: the shape of log_weights ({log_weights.shape}) must be the "
                f"leading shape of samples ({samples.shape}); hint: log_weights has one "
                "entry per sample, over batch dims plus the sample dim"
            )
        self._samples = samples
        self._log_weights = log_weights
        self._aggregation_dim = log_weights.dim() - 1
        self._categorical = torch.distributions.Categorical(logits=log_weights)
        batch_shape = log_weights.shape[:-1]
        event_shape = samples.shape[log_weights.dim() :]
        super().__init__(batch_shape, event_shape, validate_args=validate_args)

    @property
    def sample_size(self) -> int:
        """How many samples (over all batch elements) the distribution holds.

        >>> Empirical(torch.zeros(2, 3), torch.zeros(2, 3)).sample_size
        6
        """
        return self._log_weights.numel()

    @property
    def log_weights(self) -> torch.Tensor:
        """The unnormalized log weights as given.

        >>> Empirical(torch.zeros(2), torch.tensor([1.0, 2.0])).log_weights
        tensor([1., 2.])
        """
        return self._log_weights

    def _normalized_weights(self) -> torch.Tensor:
        # Weights over the sample dim, broadcast over the event dims.
        w = torch.softmax(self._float_log_weights(), dim=-1)
        return w.reshape(w.shape + (1,) * len(self.event_shape))

    def _float_log_weights(self) -> torch.Tensor:
        lw = self._log_weights
        return lw if lw.is_floating_point() else lw.to(torch.get_default_dtype())

    def _require_float(self, what: str) -> None:
        if not (self._samples.is_floating_point() or self._samples.is_complex()):
            raise ValueError(
                f"{what} of an Empirical distribution of {self._samples.dtype} samples is "
                "undefined; hint: convert the samples to a floating dtype (or one-hot "
                "encode categorical samples)"
            )

    @property
    def mean(self) -> torch.Tensor:
        """The weighted mean of the samples.

        >>> Empirical(torch.tensor([0.0, 4.0]), torch.tensor([0.0, 0.0])).mean
        tensor(2.)
        """
        self._require_float("the mean")
        return (self._normalized_weights() * self._samples).sum(self._aggregation_dim)

    @property
    def variance(self) -> torch.Tensor:
        """The weighted (population) variance of the samples.

        >>> Empirical(torch.tensor([0.0, 4.0]), torch.tensor([0.0, 0.0])).variance
        tensor(4.)
        """
        self._require_float("the variance")
        dev = self._samples - self.mean.unsqueeze(self._aggregation_dim)
        return (self._normalized_weights() * dev**2).sum(self._aggregation_dim)

    def sample(self, sample_shape: Shape = torch.Size()) -> torch.Tensor:
        """Draw samples in proportion to their weights (a gather from the samples,
        so gradients reach them).

        :param sample_shape: the shape of the iid batch to draw.
        :returns: ``sample_shape + batch_shape + event_shape``.

        >>> _ = torch.manual_seed(0)
        >>> Empirical(torch.tensor([5.0, 7.0]), torch.tensor([0.0, -50.0])).sample((3,))
        tensor([5., 5., 5.])
        """
        sample_shape = torch.Size(sample_shape)
        idx = self._categorical.sample(sample_shape)
        event = self.event_shape
        # samples: batch + (n,) + event  ->  sample_shape + batch + (n,) + event
        source = self._samples.expand(sample_shape + self._samples.shape)
        index = idx.reshape(idx.shape + (1,) * (1 + len(event)))
        index = index.expand(idx.shape + (1,) + event)
        dim = len(sample_shape) + self._aggregation_dim
        return source.gather(dim, index).squeeze(dim)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """Log of the normalized weight of the samples equal to ``value``.

        :param value: of shape ``batch_shape + event_shape`` (no sample dims).
        :raises ValueError: for any other shape.

        >>> d = Empirical(torch.tensor([1.0, 1.0, 3.0]), torch.zeros(3))
        >>> d.log_prob(torch.tensor(1.0)).exp(), d.log_prob(torch.tensor(2.0))
        (tensor(0.6667), tensor(-inf))
        """
        expected = self.batch_shape + self.event_shape
        if value.shape != expected:
            raise ValueError(
                f"Empirical.log_prob: value.shape must be {expected} (batch + event "
                f"shape), got {value.shape}; values with sample dims cannot be scored"
            )
        equal = self._samples == value.unsqueeze(self._aggregation_dim)
        if self.event_shape:
            equal = equal.flatten(self._aggregation_dim + 1).all(-1)
        log_w = self._float_log_weights()
        hit = log_w.masked_fill(~equal, -float("inf"))
        return hit.logsumexp(-1) - log_w.logsumexp(-1)

    def enumerate_support(self, expand: bool = True) -> torch.Tensor:
        """The samples themselves (with the sample dim right of the batch dims).

        >>> Empirical(torch.tensor([1.0, 2.0]), torch.zeros(2)).enumerate_support()
        tensor([1., 2.])
        """
        return self._samples
