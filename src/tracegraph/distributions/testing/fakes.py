"""Distributions that pretend to be non-reparameterized, for testing estimators.

Each fake has torch's density and sampler but ``has_rsample = False``, so a site
using it draws a value with no gradient path and the ELBO must use the
score-function estimator.  Comparing a fake against its reparameterized original
checks both gradient estimators on the same model.  ``Beta``, ``Dirichlet``,
``Gamma`` and ``Normal`` are the reparameterized originals, importable from here
as in Pyro.

>>> import torch
>>> loc = torch.tensor(0.0, requires_grad=True)
>>> NonreparameterizedNormal(loc, 1.0)().requires_grad
False
"""

from __future__ import annotations

from tracegraph.distributions import torch as _wrapped
from tracegraph.distributions.torch import Beta, Dirichlet, Gamma, Normal

__all__ = [
    "Beta",
    "Dirichlet",
    "Gamma",
    "NonreparameterizedBeta",
    "NonreparameterizedDirichlet",
    "NonreparameterizedGamma",
    "NonreparameterizedNormal",
    "Normal",
]


class NonreparameterizedNormal(_wrapped.Normal):
    """``Normal`` with ``has_rsample = False``.

    >>> NonreparameterizedNormal(0.0, 1.0).has_rsample
    False
    """

    has_rsample = False


class NonreparameterizedBeta(_wrapped.Beta):
    """``Beta`` with ``has_rsample = False``.

    >>> import torch
    >>> NonreparameterizedBeta(2.0, 2.0).score_parts(torch.tensor(0.5)).entropy_term
    0
    """

    has_rsample = False


class NonreparameterizedGamma(_wrapped.Gamma):
    """``Gamma`` with ``has_rsample = False``.

    >>> import torch
    >>> NonreparameterizedGamma(torch.ones(2), 1.0)((3,)).shape
    torch.Size([3, 2])
    """

    has_rsample = False


class NonreparameterizedDirichlet(_wrapped.Dirichlet):
    """``Dirichlet`` with ``has_rsample = False``.

    >>> import torch
    >>> NonreparameterizedDirichlet(torch.ones(3)).has_rsample
    False
    """

    has_rsample = False
