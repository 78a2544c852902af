"""The logistic distribution and its skewed generalization.

Both have exponential tails and a concave, infinitely differentiable
log-density; samples are reparameterized through the inverse CDF.

>>> import torch
>>> Logistic(torch.tensor(0.0), torch.tensor(1.0)).cdf(torch.tensor(0.0))
tensor(0.5000)
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch.distributions import constraints
from torch.distributions.utils import broadcast_all

from tracegraph.distributions.expansion import finish_expand
from tracegraph.distributions.sampling import open_uniform
from tracegraph.distributions.torch_distribution import Shape, TorchDistribution

__all__ = ["Logistic", "SkewLogistic"]

Number = torch.Tensor | float


class Logistic(TorchDistribution):
    """The logistic distribution: density ``exp(-z) / (s (1 + exp(-z))**2)``,
    ``z = (x - loc) / s``.

    :param loc: the location (mean, median and mode).
    :param scale: the scale ``s``, positive.
    :param validate_args: torch's per-instance validation switch.

    >>> d = Logistic(torch.tensor(0.5), torch.tensor(2.0))
    >>> d.log_prob(torch.tensor(0.5)), d.entropy()
    (tensor(-2.0794), tensor(2.6931))
    """

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real

    def __init__(self, loc: Number, scale: Number, *, validate_args: bool | None = None):
        self.loc, self.scale = broadcast_all(loc, scale)
        super().__init__(self.loc.shape, validate_args=validate_args)

    def _native_has_rsample(self) -> bool:
        return True

    def expand(self, batch_shape: Shape, _instance: Any = None) -> Any:
        """Broadcast the parameters to ``batch_shape``.

        >>> Logistic(0.0, 1.0).expand((2,)).loc
        tensor([0., 0.])
        """
        batch_shape = torch.Size(batch_shape)
        new = self._get_checked_instance(Logistic, _instance)
        new.loc = self.loc.expand(batch_shape)
        new.scale = self.scale.expand(batch_shape)
        return finish_expand(self, new, batch_shape)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """``-z - 2 softplus(-z) - log(scale)``.

        >>> Logistic(0.0, 1.0).log_prob(torch.tensor(0.0))
        tensor(-1.3863)
        """
        if self._validate_args:
            self._validate_sample(value)
        z = (value - self.loc) / self.scale
        return -z - 2 * F.softplus(-z) - self.scale.log()

    def cdf(self, value: torch.Tensor) -> torch.Tensor:
        """``sigmoid(z)``."""
        if self._validate_args:
            self._validate_sample(value)
        return torch.sigmoid((value - self.loc) / self.scale)

    def icdf(self, value: torch.Tensor) -> torch.Tensor:
        """``loc + scale * logit(value)``.

        >>> Logistic(0.0, 1.0).icdf(torch.tensor(0.5))
        tensor(0.)
        """
        return self.loc + self.scale * (value.log() - torch.log1p(-value))

    def rsample(self, sample_shape: Shape = torch.Size()) -> torch.Tensor:
        """Inverse-CDF draws; differentiable in ``loc`` and ``scale``.

        >>> Logistic(0.0, 1.0).rsample((3,)).shape
        torch.Size([3])
        """
        return self.icdf(open_uniform(self.shape(sample_shape), self.loc))

    def entropy(self) -> torch.Tensor:
        """``log(scale) + 2``."""
        return self.scale.log() + 2

    @property
    def mean(self) -> torch.Tensor:
        """``loc``."""
        return self.loc

    @property
    def variance(self) -> torch.Tensor:
        """``scale**2 * pi**2 / 3``."""
        return self.scale.pow(2) * (math.pi**2 / 3)


class SkewLogistic(TorchDistribution):
    """The type I generalized logistic distribution: for ``loc=0, scale=1``,
    density ``a exp(-x) / (1 + exp(-x))**(a + 1)``.

    It skews right for ``asymmetry > 1``, left for ``asymmetry < 1``; with
    ``asymmetry = 1`` it is :class:`Logistic`.

    :param loc: the location.
    :param scale: the scale, positive.
    :param asymmetry: the shape ``a``, positive.
    :param validate_args: torch's per-instance validation switch.

    >>> d = SkewLogistic(torch.tensor(0.0), torch.tensor(1.0), torch.tensor(2.0))
    >>> d.cdf(torch.tensor(0.0))
    tensor(0.2500)
    """

    arg_constraints = {
        "loc": constraints.real,
        "scale": constraints.positive,
        "asymmetry": constraints.positive,
    }
    support = constraints.real

    def __init__(
        self,
        loc: Number,
        scale: Number,
        asymmetry: Number = 1.0,
        *,
        validate_args: bool | None = None,
    ):
        self.loc, self.scale, self.asymmetry = broadcast_all(loc, scale, asymmetry)
        super().__init__(self.loc.shape, validate_args=validate_args)

    def _native_has_rsample(self) -> bool:
        return True

    def expand(self, batch_shape: Shape, _instance: Any = None) -> Any:
        """Broadcast the parameters to ``batch_shape``.

        >>> SkewLogistic(0.0, 1.0, 2.0).expand((2,)).asymmetry
        tensor([2., 2.])
        """
        batch_shape = torch.Size(batch_shape)
        new = self._get_checked_instance(SkewLogistic, _instance)
        new.loc = self.loc.expand(batch_shape)
        new.scale = self.scale.expand(batch_shape)
        new.asymmetry = self.asymmetry.expand(batch_shape)
        return finish_expand(self, new, batch_shape)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """``log(a) - z - (a + 1) softplus(-z) - log(scale)``.

        >>> SkewLogistic(0.0, 1.0, 1.0).log_prob(torch.tensor(0.0))
        tensor(-1.3863)
        """
        if self._validate_args:
            self._validate_sample(value)
        a = self.asymmetry
        z = (value - self.loc) / self.scale
        return a.log() - z - (a + 1) * F.softplus(-z) - self.scale.log()

    def cdf(self, value: torch.Tensor) -> torch.Tensor:
        """``(1 + exp(-z))**(-a)``."""
        if self._validate_args:
            self._validate_sample(value)
        z = (value - self.loc) / self.scale
        return torch.exp(-self.asymmetry * F.softplus(-z))

    def icdf(self, value: torch.Tensor) -> torch.Tensor:
        """``loc - scale * log(value**(-1/a) - 1)``.

        >>> SkewLogistic(0.0, 1.0, 2.0).icdf(torch.tensor(0.25))
        tensor(0.)
        """
        z = -torch.log(torch.expm1(-value.log() / self.asymmetry))
        return self.loc + self.scale * z

    def rsample(self, sample_shape: Shape = torch.Size()) -> torch.Tensor:
        """Inverse-CDF draws; differentiable in every parameter.

        >>> SkewLogistic(0.0, 1.0, 2.0).rsample((3,)).shape
        torch.Size([3])
        """
        return self.icdf(open_uniform(self.shape(sample_shape), self.loc))
