"""Laplace-like distributions: asymmetric, smoothed, or both.

:class:`AsymmetricLaplace` has different exponential scales left and right of
its mode; :class:`SoftAsymmetricLaplace` is that plus Gaussian noise (an
infinitely differentiable density); :class:`SoftLaplace` has Laplace-like tails
and a smooth, log-concave density ``1 / (pi s cosh(z))``.  All sample by
reparameterization.

>>> import torch
>>> AsymmetricLaplace(torch.tensor(0.0), torch.tensor(1.0), torch.tensor(2.0)).mean
tensor(-1.5000)
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.distributions import constraints
from torch.distributions.utils import broadcast_all, lazy_property

from tracegraph.distributions.expansion import finish_expand
from tracegraph.distributions.sampling import open_uniform, standard_exponential
from tracegraph.distributions.torch_distribution import Shape, TorchDistribution

__all__ = ["AsymmetricLaplace", "SoftAsymmetricLaplace", "SoftLaplace"]

Number = torch.Tensor | float


class AsymmetricLaplace(TorchDistribution):
    """A Laplace distribution with scale ``scale * asymmetry`` left of ``loc`` and
    ``scale / asymmetry`` right of it; the density is continuous at ``loc``.

    A draw is ``loc + right_scale * E1 - left_scale * E2`` with independent
    standard exponentials ``E1, E2``.

    :param loc: the mode.
    :param scale: the geometric mean of the left and right scales, positive.
    :param asymmetry: the square root of their ratio (left / right), positive.
    :param validate_args: torch's per-instance validation switch.

    >>> d = AsymmetricLaplace(torch.tensor(0.0), torch.tensor(1.0), torch.tensor(1.0))
    >>> d.log_prob(torch.tensor(0.0)), d.variance
    (tensor(-0.6931), tensor(2.))
    """

    arg_constraints = {
        "loc": constraints.real,
        "scale": constraints.positive,
        "asymmetry": constraints.positive,
    }
    support = constraints.real

    def __init__(
        self, loc: Number, scale: Number, asymmetry: Number, *, validate_args: bool | None = None
    ):
        self.loc, self.scale, self.asymmetry = broadcast_all(loc, scale, asymmetry)
        super().__init__(self.loc.shape, validate_args=validate_args)

    def _native_has_rsample(self) -> bool:
        return True

    @lazy_property
    def left_scale(self) -> torch.Tensor:
        """``scale * asymmetry``."""
        return self.scale * self.asymmetry

    @lazy_property
    def right_scale(self) -> torch.Tensor:
        """``scale / asymmetry``."""
        return self.scale / self.asymmetry

    def expand(self, batch_shape: Shape, _instance: Any = None) -> Any:
        """Broadcast the parameters to ``batch_shape``.

        >>> AsymmetricLaplace(0.0, 1.0, 2.0).expand((2,)).right_scale
        tensor([0.5000, 0.5000])
        """
        batch_shape = torch.Size(batch_shape)
        new = self._get_checked_instance(AsymmetricLaplace, _instance)
        new.loc = self.loc.expand(batch_shape)
        new.scale = self.scale.expand(batch_shape)
        new.asymmetry = self.asymmetry.expand(batch_shape)
        return finish_expand(self, new, batch_shape)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """``z / left_scale`` left of ``loc``, ``-z / right_scale`` right of it,
        minus ``log(left_scale + right_scale)``.

        >>> AsymmetricLaplace(0.0, 1.0, 2.0).log_prob(torch.tensor([-2.0, 1.0]))
        tensor([-1.9163, -2.9163])
        """
        if self._validate_args:
            self._validate_sample(value)
        z = value - self.loc
        left, right = self.left_scale, self.right_scale
        exponent = torch.where(z < 0, z / left, -z / right)
        return exponent - torch.log(left + right)

    def rsample(self, sample_shape: Shape = torch.Size()) -> torch.Tensor:
        """``loc + right_scale * E1 - left_scale * E2``.

        >>> AsymmetricLaplace(0.0, 1.0, 2.0).rsample((3,)).shape
        torch.Size([3])
        """
        shape = self.shape(sample_shape)
        right = standard_exponential(shape, self.loc)
        left = standard_exponential(shape, self.loc)
        return self.loc + self.right_scale * right - self.left_scale * left

    @property
    def mean(self) -> torch.Tensor:
        """``loc + right_scale - left_scale``."""
        return self.loc + self.right_scale - self.left_scale

    @property
    def variance(self) -> torch.Tensor:
        """``left_scale**2 + right_scale**2``."""
        return self.left_scale.pow(2) + self.right_scale.pow(2)


class SoftAsymmetricLaplace(TorchDistribution):
    """An :class:`AsymmetricLaplace` plus ``Normal(0, scale * softness)`` noise.

    The density is the convolution, in closed form with Gaussian CDFs; as
    ``softness -> 0`` it tends to the :class:`AsymmetricLaplace`.

    :param loc: the location (the mode of the unsmoothed part).
    :param scale: the geometric mean of the left and right scales, positive.
    :param asymmetry: the square root of their ratio (left / right), positive.
    :param softness: the Gaussian's scale relative to ``scale``, positive.
    :param validate_args: torch's per-instance validation switch.

    >>> d = SoftAsymmetricLaplace(torch.tensor(0.0), torch.tensor(1.0))
    >>> d.soft_scale, d.variance
    (tensor(1.), tensor(3.))
    """

    arg_constraints = {
        "loc": constraints.real,
        "scale": constraints.positive,
        "asymmetry": constraints.positive,
        "softness": constraints.positive,
    }
    support = constraints.real

    def __init__(
        self,
        loc: Number,
        scale: Number,
        asymmetry: Number = 1.0,
        softness: Number = 1.0,
        *,
        validate_args: bool | None = None,
    ):
        self.loc, self.scale, self.asymmetry, self.softness = broadcast_all(
            loc, scale, asymmetry, softness
        )
        super().__init__(self.loc.shape, validate_args=validate_args)

    def _native_has_rsample(self) -> bool:
        return True

    @lazy_property
    def left_scale(self) -> torch.Tensor:
        """``scale * asymmetry``."""
        return self.scale * self.asymmetry

    @lazy_property
    def right_scale(self) -> torch.Tensor:
        """``scale / asymmetry``."""
        return self.scale / self.asymmetry

    @lazy_property
    def soft_scale(self) -> torch.Tensor:
        """``scale * softness``, the Gaussian's standard deviation."""
        return self.scale * self.softness

    def expand(self, batch_shape: Shape, _instance: Any = None) -> Any:
        """Broadcast the parameters to ``batch_shape``.

        >>> SoftAsymmetricLaplace(0.0, 1.0).expand((2,)).softness
        tensor([1., 1.])
        """
        batch_shape = torch.Size(batch_shape)
        new = self._get_checked_instance(SoftAsymmetricLaplace, _instance)
        new.loc = self.loc.expand(batch_shape)
        new.scale = self.scale.expand(batch_shape)
        new.asymmetry = self.asymmetry.expand(batch_shape)
        new.softness = self.softness.expand(batch_shape)
        return finish_expand(self, new, batch_shape)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """The log of the convolution density.

        With ``x = value - loc``, left/right scales ``L, R`` and Gaussian scale
        ``S``, the density is ``[exp(-x/R + S**2/(2R**2)) Phi(x/S - S/R) +
        exp(x/L + S**2/(2L**2)) Phi(-x/S - S/L)] / (L + R)``.

        >>> SoftAsymmetricLaplace(0.0, 1.0, 1.0, 1e-3).log_prob(torch.tensor(1.0))
        tensor(-1.6931)
        """
        if self._validate_args:
            self._validate_sample(value)
        x = value - self.loc
        left, right, soft = self.left_scale, self.right_scale, self.soft_scale
        right_part = (
            -x / right
            + 0.5 * (soft / right).pow(2)
            + torch.special.log_ndtr(x / soft - soft / right)
        )
        left_part = (
            x / left + 0.5 * (soft / left).pow(2) + torch.special.log_ndtr(-x / soft - soft / left)
        )
        return torch.logaddexp(right_part, left_part) - torch.log(left + right)

    def rsample(self, sample_shape: Shape = torch.Size()) -> torch.Tensor:
        """``loc + soft_scale * N + right_scale * E1 - left_scale * E2``.

        >>> SoftAsymmetricLaplace(0.0, 1.0).rsample((3,)).shape
        torch.Size([3])
        """
        shape = self.shape(sample_shape)
        noise = torch.randn(shape, dtype=self.loc.dtype, device=self.loc.device)
        right = standard_exponential(shape, self.loc)
        left = standard_exponential(shape, self.loc)
        return (
            self.loc + self.soft_scale * noise + self.right_scale * right - self.left_scale * left
        )

    @property
    def mean(self) -> torch.Tensor:
        """``loc + right_scale - left_scale``."""
        return self.loc + self.right_scale - self.left_scale

    @property
    def variance(self) -> torch.Tensor:
        """``left_scale**2 + right_scale**2 + soft_scale**2``."""
        return self.left_scale.pow(2) + self.right_scale.pow(2) + self.soft_scale.pow(2)


