"""Zero-inflated distributions: extra zeros mixed into a base count distribution.

With probability ``gate`` the value is an extra zero; otherwise it is drawn
from ``base_dist``.  :class:`ZeroInflatedDistribution` takes any univariate
base; :class:`ZeroInflatedPoisson` and :class:`ZeroInflatedNegativeBinomial`
build theirs from the usual parameters.

>>> import torch
>>> d = ZeroInflatedPoisson(torch.tensor(2.0), gate=torch.tensor(0.25))
>>> d.mean
tensor(1.5000)
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch.distributions import constraints
from torch.distributions.utils import broadcast_all, lazy_property, logits_to_probs, probs_to_logits

from tracegraph.distributions import torch as _torch_wrappers
from tracegraph.distributions.expansion import finish_expand
from tracegraph.distributions.mixin import expand_or_wrap
from tracegraph.distributions.torch_distribution import Shape, TorchDistribution
from tracegraph.distributions.util import broadcast_shape
from tracegraph.errors import ShapeError, SiteError

__all__ = ["ZeroInflatedDistribution", "ZeroInflatedNegativeBinomial", "ZeroInflatedPoisson"]

Param = torch.Tensor | float | None


class ZeroInflatedDistribution(TorchDistribution):
    """Any univariate distribution with extra zeros.

    ``log_prob(0) = log(gate + (1 - gate) p(0))`` and
    ``log_prob(x) = log(1 - gate) + log p(x)`` elsewhere.  Give exactly one of
    ``gate`` (a probability) and ``gate_logits`` (its log-odds).

    :param base_dist: a distribution with empty ``event_shape``.
    :param gate: the probability of an extra zero.
    :param gate_logits: the log-odds of an extra zero.
    :param validate_args: torch's per-instance validation switch.
    :raises SiteError: unless exactly one of ``gate`` and ``gate_logits`` is given.
    :raises ShapeError: if ``base_dist`` has a nonempty event shape.

    >>> import tracegraph.distributions as dist
    >>> d = ZeroInflatedDistribution(dist.Poisson(torch.tensor(1.0)), gate=torch.tensor(0.5))
    >>> d.log_prob(torch.tensor([0.0, 1.0])).exp()
    tensor([0.6839, 0.1839])
    """

    arg_constraints = {"gate": constraints.unit_interval, "gate_logits": constraints.real}

    def __init__(
        self,
        base_dist: torch.distributions.Distribution,
        *,
        gate: Param = None,
        gate_logits: Param = None,
        validate_args: bool | None = None,
    ):
        if (gate is None) == (gate_logits is None):
            raise SiteError(
                "Either `gate` or `gate_logits` must be specified, but not both; got "
                f"gate={gate!r}, gate_logits={gate_logits!r}"
            )
        if base_dist.event_shape:
            raise ShapeError(
                "ZeroInflatedDistribution expected empty base_dist.event_shape but got "
                f"{base_dist.event_shape}; hint: zero-inflate a univariate distribution and "
                "call .to_event() on the result"
            )
        given = torch.as_tensor(gate if gate is not None else gate_logits)
        if not given.is_floating_point():
            given = given.to(torch.get_default_dtype())
        batch_shape = broadcast_shape(given.shape, base_dist.batch_shape)
        if gate is not None:
            self.gate = given.expand(batch_shape)
        else:
            self.gate_logits = given.expand(batch_shape)
        if base_dist.batch_shape != batch_shape:
            base_dist = expand_or_wrap(base_dist, torch.Size(batch_shape))
        self.base_dist: Any = base_dist
        super().__init__(batch_shape, validate_args=validate_args)

    @lazy_property
    def gate(self) -> torch.Tensor:
        """The probability of an extra zero."""
        return logits_to_probs(self.gate_logits, is_binary=True)

    @lazy_property
    def gate_logits(self) -> torch.Tensor:
        """The log-odds of an extra zero."""
        return probs_to_logits(self.gate, is_binary=True)

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self) -> Any:
        """The base distribution's support (zero is assumed to lie in it)."""
        return self.base_dist.support

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """The mixture's log-density (see the class docstring).

        >>> import tracegraph.distributions as dist
        >>> base = dist.Poisson(torch.tensor(1.0))
        >>> d = ZeroInflatedDistribution(base, gate_logits=torch.tensor(0.0))
        >>> d.log_prob(torch.tensor(2.0))
        tensor(-2.3863)
        """
        if self._validate_args:
            self._validate_sample(value)
        base_log_prob = self.base_dist.log_prob(value)
        if "gate" in self.__dict__:
            gate = self.gate
            zero = torch.log(gate + (1 - gate) * base_log_prob.exp())
            nonzero = torch.log1p(-gate) + base_log_prob
        else:
            # In log-odds: log(1 - gate) = -softplus(logits), log gate = logits - softplus.
            logits = self.gate_logits
            log_one_minus_gate = -F.softplus(logits)
            zero = torch.logaddexp(logits + log_one_minus_gate, log_one_minus_gate + base_log_prob)
            nonzero = log_one_minus_gate + base_log_prob
        return torch.where(value == 0, zero, nonzero)

    def sample(self, sample_shape: Shape = ()) -> torch.Tensor:
        """A base draw, replaced by zero with probability ``gate``.

        >>> import tracegraph.distributions as dist
        >>> d = ZeroInflatedDistribution(dist.Poisson(torch.tensor(3.0)), gate=torch.tensor(1.0))
        >>> d.sample((3,))
        tensor([0., 0., 0.])
        """
        shape = self.shape(sample_shape)
        with torch.no_grad():
            extra_zero = torch.bernoulli(self.gate.expand(shape)).bool()
            value = self.base_dist.sample(torch.Size(sample_shape))
            return torch.where(extra_zero, value.new_zeros(()), value)

    @lazy_property
    def mean(self) -> torch.Tensor:
        """``(1 - gate) * base mean``."""
        return (1 - self.gate) * self.base_dist.mean

    @lazy_property
    def variance(self) -> torch.Tensor:
        """``(1 - gate) * (base mean**2 + base variance) - mean**2``."""
        base_mean = self.base_dist.mean
        second = (1 - self.gate) * (base_mean.pow(2) + self.base_dist.variance)
        return second - self.mean.pow(2)

    def expand(self, batch_shape: Shape, _instance: Any = None) -> Any:
        """Broadcast the gate and the base distribution to ``batch_shape``.

        >>> import tracegraph.distributions as dist
        >>> d = ZeroInflatedDistribution(dist.Poisson(torch.tensor(1.0)), gate=torch.tensor(0.5))
        >>> d.expand((2,)).base_dist.batch_shape
        torch.Size([2])
        """
        batch_shape = torch.Size(batch_shape)
        new = self._get_checked_instance(type(self), _instance)
        # Copy only the parameter the user gave (the other is derived lazily).
        for name in ("gate", "gate_logits"):
            if name in self.__dict__:
                setattr(new, name, self.__dict__[name].expand(batch_shape))
        new.base_dist = expand_or_wrap(self.base_dist, batch_shape)
        return finish_expand(self, new, batch_shape)


