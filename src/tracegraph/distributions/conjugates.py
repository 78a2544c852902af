"""The conjugate families among torch's distributions: ``Beta``, ``Gamma`` and
``Dirichlet`` with Pyro's :meth:`conjugate_update`.

Multiplying two densities of one family gives, up to a constant, another member
of it; ``f.conjugate_update(g)`` returns that member and the log of the constant,
so that ``f.log_prob(x) + g.log_prob(x) == fg.log_prob(x) + log_normalizer``.

>>> import torch
>>> f = Gamma(torch.tensor(2.0), torch.tensor(1.0))
>>> updated, log_normalizer = f.conjugate_update(Gamma(torch.tensor(3.0), torch.tensor(2.0)))
>>> updated.concentration, updated.rate
(tensor(4.), tensor(3.))
"""

from __future__ import annotations

from typing import Any

import torch

from tracegraph.distributions.mixin import Shape, TorchDistributionMixin
from tracegraph.distributions.shape_inference import dirichlet_shapes
from tracegraph.distributions.special import log_beta

__all__ = ["Beta", "Dirichlet", "Gamma"]

# Importable from tracegraph.distributions.torch with the generated classes, and
# pickled by that path.
_MODULE = "tracegraph.distributions.torch"


def _same_type(self: Any, other: Any, family: type) -> None:
    if not isinstance(other, family):
        raise AssertionError(
            f"{type(self).__name__}.conjugate_update expects a {family.__name__}, got "
            f"{type(other).__name__}"
        )


def _log_multivariate_beta(concentration: torch.Tensor) -> torch.Tensor:
    return torch.lgamma(concentration).sum(-1) - torch.lgamma(concentration.sum(-1))


class Beta(TorchDistributionMixin, torch.distributions.Beta):
    """``torch.distributions.Beta`` with the mixin and :meth:`conjugate_update`.

    >>> Beta(2.0, 3.0).log_prob(torch.tensor(0.5))
    tensor(0.4055)
    """

    __module__ = _MODULE

    def conjugate_update(self, other: Any) -> tuple[Beta, torch.Tensor]:
        """Multiply by another Beta density: ``Beta(a + a' - 1, b + b' - 1)`` and the
        log normalizer ``log B(a+a'-1, b+b'-1) - log B(a, b) - log B(a', b')``.

        :param other: a ``Beta``.
        :raises AssertionError: if ``other`` is not a ``Beta`` (as in Pyro).

        >>> updated, _ = Beta(2.0, 3.0).conjugate_update(Beta(1.5, 1.0))
        >>> updated.concentration1, updated.concentration0
        (tensor(2.5000), tensor(3.))
        """
        _same_type(self, other, torch.distributions.Beta)
        a = self.concentration1 + other.concentration1 - 1
        b = self.concentration0 + other.concentration0 - 1
        updated = Beta(a, b)
        log_normalizer = (
            log_beta(a, b)
            - log_beta(self.concentration1, self.concentration0)
            - log_beta(other.concentration1, other.concentration0)
        )
        return updated, log_normalizer


class Gamma(TorchDistributionMixin, torch.distributions.Gamma):
    """``torch.distributions.Gamma`` with the mixin and :meth:`conjugate_update`.

    >>> Gamma(2.0, 1.0).mean
    tensor(2.)
    """

    __module__ = _MODULE

    def conjugate_update(self, other: Any) -> tuple[Gamma, torch.Tensor]:
        """Multiply by another Gamma density: ``Gamma(a + a' - 1, r + r')`` and its
        log normalizer.

        :param other: a ``Gamma``.
        :raises AssertionError: if ``other`` is not a ``Gamma`` (as in Pyro).

        >>> updated, _ = Gamma(2.0, 1.0).conjugate_update(Gamma(3.0, 2.0))
        >>> updated.concentration, updated.rate
        (tensor(4.), tensor(3.))
        """
        _same_type(self, other, torch.distributions.Gamma)
        concentration = self.concentration + other.concentration - 1
        rate = self.rate + other.rate

        def log_z(c: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
            return torch.lgamma(c) - c * r.log()

        updated = Gamma(concentration, rate)
        log_normalizer = (
            log_z(concentration, rate)
            - log_z(self.concentration, self.rate)
            - log_z(other.concentration, other.rate)
        )
        return updated, log_normalizer


class Dirichlet(TorchDistributionMixin, torch.distributions.Dirichlet):
    """``torch.distributions.Dirichlet`` with the mixin, :meth:`conjugate_update`
    and :meth:`infer_shapes`.

    >>> Dirichlet(torch.ones(3)).event_shape
    torch.Size([3])
    """

    __module__ = _MODULE

    @staticmethod
    def infer_shapes(concentration: Shape) -> tuple[tuple[int, ...], tuple[int, ...]]:  # type: ignore[override]
        """The last dim of ``concentration`` is the event.

        >>> Dirichlet.infer_shapes(concentration=(4, 3))
        ((4,), (3,))
        """
        return dirichlet_shapes(concentration)

    def conjugate_update(self, other: Any) -> tuple[Dirichlet, torch.Tensor]:
        """Multiply by another Dirichlet density: concentrations ``c + c' - 1``.

        :param other: a ``Dirichlet``.
        :raises AssertionError: if ``other`` is not a ``Dirichlet`` (as in Pyro).

        >>> updated, _ = Dirichlet(torch.ones(3)).conjugate_update(Dirichlet(torch.full((3,), 2.0)))
        >>> updated.concentration
        tensor([2., 2., 2.])
        """
        _same_type(self, other, torch.distributions.Dirichlet)
        concentration = self.concentration + other.concentration - 1
        updated = Dirichlet(concentration)
        log_normalizer = (
            _log_multivariate_beta(concentration)
            - _log_multivariate_beta(self.concentration)
            - _log_multivariate_beta(other.concentration)
        )
        return updated, log_normalizer