class SoftLaplace(TorchDistribution):
    """A smooth, log-concave density with Laplace-like tails:
    ``log p = log(2 / pi) - log(scale) - logaddexp(z, -z)``.

    :param loc: the location (mean, median and mode).
    :param scale: the scale, positive.
    :param validate_args: torch's per-instance validation switch.

    >>> d = SoftLaplace(torch.tensor(0.0), torch.tensor(1.0))
    >>> d.cdf(torch.tensor(0.0)), d.icdf(torch.tensor(0.5))
    (tensor(0.5000), tensor(0.))
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

        >>> SoftLaplace(0.0, 1.0).expand((2,)).scale
        tensor([1., 1.])
        """
        batch_shape = torch.Size(batch_shape)
        new = self._get_checked_instance(SoftLaplace, _instance)
        new.loc = self.loc.expand(batch_shape)
        new.scale = self.scale.expand(batch_shape)
        return finish_expand(self, new, batch_shape)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """``log(2 / pi) - log(scale) - logaddexp(z, -z)``.

        >>> SoftLaplace(0.0, 1.0).log_prob(torch.tensor(0.0))
        tensor(-1.1447)
        """
        if self._validate_args:
            self._validate_sample(value)
        z = (value - self.loc) / self.scale
        return math.log(2 / math.pi) - self.scale.log() - torch.logaddexp(z, -z)

    def cdf(self, value: torch.Tensor) -> torch.Tensor:
        """``(2 / pi) atan(exp(z))``."""
        if self._validate_args:
            self._validate_sample(value)
        z = (value - self.loc) / self.scale
        return torch.atan(z.exp()) * (2 / math.pi)

    def icdf(self, value: torch.Tensor) -> torch.Tensor:
        """``loc + scale * log(tan(pi * value / 2))``."""
        return self.loc + self.scale * torch.tan(value * (math.pi / 2)).log()

    def rsample(self, sample_shape: Shape = torch.Size()) -> torch.Tensor:
        """Inverse-CDF draws; differentiable in ``loc`` and ``scale``.

        >>> SoftLaplace(0.0, 1.0).rsample((3,)).shape
        torch.Size([3])
        """
        return self.icdf(open_uniform(self.shape(sample_shape), self.loc))

    @property
    def mean(self) -> torch.Tensor:
        """``loc``."""
        return self.loc

    @property
    def variance(self) -> torch.Tensor:
        """``(pi * scale / 2)**2``."""
        return (self.scale * (math.pi / 2)).pow(2)