class ZeroInflatedPoisson(ZeroInflatedDistribution):
    """A Poisson with extra zeros.

    :param rate: the Poisson rate, positive.
    :param gate: the probability of an extra zero.
    :param gate_logits: the log-odds of an extra zero.
    :param validate_args: torch's per-instance validation switch.

    >>> d = ZeroInflatedPoisson(torch.tensor(1.0), gate_logits=torch.tensor(0.0))
    >>> d.log_prob(torch.tensor(0.0)).exp()
    tensor(0.6839)
    """

    arg_constraints = {
        "rate": constraints.positive,
        "gate": constraints.unit_interval,
        "gate_logits": constraints.real,
    }
    support = constraints.nonnegative_integer

    def __init__(
        self,
        rate: torch.Tensor | float,
        *,
        gate: Param = None,
        gate_logits: Param = None,
        validate_args: bool | None = None,
    ):
        base_dist = _torch_wrappers.Poisson(rate, validate_args=False)
        super().__init__(base_dist, gate=gate, gate_logits=gate_logits, validate_args=validate_args)

    @property
    def rate(self) -> torch.Tensor:
        """The Poisson rate."""
        return self.base_dist.rate


class ZeroInflatedNegativeBinomial(ZeroInflatedDistribution):
    """A negative binomial with extra zeros.

    :param total_count: the number of failures until stopping, non-negative.
    :param probs: the success probability, in ``[0, 1)``; or give ``logits``.
    :param logits: the success log-odds.
    :param gate: the probability of an extra zero.
    :param gate_logits: the log-odds of an extra zero.
    :param validate_args: torch's per-instance validation switch.

    >>> d = ZeroInflatedNegativeBinomial(torch.tensor(3.0), logits=torch.tensor(0.0),
    ...                                  gate=torch.tensor(0.2))
    >>> d.mean
    tensor(2.4000)
    """

    arg_constraints = {
        "total_count": constraints.greater_than_eq(0),
        "probs": constraints.half_open_interval(0.0, 1.0),
        "logits": constraints.real,
        "gate": constraints.unit_interval,
        "gate_logits": constraints.real,
    }
    support = constraints.nonnegative_integer

    def __init__(
        self,
        total_count: torch.Tensor | float,
        *,
        probs: Param = None,
        logits: Param = None,
        gate: Param = None,
        gate_logits: Param = None,
        validate_args: bool | None = None,
    ):
        if probs is not None:
            total_count, probs = broadcast_all(total_count, probs)
        elif logits is not None:
            total_count, logits = broadcast_all(total_count, logits)
        base_dist = _torch_wrappers.NegativeBinomial(
            total_count=total_count, probs=probs, logits=logits, validate_args=False
        )
        super().__init__(base_dist, gate=gate, gate_logits=gate_logits, validate_args=validate_args)

    @property
    def total_count(self) -> torch.Tensor:
        """The negative binomial's number of failures."""
        return self.base_dist.total_count

    @property
    def probs(self) -> torch.Tensor:
        """The negative binomial's success probability."""
        return self.base_dist.probs

    @property
    def logits(self) -> torch.Tensor:
        """The negative binomial's success log-odds."""
        return self.base_dist.logits
