"""Normal and MultivariateNormal likelihoods for data with missing (NaN) entries.

``NanMaskedNormal.log_prob`` is zero where the value is NaN;
``NanMaskedMultivariateNormal.log_prob`` marginalizes each event over its NaN
coordinates (the Normal marginal of the observed ones).  Gradients never see a
NaN.

>>> import torch
>>> NanMaskedNormal(torch.zeros(3), 1.0).log_prob(torch.tensor([0.0, float("nan"), 1.0]))
tensor([-0.9189,  0.0000, -1.4189])
"""

from __future__ import annotations

import torch
from torch.distributions import MultivariateNormal

from tracegraph.distributions import torch as _torch_wrappers
from tracegraph.distributions.util import broadcast_shape

__all__ = ["NanMaskedMultivariateNormal", "NanMaskedNormal"]


class NanMaskedNormal(_torch_wrappers.Normal):  # type: ignore[misc, name-defined]
    """``Normal`` whose ``log_prob`` is zero at NaN values (missing data).

    Constructor arguments are ``Normal``'s: ``loc, scale, validate_args=None``.

    >>> loc = torch.zeros(2, requires_grad=True)
    >>> NanMaskedNormal(loc, 1.0).log_prob(torch.tensor([1.0, float("nan")])).sum().backward()
    >>> loc.grad
    tensor([1., 0.])
    """

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """``Normal.log_prob`` where ``value`` is observed, zero where it is NaN.

        >>> NanMaskedNormal(0.0, 1.0).log_prob(torch.tensor(float("nan")))
        tensor(0.)
        """
        missing = value.isnan()
        if not missing.any():
            return super().log_prob(value)
        # Score a valid stand-in (the mean) at missing entries, then zero them.
        filled = torch.where(missing, self.loc.detach(), value)
        log_prob = super().log_prob(filled)
        return torch.where(missing, log_prob.new_zeros(()), log_prob)


class NanMaskedMultivariateNormal(_torch_wrappers.MultivariateNormal):  # type: ignore[misc, name-defined]
    """``MultivariateNormal`` whose ``log_prob`` marginalizes over NaN coordinates.

    An event with some NaN coordinates is scored by the Normal marginal of its
    observed coordinates; an all-NaN event scores zero.  Constructor arguments
    are ``MultivariateNormal``'s.

    >>> d = NanMaskedMultivariateNormal(torch.zeros(2), torch.eye(2))
    >>> d.log_prob(torch.tensor([[0.0, float("nan")], [float("nan"), float("nan")]]))
    tensor([-0.9189,  0.0000])
    """

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """The log-density of each event's observed coordinates.

        >>> d = NanMaskedMultivariateNormal(torch.zeros(2), torch.eye(2))
        >>> d.log_prob(torch.zeros(2))
        tensor(-1.8379)
        """
        observed = ~value.isnan()
        if observed.all():
            return super().log_prob(value)
        dim = self.event_shape[0]
        shape = broadcast_shape(value.shape[:-1], self.batch_shape)
        value = value.expand(shape + (dim,))
        observed = observed.expand(shape + (dim,))
        loc = self.loc.expand(shape + (dim,))
        cov = self.covariance_matrix.expand(shape + (dim, dim))
        flat_value = value.reshape(-1, dim)
        flat_observed = observed.reshape(-1, dim)
        flat_loc = loc.reshape(-1, dim)
        flat_cov = cov.reshape(-1, dim, dim)
        result = flat_value.new_zeros(flat_value.shape[:1])
        # One marginal per pattern of observed coordinates.
        patterns, which = torch.unique(flat_observed, dim=0, return_inverse=True)
        for i, pattern in enumerate(patterns):
            if not pattern.any():
                continue
            rows = (which == i).nonzero().squeeze(-1)
            keep = pattern.nonzero().squeeze(-1)
            sub_cov = flat_cov[rows][:, keep][:, :, keep]
            marginal = MultivariateNormal(
                flat_loc[rows][:, keep], covariance_matrix=sub_cov, validate_args=False
            )
            result = result.index_put((rows,), marginal.log_prob(flat_value[rows][:, keep]))
        return result.reshape(shape)
