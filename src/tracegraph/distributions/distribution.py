"""The abstract :class:`Distribution`: what any distribution offers a Pyro program.

A distribution is a stochastic function with fixed parameters: calling it draws a
value, :meth:`~Distribution.log_prob` scores one.  Subclasses implement
:meth:`~Distribution.sample` and :meth:`~Distribution.log_prob`; the rest
(``score_parts``, ``has_rsample_``, ...) has working defaults.

Every tracegraph distribution is an instance of it: the torch-based classes
through :class:`~tracegraph.distributions.TorchDistributionMixin`, which is
registered as a virtual subclass (so torch's methods keep precedence in their
method resolution order).  A plain ``torch.distributions`` object is not, as in
Pyro.

>>> import torch
>>> import tracegraph.distributions as dist
>>> isinstance(dist.Normal(0.0, 1.0), Distribution)
True
>>> isinstance(torch.distributions.Normal(0.0, 1.0), Distribution)
False
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from typing import Any

import torch

from tracegraph.distributions.score_parts import ScoreParts
from tracegraph.errors import SiteError

__all__ = ["Distribution", "check_has_rsample_flag"]


def check_has_rsample_flag(value: object) -> None:
    """Refuse anything but ``True``/``False`` as a ``has_rsample`` setting.

    :raises SiteError: (a ``ValueError``) for any other value, ``1`` included, as
        Pyro does.

    >>> check_has_rsample_flag(1)
    Traceback (most recent call last):
    ...
    tracegraph.errors.SiteError: Expected value in [False,True], actual 1; has_rsample must ...
    """
    if not isinstance(value, bool):
        raise SiteError(
            f"Expected value in [False,True], actual {value}; has_rsample must be True or False"
        )


class Distribution(metaclass=ABCMeta):
    """Base class of parameterized probability distributions, Pyro's ``Distribution``.

    Subclasses implement :meth:`sample` and :meth:`log_prob`.  ``has_rsample``
    says whether :meth:`sample` is reparameterized (a per-instance setting through
    :meth:`has_rsample_`); ``has_enumerate_support`` whether
    :meth:`enumerate_support` is implemented.

    >>> class Coin(Distribution):
    ...     def sample(self, *args, **kwargs):
    ...         return torch.tensor(1.0)
    ...     def log_prob(self, x, *args, **kwargs):
    ...         return torch.tensor(0.5).log()
    >>> coin = Coin()
    >>> coin(), coin.score_parts(torch.tensor(1.0)).score_function
    (tensor(1.), tensor(-0.6931))
    """

    has_rsample = False
    has_enumerate_support = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Draw a value: the same as :meth:`sample`.

        >>> import tracegraph.distributions as dist
        >>> dist.Normal(torch.zeros(2), 1.0)().shape
        torch.Size([2])
        """
        return self.sample(*args, **kwargs)

    @abstractmethod
    def sample(self, *args: Any, **kwargs: Any) -> Any:
        """Draw a value (of shape ``sample_shape + batch_shape + event_shape``)."""
        raise NotImplementedError

    @abstractmethod
    def log_prob(self, x: Any, *args: Any, **kwargs: Any) -> Any:
        """The log-density of ``x``, one number per batch element."""
        raise NotImplementedError

    def score_parts(self, x: Any, *args: Any, **kwargs: Any) -> ScoreParts:
        """The terms stochastic-gradient estimators of the ELBO need.

        Reparameterized (``has_rsample``): ``(log_prob, 0, log_prob)``, otherwise
        ``(log_prob, log_prob, 0)``; partially reparameterized distributions
        override this.

        :param x: a value drawn from this distribution.
        :returns: ``ScoreParts(log_prob, score_function, entropy_term)``.

        >>> import tracegraph.distributions as dist
        >>> dist.Bernoulli(0.5).score_parts(torch.tensor(1.0)).score_function
        tensor(-0.6931)
        """
        log_prob = self.log_prob(x, *args, **kwargs)
        if self.has_rsample:
            return ScoreParts(log_prob=log_prob, score_function=0, entropy_term=log_prob)
        return ScoreParts(log_prob=log_prob, score_function=log_prob, entropy_term=0)

    def enumerate_support(self, expand: bool = True) -> torch.Tensor:
        """Every value of a discrete distribution, along a new leftmost dim.

        :param expand: ``True`` for shape ``(n,) + batch_shape + event_shape``;
            ``False`` for ``(n,) + (1,) * len(batch_shape) + event_shape``.
        :raises NotImplementedError: unless the distribution is discrete.

        >>> import tracegraph.distributions as dist
        >>> dist.Bernoulli(torch.full((2,), 0.5)).enumerate_support(expand=False)
        tensor([[0.],
                [1.]])
        """
        raise NotImplementedError(f"Support not implemented for {type(self).__name__}")

    def conjugate_update(self, other: Any) -> tuple[Any, torch.Tensor]:
        """Fuse ``other`` (a likelihood in this distribution's variable) into it.

        Returns ``(updated, log_normalizer)`` with ``self.log_prob(x) +
        other.log_prob(x) == updated.log_prob(x) + log_normalizer``.  Only a few
        conjugate families implement it (``Beta``, ``Gamma``, ``Dirichlet`` and
        ``Independent`` of those).

        :raises NotImplementedError: for the others.

        >>> import tracegraph.distributions as dist
        >>> dist.Normal(0.0, 1.0).conjugate_update(dist.Normal(0.0, 1.0))
        Traceback (most recent call last):
        ...
        NotImplementedError: Normal does not support .conjugate_update()
        """
        raise NotImplementedError(f"{type(self).__name__} does not support .conjugate_update()")

    def has_rsample_(self, value: bool) -> Any:
        """Force reparameterized (``True``) or detached (``False``) sampling on this
        instance, e.g. for a value that decides control flow downstream.

        :param value: whether samples are pathwise differentiable.
        :returns: ``self``.
        :raises SiteError: (a ``ValueError``) if ``value`` is not a bool.

        >>> import tracegraph.distributions as dist
        >>> dist.Normal(0.0, 1.0).has_rsample_(False).has_rsample
        False
        """
        check_has_rsample_flag(value)
        self.has_rsample = value
        return self

    @property
    def rv(self) -> Any:
        """This distribution as a :class:`~tracegraph.distributions.random_variable.RandomVariable`,
        whose arithmetic builds transformed distributions.

        >>> import tracegraph.distributions as dist
        >>> type((2 * dist.Uniform(0.0, 1.0).rv).dist).__name__
        'TransformedDistribution'
        """
        return _random_variable_class()(self)


def _random_variable_class() -> type:
    # Set by tracegraph.distributions.random_variable when it is imported (the
    # package imports it), which depends on this module for its base.
    cls = _RANDOM_VARIABLE.get("class")
    assert cls is not None, "tracegraph.distributions.random_variable was not imported"
    return cls


_RANDOM_VARIABLE: dict[str, type] = {}
