"""Distributions: every ``torch.distributions`` class, plus what Pyro's API needs.

``tracegraph.distributions.Normal`` is ``torch.distributions.Normal`` with
:class:`TorchDistributionMixin` in front: the same maths, plus calling to draw a
sample, ``to_event``, ``expand_by``, ``mask``, ``has_rsample_``,
``score_parts`` and the rest of Pyro's distribution API.  Every one is an
instance of the abstract :class:`Distribution`.  New here: :class:`Delta`,
:class:`Unit` and the wrappers :class:`MaskedDistribution` and
:class:`ExpandedDistribution`.  Constraints (torch's and Pyro's) are in
:mod:`~tracegraph.distributions.constraints`, transforms in
:mod:`~tracegraph.distributions.transforms`, KL rules in
:mod:`~tracegraph.distributions.kl`; non-reparameterized fakes for tests are in
:mod:`tracegraph.distributions.testing.fakes`.

Plain ``torch.distributions`` objects are accepted wherever a distribution is;
library code converts them with :func:`as_tracegraph_distribution` (a view that
shares the parameters) or uses :func:`draw`, :func:`score_parts`,
:func:`has_rsample`, :func:`event_dim`, :func:`expand_by`, :func:`to_event` and
:func:`mask` (see :mod:`tracegraph.distributions.generic`).

>>> import torch
>>> import tracegraph.distributions as dist
>>> d = dist.Normal(torch.zeros(2, 3), 1.0).to_event(1)
>>> d.batch_shape, d.event_shape, d.log_prob(torch.zeros(2, 3)).shape
(torch.Size([2]), torch.Size([3]), torch.Size([2]))
"""

from tracegraph.distributions import constraints, kl, random_variable, transforms
from tracegraph.distributions import distribution as _distribution
from tracegraph.distributions import torch as _torch_wrappers
from tracegraph.distributions.delta import Delta
from tracegraph.distributions.generic import (
    as_tracegraph_distribution,
    draw,
    event_dim,
    expand_by,
    has_rsample,
    mask,
    score_parts,
    to_event,
)
from tracegraph.distributions.score_parts import ScoreParts
from tracegraph.distributions.torch import *  # noqa: F403
from tracegraph.distributions.torch_distribution import (
    ExpandedDistribution,
    Independent,
    MaskedDistribution,
    TorchDistribution,
    TorchDistributionMixin,
)
from tracegraph.distributions.transform_module import ComposeTransformModule, TransformModule
from tracegraph.distributions.unit import Unit
from tracegraph.distributions.validation import (
    enable_validation,
    is_validation_enabled,
    validation_enabled,
)

# Pyro's abstract Distribution, not torch's (which the star import brought in).
Distribution = _distribution.Distribution  # type: ignore[misc, assignment]

del random_variable  # imported for Distribution.rv

__all__ = [
    # torch distributions and Pyro's API on them (issue 10: compat-dist)
    "ComposeTransformModule",
    "Distribution",
    "ExpandedDistribution",
    "Independent",
    "MaskedDistribution",
    "TorchDistribution",
    "TorchDistributionMixin",
    "TransformModule",
    "constraints",
    "enable_validation",
    "is_validation_enabled",
    "kl",
    "transforms",
    "validation_enabled",
    # Pyro-specific distributions
    "Delta",
    "Unit",
    # tracegraph's helpers for any distribution
    "ScoreParts",
    "as_tracegraph_distribution",
    "draw",
    "event_dim",
    "expand_by",
    "has_rsample",
    "mask",
    "score_parts",
    "to_event",
]
__all__ += [name for name in _torch_wrappers.__all__ if name not in __all__]
