"""Arithmetic on random variables: ``Distribution.rv``.

``d.rv`` wraps a distribution as a :class:`RandomVariable`; arithmetic and
elementwise functions of it build ``TransformedDistribution`` objects, one
transform per operation, and ``.dist`` gives the distribution back (Pyro's
experimental ``pyro.contrib.randomvariable`` DSL).

>>> import torch
>>> import tracegraph.distributions as dist
>>> y = (2 * dist.Uniform(0.0, 1.0).rv + 1).dist
>>> y.log_prob(torch.tensor(2.0))
tensor(-0.6931)
"""

from __future__ import annotations

from typing import Any

import torch
from torch.distributions.transforms import (
    AbsTransform,
    AffineTransform,
    ExpTransform,
    PowerTransform,
    SigmoidTransform,
    SoftmaxTransform,
    TanhTransform,
    Transform,
)

from tracegraph.distributions import distribution as _distribution
from tracegraph.distributions.torch import TransformedDistribution

__all__ = ["RandomVariable"]


class RandomVariable:
    """A distribution seen as the random variable it describes.

    Non-invertible operations (``abs``, even powers) give distributions whose
    ``log_prob`` is not meaningful everywhere, as in Pyro.

    :param distribution: the distribution to wrap.

    >>> import tracegraph.distributions as dist
    >>> x = dist.Uniform(0.0, 1.0).rv
    >>> type(x.log().neg().dist).__name__
    'TransformedDistribution'
    """

    def __init__(self, distribution: Any) -> None:
        self.distribution = distribution

    @property
    def dist(self) -> Any:
        """The distribution of this random variable.

        >>> import tracegraph.distributions as dist
        >>> type(dist.Normal(0.0, 1.0).rv.dist).__name__
        'Normal'
        """
        return self.distribution

    def transform(self, t: Transform | list[Transform]) -> RandomVariable:
        """The random variable ``t(X)``.

        :param t: a transform, or a list of them (applied in order).
        :returns: a new random variable.

        >>> import tracegraph.distributions as dist
        >>> y = dist.Normal(0.0, 1.0).rv.transform(torch.distributions.transforms.ExpTransform())
        >>> round(y.dist.log_prob(torch.tensor(1.0)).item(), 4)
        -0.9189
        """
        return RandomVariable(TransformedDistribution(self.distribution, t))

    # -- chained operations --------------------------------------------------------

    def add(self, x: float | torch.Tensor) -> RandomVariable:
        """``X + x``."""
        return self.transform(AffineTransform(loc=x, scale=1))

    def sub(self, x: float | torch.Tensor) -> RandomVariable:
        """``X - x``."""
        return self.transform(AffineTransform(loc=-x, scale=1))

    def mul(self, x: float | torch.Tensor) -> RandomVariable:
        """``X * x``."""
        return self.transform(AffineTransform(loc=0, scale=x))

    def div(self, x: float | torch.Tensor) -> RandomVariable:
        """``X / x``."""
        return self.transform(AffineTransform(loc=0, scale=1 / x))

    def pow(self, x: float | torch.Tensor) -> RandomVariable:
        """``X ** x``."""
        return self.transform(PowerTransform(torch.as_tensor(x)))

    def neg(self) -> RandomVariable:
        """``-X``."""
        return self.transform(AffineTransform(loc=0, scale=-1))

    def abs(self) -> RandomVariable:
        """``|X|``."""
        return self.transform(AbsTransform())

    def exp(self) -> RandomVariable:
        """``exp(X)``."""
        return self.transform(ExpTransform())

    def log(self) -> RandomVariable:
        """``log(X)``."""
        return self.transform(ExpTransform().inv)

    def sigmoid(self) -> RandomVariable:
        """``sigmoid(X)``."""
        return self.transform(SigmoidTransform())

    def tanh(self) -> RandomVariable:
        """``tanh(X)``."""
        return self.transform(TanhTransform())

    def softmax(self) -> RandomVariable:
        """``softmax(X)`` over the last dim."""
        return self.transform(SoftmaxTransform())

    # -- operators -----------------------------------------------------------------

    def __add__(self, x: float | torch.Tensor) -> RandomVariable:
        return self.add(x)

    def __radd__(self, x: float | torch.Tensor) -> RandomVariable:
        return self.add(x)

    def __sub__(self, x: float | torch.Tensor) -> RandomVariable:
        return self.sub(x)

    def __rsub__(self, x: float | torch.Tensor) -> RandomVariable:
        return self.transform(AffineTransform(loc=x, scale=-1))

    def __mul__(self, x: float | torch.Tensor) -> RandomVariable:
        return self.mul(x)

    def __rmul__(self, x: float | torch.Tensor) -> RandomVariable:
        return self.mul(x)

    def __truediv__(self, x: float | torch.Tensor) -> RandomVariable:
        return self.div(x)

    def __neg__(self) -> RandomVariable:
        return self.neg()

    def __abs__(self) -> RandomVariable:
        return self.abs()

    def __pow__(self, x: float | torch.Tensor) -> RandomVariable:
        return self.pow(x)


_distribution._RANDOM_VARIABLE["class"] = RandomVariable
