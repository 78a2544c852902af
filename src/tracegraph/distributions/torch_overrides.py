"""Torch distributions whose Pyro versions add to or change torch's behaviour.

:mod:`tracegraph.distributions.torch` generates most wrapped classes; the ones
here are written by hand because Pyro 1.9.2 gives them more:

* ``Beta``, ``Gamma``, ``Dirichlet``: :meth:`conjugate_update` (closed forms, in
  :mod:`~tracegraph.distributions.conjugates`);
* ``Binomial``: ``approx_log_prob_tol`` (a Stirling log binomial coefficient)
  and ``approx_sample_thresh`` (approximate draws for large counts);
* ``Geometric``: ``log_prob`` computed from ``logits`` (finite where torch's
  gives ``-inf`` for probabilities rounded to 0 or 1);
* ``Poisson``: ``is_sparse`` (score only the nonzero counts);
* ``LogNormal``: its base ``Normal`` is tracegraph's;
* ``Uniform``: ``support`` keeps the unbroadcast bounds;
* ``infer_shapes`` rules of the multivariate classes.

Maths that replaces torch's lives in a class between torch's class and the
mixin, so that the mixin's provenance fast path still wraps it; API methods
(``infer_shapes``, ``conjugate_update``) live on the class itself.

>>> import torch
>>> Geometric(torch.tensor(1.0), validate_args=False).log_prob(torch.tensor(2.0)) > -100
tensor(True)
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch.distributions import constraints
from torch.distributions.utils import broadcast_all

from tracegraph.distributions.conjugates import Beta, Dirichlet, Gamma
from tracegraph.distributions.mixin import Shape, TorchDistributionMixin
from tracegraph.distributions.shape_inference import (
    low_rank_mvn_shapes,
    multinomial_shapes,
    mvn_shapes,
    one_hot_categorical_shapes,
)
from tracegraph.distributions.shapes import broadcast_shape
from tracegraph.distributions.special import log_binomial
from tracegraph.distributions.wrapping import wrapped_class

__all__ = [
    "Beta",
    "Binomial",
    "Dirichlet",
    "Gamma",
    "Geometric",
    "LogNormal",
    "LowRankMultivariateNormal",
    "Multinomial",
    "MultivariateNormal",
    "OneHotCategorical",
    "Poisson",
    "Uniform",
]

# The classes are importable from tracegraph.distributions.torch with the
# generated ones, and pickle by that path.
_MODULE = "tracegraph.distributions.torch"


class _BinomialMaths(torch.distributions.Binomial):
    approx_sample_thresh: float
    approx_log_prob_tol: float

    def sample(self, sample_shape: Shape = torch.Size()) -> torch.Tensor:
        exact = super().sample(sample_shape)
        if not self.total_count.gt(self.approx_sample_thresh).any():
            return exact
        # Large counts: a moment-matched normal draw, rounded and clamped to the
        # support (a cheap approximation where exact sampling is slow).
        shape = self._extended_shape(sample_shape)
        with torch.no_grad():
            n = self.total_count.expand(shape)
            p = self.probs.expand(shape)
            mean, std = n * p, (n * p * (1 - p)).sqrt()
            approx = (mean + std * torch.randn(shape, dtype=p.dtype, device=p.device)).round()
            approx = torch.minimum(approx.clamp(min=0), n)
            return torch.where(n > self.approx_sample_thresh, approx, exact)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        n = self.total_count
        logits = self.logits
        log_factor = log_binomial(n, value, self.approx_log_prob_tol)
        # log(1 + exp(l)) written stably; the same arithmetic as Pyro's.
        log_one_plus_exp = logits.clamp(min=0) + torch.log1p(torch.exp(-logits.abs()))
        return log_factor + (value * logits - n * log_one_plus_exp)


class Binomial(TorchDistributionMixin, _BinomialMaths):
    """``torch.distributions.Binomial`` with the mixin and Pyro's approximations.

    ``approx_log_prob_tol`` (default 0: exact) bounds the absolute error of an
    approximate log binomial coefficient (:func:`~tracegraph.distributions.special.log_binomial`);
    ``approx_sample_thresh`` (default infinity: exact) is the ``total_count``
    above which draws come from a rounded, clamped normal approximation.  Set
    either on the class or on an instance.

    >>> exact, approx = Binomial(10, torch.tensor(0.5)), Binomial(10, torch.tensor(0.5))
    >>> approx.approx_log_prob_tol = 0.1
    >>> x = torch.tensor(3.0)
    >>> (approx.log_prob(x) - exact.log_prob(x)).abs() < 0.1
    tensor(True)
    """

    __module__ = _MODULE
    approx_sample_thresh = math.inf
    approx_log_prob_tol = 0.0


class _GeometricMaths(torch.distributions.Geometric):
    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        value, logits = broadcast_all(value, self.logits)
        # log p(k) = k log(1 - p) + log p, from logits without rounding p first.
        return (-value - 1) * F.softplus(logits) + logits


class Geometric(TorchDistributionMixin, _GeometricMaths):
    """``torch.distributions.Geometric`` with the mixin; ``log_prob`` from ``logits``.

    >>> Geometric(torch.tensor(0.3)).log_prob(torch.tensor(0.0))
    tensor(-1.2040)
    """

    __module__ = _MODULE


class _PoissonMaths(torch.distributions.Poisson):
    def __init__(
        self,
        rate: torch.Tensor | float,
        *,
        is_sparse: bool = False,
        validate_args: bool | None = None,
    ) -> None:
        self.is_sparse = is_sparse
        super().__init__(rate, validate_args=validate_args)

    def expand(self, batch_shape: Shape, _instance: Any = None) -> Any:
        new = self._get_checked_instance(_PoissonMaths, _instance)
        new = super().expand(batch_shape, _instance=new)
        new.is_sparse = self.is_sparse
        return new

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if not self.is_sparse:
            return super().log_prob(value)
        if self._validate_args:
            self._validate_sample(value)
        rate, value = broadcast_all(self.rate, value)
        out = -rate.clone()
        nonzero = value > 0
        v, r = value[nonzero], rate[nonzero]
        out[nonzero] = v * r.log() - r - torch.lgamma(v + 1)
        return out


class Poisson(TorchDistributionMixin, _PoissonMaths):
    """``torch.distributions.Poisson`` with the mixin and ``is_sparse``.

    With ``is_sparse=True``, ``log_prob`` computes the density only at nonzero
    counts (zeros score ``-rate``), which is faster for mostly-zero data.

    >>> Poisson(torch.tensor([1.0, 2.0]), is_sparse=True).log_prob(torch.tensor([0.0, 2.0]))
    tensor([-1.0000, -1.3069])
    """

    __module__ = _MODULE


class _LogNormalMaths(torch.distributions.LogNormal):
    def __init__(
        self,
        loc: torch.Tensor | float,
        scale: torch.Tensor | float,
        validate_args: bool | None = None,
    ) -> None:
        base = wrapped_class(torch.distributions.Normal)(loc, scale, validate_args=validate_args)
        torch.distributions.TransformedDistribution.__init__(
            self, base, torch.distributions.transforms.ExpTransform(), validate_args=validate_args
        )

    def expand(self, batch_shape: Shape, _instance: Any = None) -> Any:
        new = self._get_checked_instance(_LogNormalMaths, _instance)
        return torch.distributions.TransformedDistribution.expand(self, batch_shape, _instance=new)


class LogNormal(TorchDistributionMixin, _LogNormalMaths):
    """``torch.distributions.LogNormal`` with the mixin; its ``base_dist`` is
    tracegraph's ``Normal``.

    >>> type(LogNormal(0.0, 1.0).base_dist).__module__
    'tracegraph.distributions.torch'
    """

    __module__ = _MODULE


class _UniformMaths(torch.distributions.Uniform):
    def __init__(
        self,
        low: torch.Tensor | float,
        high: torch.Tensor | float,
        validate_args: bool | None = None,
    ) -> None:
        self._unbroadcasted_low = torch.as_tensor(low) if isinstance(low, torch.Tensor) else low
        self._unbroadcasted_high = torch.as_tensor(high) if isinstance(high, torch.Tensor) else high
        super().__init__(low, high, validate_args=validate_args)

    def expand(self, batch_shape: Shape, _instance: Any = None) -> Any:
        new = self._get_checked_instance(_UniformMaths, _instance)
        new = super().expand(batch_shape, _instance=new)
        new._unbroadcasted_low = self._unbroadcasted_low
        new._unbroadcasted_high = self._unbroadcasted_high
        return new

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self) -> constraints.Constraint:
        return constraints.interval(self._unbroadcasted_low, self._unbroadcasted_high)


class Uniform(TorchDistributionMixin, _UniformMaths):
    """``torch.distributions.Uniform`` with the mixin; ``support`` keeps the bounds
    as given (unbroadcast), so an expanded Uniform's support stays small.

    >>> Uniform(torch.zeros(2), 1.0).expand((3, 2)).support.lower_bound.shape
    torch.Size([2])
    """

    __module__ = _MODULE

    @staticmethod
    def infer_shapes(low: Shape, high: Shape) -> tuple[torch.Size, torch.Size]:  # type: ignore[override]
        """``low`` and ``high`` broadcast to the batch shape.

        >>> Uniform.infer_shapes(low=(2, 1), high=(3,))
        (torch.Size([2, 3]), torch.Size([]))
        """
        return torch.Size(broadcast_shape(low, high)), torch.Size()


class MultivariateNormal(TorchDistributionMixin, torch.distributions.MultivariateNormal):
    """``torch.distributions.MultivariateNormal`` with the mixin and :meth:`infer_shapes`.

    >>> MultivariateNormal(torch.zeros(3), torch.eye(3)).event_shape
    torch.Size([3])
    """

    __module__ = _MODULE

    @staticmethod
    def infer_shapes(  # type: ignore[override]
        loc: Shape,
        covariance_matrix: Shape | None = None,
        precision_matrix: Shape | None = None,
        scale_tril: Shape | None = None,
    ) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """``loc``'s last dim and the matrix's last two are the event.

        >>> MultivariateNormal.infer_shapes(loc=(2, 3), covariance_matrix=(3, 3))
        ((2,), (3,))
        """
        return mvn_shapes(loc, covariance_matrix, precision_matrix, scale_tril)


class LowRankMultivariateNormal(
    TorchDistributionMixin, torch.distributions.LowRankMultivariateNormal
):
    """``torch.distributions.LowRankMultivariateNormal`` with the mixin and
    :meth:`infer_shapes`.

    >>> LowRankMultivariateNormal(torch.zeros(3), torch.ones(3, 1), torch.ones(3)).event_shape
    torch.Size([3])
    """

    __module__ = _MODULE

    @staticmethod
    def infer_shapes(  # type: ignore[override]
        loc: Shape, cov_factor: Shape, cov_diag: Shape
    ) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """``loc``'s last dim is the event.

        >>> LowRankMultivariateNormal.infer_shapes(loc=(3,), cov_factor=(2, 3, 2), cov_diag=(3,))
        ((2,), (3,))
        """
        return low_rank_mvn_shapes(loc, cov_factor, cov_diag)


class Multinomial(TorchDistributionMixin, torch.distributions.Multinomial):
    """``torch.distributions.Multinomial`` with the mixin and :meth:`infer_shapes`.

    >>> Multinomial(5, torch.tensor([0.2, 0.8])).sample().sum()
    tensor(5.)
    """

    __module__ = _MODULE

    @staticmethod
    def infer_shapes(  # type: ignore[override]
        total_count: Shape | None = None,
        probs: Shape | None = None,
        logits: Shape | None = None,
    ) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The last dim of ``probs``/``logits`` is the event.

        >>> Multinomial.infer_shapes(total_count=(), probs=(2, 3))
        ((2,), (3,))
        """
        return multinomial_shapes(total_count, probs, logits)


class OneHotCategorical(TorchDistributionMixin, torch.distributions.OneHotCategorical):
    """``torch.distributions.OneHotCategorical`` with the mixin and :meth:`infer_shapes`.

    >>> OneHotCategorical(torch.tensor([0.0, 1.0])).sample()
    tensor([0., 1.])
    """

    __module__ = _MODULE

    @staticmethod
    def infer_shapes(  # type: ignore[override]
        probs: Shape | None = None, logits: Shape | None = None
    ) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The last dim of ``probs``/``logits`` is the event.

        >>> OneHotCategorical.infer_shapes(logits=(2, 3))
        ((2,), (3,))
        """
        return one_hot_categorical_shapes(probs, logits)
