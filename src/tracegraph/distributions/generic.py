"""Functions that accept any distribution: tracegraph's, or a plain ``torch.distributions`` one.

A user may pass ``torch.distributions.Normal(0, 1)`` to ``sample`` instead of
``tracegraph.distributions.Normal(0, 1)``.  Plain torch objects lack the mixin's
methods, so library code either converts them once with
:func:`~tracegraph.distributions.as_tracegraph_distribution` or calls these
functions, which call the mixin's method (respecting any subclass override) on
the converted object.

>>> plain = torch.distributions.Normal(torch.zeros(3), 1.0)
>>> has_rsample(plain), event_dim(to_event(plain)), expand_by(plain, (2,)).batch_shape
(True, 1, torch.Size([2, 3]))
"""

from __future__ import annotations

from typing import Any

import torch

from tracegraph.distributions.mixin import Shape
from tracegraph.distributions.torch import as_tracegraph_distribution
from tracegraph.distributions.util import ScoreParts

__all__ = [
    "as_tracegraph_distribution",
    "draw",
    "event_dim",
    "expand_by",
    "has_rsample",
    "mask",
    "score_parts",
    "to_event",
]

Distribution = torch.distributions.Distribution


def has_rsample(fn: Distribution) -> bool:
    """Whether ``fn``'s samples are reparameterized (honours a per-instance setting).

    :param fn: any distribution.
    :returns: ``fn.has_rsample`` as a bool.

    >>> import tracegraph.distributions as dist
    >>> has_rsample(torch.distributions.Gamma(1.0, 1.0))
    True
    >>> has_rsample(dist.Gamma(1.0, 1.0).has_rsample_(False))
    False
    """
    return bool(fn.has_rsample)


def event_dim(fn: Distribution) -> int:
    """The number of event dims of ``fn``.

    :param fn: any distribution.
    :returns: ``len(fn.event_shape)``.

    >>> event_dim(torch.distributions.Dirichlet(torch.ones(3)))
    1
    """
    return len(fn.event_shape)


def draw(fn: Distribution, sample_shape: Shape = ()) -> torch.Tensor:
    """Draw from ``fn`` the way a sample site does: ``rsample`` if reparameterized.

    :param fn: any distribution.
    :param sample_shape: leading dims of independent draws.
    :returns: a sample; it has a gradient path only when :func:`has_rsample` is true.

    >>> loc = torch.tensor(0.0, requires_grad=True)
    >>> draw(torch.distributions.Normal(loc, 1.0), (2,)).requires_grad
    True
    >>> draw(torch.distributions.Bernoulli(0.5), (2,)).requires_grad
    False
    """
    return as_tracegraph_distribution(fn)(sample_shape)


def score_parts(fn: Distribution, value: torch.Tensor) -> ScoreParts:
    """The log-density terms of ``value`` under ``fn``, by Pyro's convention.

    Reparameterized: ``(log_prob, 0.0, log_prob)``; otherwise ``(log_prob,
    log_prob, 0.0)``.

    :param fn: any distribution.
    :param value: the sampled value.
    :returns: ``ScoreParts(log_prob, score_function, entropy_term)``.

    >>> parts = score_parts(torch.distributions.Bernoulli(0.5), torch.tensor(1.0))
    >>> parts.score_function, parts.entropy_term
    (tensor(-0.6931), 0)
    """
    return as_tracegraph_distribution(fn).score_parts(value)


def expand_by(fn: Distribution, sample_shape: Shape) -> Any:
    """Prepend ``sample_shape`` to ``fn``'s batch shape.

    :param fn: any distribution.
    :param sample_shape: dims to add on the left of the batch shape.
    :returns: the expanded distribution (an ``ExpandedDistribution`` when ``fn``'s
        class has no ``expand``).

    >>> expand_by(torch.distributions.Normal(0.0, 1.0), (4, 2)).batch_shape
    torch.Size([4, 2])
    """
    return as_tracegraph_distribution(fn).expand_by(sample_shape)


def to_event(fn: Distribution, reinterpreted_batch_ndims: int | None = None) -> Any:
    """Reinterpret the rightmost batch dims of ``fn`` as event dims.

    :param fn: any distribution.
    :param reinterpreted_batch_ndims: how many; ``None`` means all.
    :returns: an ``Independent``, or the (converted) ``fn`` when the number is 0.
    :raises ShapeError: if the number is negative or exceeds the batch dims.

    >>> to_event(torch.distributions.Normal(torch.zeros(2, 3), 1.0), 1).event_shape
    torch.Size([3])
    """
    return as_tracegraph_distribution(fn).to_event(reinterpreted_batch_ndims)


def mask(fn: Distribution, mask: torch.Tensor | bool) -> Any:
    """Zero ``fn``'s log-density where ``mask`` is ``False``.

    :param fn: any distribution.
    :param mask: a bool, or a bool tensor that broadcasts with the batch shape.
    :returns: a ``MaskedDistribution``.
    :raises SiteError: if ``mask`` is not a bool or bool tensor.

    >>> d = mask(torch.distributions.Normal(0.0, 1.0), False)
    >>> d.log_prob(torch.tensor(3.0))
    tensor(0.)
    """
    return as_tracegraph_distribution(fn).mask(mask)
