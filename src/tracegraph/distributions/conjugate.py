"""Compound (conjugate-pair) count distributions: a rate or probability integrated out.

:class:`BetaBinomial` (a Binomial whose success probability is Beta
distributed), :class:`DirichletMultinomial` (a Multinomial whose class
probabilities are Dirichlet distributed) and :class:`GammaPoisson` (a Poisson
whose rate is Gamma distributed).  Each ``log_prob`` is the closed-form
marginal; ``sample`` draws the latent then the count.

>>> import torch
>>> d = BetaBinomial(torch.tensor(2.0), torch.tensor(3.0), total_count=5)
>>> d.mean, d.enumerate_support().shape
(tensor(2.), torch.Size([6]))
"""

from __future__ import annotations

from typing import Any

import torch
from torch.distributions import Beta, Binomial, Dirichlet, Gamma, Poisson, constraints
from torch.distributions.utils import broadcast_all

from tracegraph.distributions.expansion import finish_expand
from tracegraph.distributions.torch_distribution import Shape, TorchDistribution
from tracegraph.distributions.util import broadcast_shape

__all__ = ["BetaBinomial", "DirichletMultinomial", "GammaPoisson"]


def _log_binomial_coefficient(n: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    return torch.lgamma(n + 1) - torch.lgamma(k + 1) - torch.lgamma(n - k + 1)


def _log_beta(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.lgamma(a) + torch.lgamma(b) - torch.lgamma(a + b)


def beta_binomial_log_prob(
    concentration1: torch.Tensor,
    concentration0: torch.Tensor,
    total_count: torch.Tensor,
    value: torch.Tensor,
) -> torch.Tensor:
    """The Beta-Binomial log-mass, without any check of ``value``.

    >>> one = torch.tensor(1.0)
    >>> beta_binomial_log_prob(one, one, torch.tensor(3.0), torch.tensor(2.0)).exp()
    tensor(0.2500)
    """
    a, b, n = concentration1, concentration0, total_count
    return (
        _log_binomial_coefficient(n, value) + _log_beta(value + a, n - value + b) - _log_beta(a, b)
    )


class BetaBinomial(TorchDistribution):
    """The number of successes in ``total_count`` trials whose success probability
    is drawn once from ``Beta(concentration1, concentration0)``.

    :param concentration1: the Beta's first concentration (alpha), positive.
    :param concentration0: the Beta's second concentration (beta), positive.
    :param total_count: the number of trials, a non-negative integer.
    :param validate_args: torch's per-instance validation switch.

    >>> d = BetaBinomial(torch.tensor(1.0), torch.tensor(1.0), total_count=3)
    >>> d.log_prob(torch.arange(4.0)).exp()  # uniform over 0..3
    tensor([0.2500, 0.2500, 0.2500, 0.2500])
    """

    arg_constraints = {
        "concentration1": constraints.positive,
        "concentration0": constraints.positive,
        "total_count": constraints.nonnegative_integer,
    }
    has_enumerate_support = True
    #: Kept for Pyro's API; ``log_prob`` here is always exact.
    approx_log_prob_tol = 0.0

    def __init__(
        self,
        concentration1: torch.Tensor | float,
        concentration0: torch.Tensor | float,
        total_count: torch.Tensor | float = 1,
        validate_args: bool | None = None,
    ):
        concentration1, concentration0, total_count = broadcast_all(
            concentration1, concentration0, total_count
        )
        self._beta = Beta(concentration1, concentration0, validate_args=False)
        self.total_count = total_count.type_as(concentration1)
        super().__init__(self._beta.batch_shape, validate_args=validate_args)

    @property
    def concentration1(self) -> torch.Tensor:
        """The Beta's first concentration (alpha)."""
        return self._beta.concentration1

    @property
    def concentration0(self) -> torch.Tensor:
        """The Beta's second concentration (beta)."""
        return self._beta.concentration0

    @constraints.dependent_property(is_discrete=True, event_dim=0)
    def support(self) -> Any:
        """The integers ``0 .. total_count``."""
        return constraints.integer_interval(0, self.total_count)

    def expand(self, batch_shape: Shape, _instance: Any = None) -> Any:
        """Broadcast the parameters to ``batch_shape``.

        >>> BetaBinomial(2.0, 3.0, 4).expand((2,)).total_count
        tensor([4., 4.])
        """
        batch_shape = torch.Size(batch_shape)
        new = self._get_checked_instance(BetaBinomial, _instance)
        new._beta = self._beta.expand(batch_shape)
        new.total_count = self.total_count.expand(batch_shape)
        return finish_expand(self, new, batch_shape)

    def sample(self, sample_shape: Shape = ()) -> torch.Tensor:
        """Draw a success probability from the Beta, then a Binomial count.

        >>> BetaBinomial(2.0, 3.0, 4).sample((3,)).shape
        torch.Size([3])
        """
        with torch.no_grad():
            probs = self._beta.sample(torch.Size(sample_shape))
            return Binomial(self.total_count, probs, validate_args=False).sample()

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """The Beta-Binomial probability mass, in closed form.

        >>> BetaBinomial(2.0, 3.0, 4).log_prob(torch.tensor(1.0))
        tensor(-1.2528)
        """
        if self._validate_args:
            self._validate_sample(value)
        return beta_binomial_log_prob(
            self.concentration1, self.concentration0, self.total_count, value
        )

    @property
    def mean(self) -> torch.Tensor:
        """``total_count * alpha / (alpha + beta)``."""
        a, b = self.concentration1, self.concentration0
        return self.total_count * a / (a + b)

    @property
    def variance(self) -> torch.Tensor:
        """``n * alpha * beta * (alpha + beta + n) / ((alpha + beta)**2 * (alpha + beta + 1))``."""
        a, b, n = self.concentration1, self.concentration0, self.total_count
        total = a + b
        return n * a * b * (total + n) / (total.pow(2) * (total + 1))

    def enumerate_support(self, expand: bool = True) -> torch.Tensor:
        """Every count ``0 .. total_count``, in a new leftmost dim.

        :raises NotImplementedError: if ``total_count`` differs across the batch.

        >>> BetaBinomial(torch.ones(2), 1.0, 2).enumerate_support().shape
        torch.Size([3, 2])
        """
        total = self.total_count.unique()
        if total.numel() != 1:
            raise NotImplementedError(
                "Inhomogeneous total count not supported by `enumerate_support`."
            )
        values = torch.arange(
            1 + int(total.item()), dtype=self.concentration1.dtype, device=total.device
        )
        values = values.view((-1,) + (1,) * len(self.batch_shape))
        if expand:
            values = values.expand((-1,) + self.batch_shape)
        return values


class DirichletMultinomial(TorchDistribution):
    """Counts of ``total_count`` Categorical draws whose class probabilities are
    drawn once from ``Dirichlet(concentration)``.

    :param concentration: positive, the rightmost dim indexes the classes.
    :param total_count: the number of draws (broadcasts with the batch shape).
    :param is_sparse: compute ``log_prob`` only over the nonzero counts (the
        result is the same; faster for mostly-zero data).
    :param validate_args: torch's per-instance validation switch.

    >>> d = DirichletMultinomial(torch.ones(3), total_count=2)
    >>> d.event_shape, d.log_prob(torch.tensor([1.0, 1.0, 0.0])).exp()
    (torch.Size([3]), tensor(0.1667))
    """

    arg_constraints = {
        "concentration": constraints.independent(constraints.positive, 1),
        "total_count": constraints.nonnegative_integer,
    }

    def __init__(
        self,
        concentration: torch.Tensor,
        total_count: torch.Tensor | float = 1,
        is_sparse: bool = False,
        validate_args: bool | None = None,
    ):
        concentration = torch.as_tensor(concentration)
        total_count = torch.as_tensor(total_count, dtype=concentration.dtype)
        batch_shape = broadcast_shape(concentration.shape[:-1], total_count.shape)
        self._dirichlet = Dirichlet(
            concentration.expand(batch_shape + concentration.shape[-1:]), validate_args=False
        )
        self.total_count = total_count.expand(batch_shape)
        self.is_sparse = is_sparse
        super().__init__(batch_shape, concentration.shape[-1:], validate_args=validate_args)

    @property
    def concentration(self) -> torch.Tensor:
        """The Dirichlet's concentration."""
        return self._dirichlet.concentration

    @constraints.dependent_property(is_discrete=True, event_dim=1)
    def support(self) -> Any:
        """Non-negative count vectors summing to at most ``total_count``."""
        return constraints.multinomial(self.total_count)

    @staticmethod
    def infer_shapes(  # type: ignore[override]  # Pyro's subclasses name their args
        concentration: tuple[int, ...], total_count: tuple[int, ...] = ()
    ) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """``(batch_shape, event_shape)`` from the parameters' shapes.

        >>> DirichletMultinomial.infer_shapes((2, 3), (4, 1))
        ((4, 2), (3,))
        """
        batch_shape = tuple(broadcast_shape(concentration[:-1], total_count))
        return batch_shape, tuple(concentration[-1:])

    def expand(self, batch_shape: Shape, _instance: Any = None) -> Any:
        """Broadcast the parameters to ``batch_shape``.

        >>> DirichletMultinomial(torch.ones(3), 4).expand((2,)).concentration.shape
        torch.Size([2, 3])
        """
        batch_shape = torch.Size(batch_shape)
        new = self._get_checked_instance(DirichletMultinomial, _instance)
        new._dirichlet = self._dirichlet.expand(batch_shape)
        new.total_count = self.total_count.expand(batch_shape)
        new.is_sparse = self.is_sparse
        return finish_expand(self, new, batch_shape)

    def sample(self, sample_shape: Shape = ()) -> torch.Tensor:
        """Draw class probabilities from the Dirichlet, then the counts.

        The counts are drawn class by class as Binomials of the draws left, so
        ``total_count`` may differ across the batch.

        >>> DirichletMultinomial(torch.ones(3), 5).sample((2,)).sum(-1)
        tensor([5., 5.])
        """
        with torch.no_grad():
            probs = self._dirichlet.sample(torch.Size(sample_shape))
            left = self.total_count.expand(probs.shape[:-1]).clone()
            mass_left = torch.ones_like(left)
            counts = []
            for k in range(probs.size(-1) - 1):
                p = (probs[..., k] / mass_left).clamp(0.0, 1.0).nan_to_num(0.0)
                count = Binomial(left, p, validate_args=False).sample()
                counts.append(count)
                left = left - count
                mass_left = (mass_left - probs[..., k]).clamp(min=0.0)
            counts.append(left)
            return torch.stack(counts, -1)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """The Dirichlet-Multinomial probability mass; the number of draws is
        ``value.sum(-1)``.

        >>> DirichletMultinomial(2 * torch.ones(3), 4).log_prob(torch.tensor([0.0, 0.0, 4.0]))
        tensor(-3.2268)
        """
        if self._validate_args:
            self._validate_sample(value)
        alpha = self.concentration
        n = value.sum(-1)
        alpha_0 = alpha.sum(-1)
        per_class = torch.lgamma(value + alpha) - torch.lgamma(value + 1) - torch.lgamma(alpha)
        if self.is_sparse:
            # Classes with a zero count contribute exactly zero.
            per_class = torch.where(value > 0, per_class, per_class.new_zeros(()))
        return (
            torch.lgamma(n + 1)
            + torch.lgamma(alpha_0)
            - torch.lgamma(n + alpha_0)
            + (per_class.sum(-1))
        )

    @property
    def mean(self) -> torch.Tensor:
        """``total_count * concentration / concentration.sum(-1)``."""
        alpha = self.concentration
        return self.total_count.unsqueeze(-1) * alpha / alpha.sum(-1, keepdim=True)

    @property
    def variance(self) -> torch.Tensor:
        """Per class: ``n p (1 - p) (n + a0) / (1 + a0)`` with ``p = alpha / a0``."""
        alpha = self.concentration
        alpha_0 = alpha.sum(-1, keepdim=True)
        n = self.total_count.unsqueeze(-1)
        p = alpha / alpha_0
        return n * p * (1 - p) * (n + alpha_0) / (1 + alpha_0)


class GammaPoisson(TorchDistribution):
    """A Poisson count whose rate is drawn from ``Gamma(concentration, rate)``.

    The same law as ``NegativeBinomial(total_count=concentration,
    probs=1 / (1 + rate))``.

    :param concentration: the Gamma's shape (alpha), positive.
    :param rate: the Gamma's rate (beta), positive.
    :param validate_args: torch's per-instance validation switch.

    >>> d = GammaPoisson(torch.tensor(2.0), torch.tensor(1.0))
    >>> d.mean, d.variance
    (tensor(2.), tensor(4.))
    """

    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}
    support = constraints.nonnegative_integer

    def __init__(
        self,
        concentration: torch.Tensor | float,
        rate: torch.Tensor | float,
        validate_args: bool | None = None,
    ):
        concentration, rate = broadcast_all(concentration, rate)
        self._gamma = Gamma(concentration, rate, validate_args=False)
        super().__init__(self._gamma.batch_shape, validate_args=validate_args)

    @property
    def concentration(self) -> torch.Tensor:
        """The Gamma's shape."""
        return self._gamma.concentration

    @property
    def rate(self) -> torch.Tensor:
        """The Gamma's rate."""
        return self._gamma.rate

    def expand(self, batch_shape: Shape, _instance: Any = None) -> Any:
        """Broadcast the parameters to ``batch_shape``.

        >>> GammaPoisson(2.0, 1.0).expand((3,)).rate
        tensor([1., 1., 1.])
        """
        batch_shape = torch.Size(batch_shape)
        new = self._get_checked_instance(GammaPoisson, _instance)
        new._gamma = self._gamma.expand(batch_shape)
        return finish_expand(self, new, batch_shape)

    def sample(self, sample_shape: Shape = ()) -> torch.Tensor:
        """Draw a rate from the Gamma, then a Poisson count.

        >>> GammaPoisson(2.0, 1.0).sample((4,)).shape
        torch.Size([4])
        """
        with torch.no_grad():
            rate = self._gamma.sample(torch.Size(sample_shape))
            return Poisson(rate, validate_args=False).sample()

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """The negative-binomial probability mass, in closed form.

        >>> GammaPoisson(2.0, 1.0).log_prob(torch.tensor(0.0))
        tensor(-1.3863)
        """
        if self._validate_args:
            self._validate_sample(value)
        alpha, beta = self.concentration, self.rate
        return (
            torch.lgamma(value + alpha)
            - torch.lgamma(alpha)
            - torch.lgamma(value + 1)
            + alpha * torch.log(beta)
            - (alpha + value) * torch.log1p(beta)
        )

    @property
    def mean(self) -> torch.Tensor:
        """``concentration / rate``."""
        return self.concentration / self.rate

    @property
    def variance(self) -> torch.Tensor:
        """``concentration / rate**2 * (1 + rate)``."""
        return self.concentration / self.rate.pow(2) * (1 + self.rate)
