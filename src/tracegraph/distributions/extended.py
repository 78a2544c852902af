"""Binomial and Beta-Binomial whose logical support is every integer.

``ExtendedBinomial`` and ``ExtendedBetaBinomial`` accept any integer
``total_count`` (also negative) and any integer value: outside ``0 ..
total_count`` the log-probability is ``-inf`` instead of a validation error.
Useful when counts come from differences of other counts (Pyro marks both
EXPERIMENTAL).

>>> import torch
>>> ExtendedBinomial(torch.tensor([3, 5]), probs=torch.tensor(0.3)).log_prob(torch.tensor(4.0))
tensor([   -inf, -3.5631])
"""

from __future__ import annotations

import torch
from torch.distributions import constraints

from tracegraph.distributions import torch as _torch_wrappers
from tracegraph.distributions.conjugate import BetaBinomial, beta_binomial_log_prob
from tracegraph.distributions.pyro_constraints import integer

__all__ = ["ExtendedBetaBinomial", "ExtendedBinomial"]


def _outside(value: torch.Tensor, total_count: torch.Tensor) -> torch.Tensor:
    return (value < 0) | (value > total_count)


class ExtendedBinomial(_torch_wrappers.Binomial):  # type: ignore[misc, name-defined]
    """A Binomial whose ``total_count`` and values may be any integers.

    ``log_prob`` is the Binomial's inside ``0 .. total_count`` and ``-inf``
    outside (an empty range when ``total_count < 0``).  Constructor arguments
    are the Binomial's: ``total_count=1, probs=None, logits=None``.

    >>> d = ExtendedBinomial(torch.tensor(-1), probs=torch.tensor(0.5))
    >>> d.log_prob(torch.tensor(0.0))
    tensor(-inf)
    """

    arg_constraints = {
        "total_count": integer,
        "probs": constraints.unit_interval,
        "logits": constraints.real,
    }
    support = integer

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """The Binomial log-probability inside ``0 .. total_count``, else ``-inf``.

        >>> ExtendedBinomial(2, probs=torch.tensor(0.5)).log_prob(torch.tensor([-1.0, 1.0]))
        tensor([   -inf, -0.6931])
        """
        if self._validate_args:
            self._validate_sample(value)
        total = self.total_count
        outside = _outside(value, total)
        # Score a valid stand-in where the value is outside, so that neither the
        # result nor its gradient sees a nan.
        safe_total = total.clamp(min=0)
        safe_value = torch.where(outside, torch.zeros_like(value), value)
        inside = _binomial_log_prob(safe_total, self.logits, safe_value)
        return torch.where(outside, inside.new_full((), -float("inf")), inside)


def _binomial_log_prob(
    total: torch.Tensor, logits: torch.Tensor, value: torch.Tensor
) -> torch.Tensor:
    # torch's Binomial formula, for counts the caller has already made valid.
    log_factorial_n = torch.lgamma(total + 1)
    log_factorial_k = torch.lgamma(value + 1)
    log_factorial_nmk = torch.lgamma(total - value + 1)
    normalize_term = (
        total * torch.clamp(logits, min=0)
        + total * torch.log1p(torch.exp(-torch.abs(logits)))
        - log_factorial_n
    )
    return value * logits - log_factorial_k - log_factorial_nmk - normalize_term


class ExtendedBetaBinomial(BetaBinomial):
    """A Beta-Binomial whose ``total_count`` and values may be any integers.

    ``log_prob`` is the Beta-Binomial's inside ``0 .. total_count`` and
    ``-inf`` outside.

    >>> d = ExtendedBetaBinomial(2.0, 3.0, torch.tensor([-1, 4]))
    >>> d.log_prob(torch.tensor(0.0))
    tensor([   -inf, -1.5404])
    """

    arg_constraints = {
        "concentration1": constraints.positive,
        "concentration0": constraints.positive,
        "total_count": integer,
    }
    support = integer  # type: ignore[assignment]

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """The Beta-Binomial log-probability inside ``0 .. total_count``, else ``-inf``.

        >>> ExtendedBetaBinomial(1.0, 1.0, 2).log_prob(torch.tensor([3.0, 1.0]))
        tensor([   -inf, -1.0986])
        """
        if self._validate_args:
            self._validate_sample(value)
        total = self.total_count
        outside = _outside(value, total)
        safe_value = torch.where(outside, torch.zeros_like(value), value)
        inside = beta_binomial_log_prob(
            self.concentration1, self.concentration0, total.clamp(min=0), safe_value
        )
        return torch.where(outside, inside.new_full((), -float("inf")), inside)
