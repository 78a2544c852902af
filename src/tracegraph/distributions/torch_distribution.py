"""Pyro's ``pyro.distributions.torch_distribution`` path: the mixin and the wrappers.

The mixin and :class:`TorchDistribution` live in
:mod:`~tracegraph.distributions.mixin`; :class:`Independent`,
:class:`MaskedDistribution` and :class:`ExpandedDistribution` in modules of
their own.  Like Pyro's module, this one also binds ``Distribution``,
``ScoreParts``, ``broadcast_shape``, ``scale_and_mask``, ``constraints``,
``kl_divergence`` and ``register_kl``.

>>> import torch
>>> d = Independent(torch.distributions.Normal(torch.zeros(3), 1.0), 1)
>>> MaskedDistribution(d, True).event_shape
torch.Size([3])
"""

from torch.distributions.kl import kl_divergence, register_kl

from tracegraph.distributions import constraints
from tracegraph.distributions.distribution import Distribution
from tracegraph.distributions.expanded import ExpandedDistribution
from tracegraph.distributions.independent import Independent
from tracegraph.distributions.masked import MaskedDistribution
from tracegraph.distributions.mixin import Shape, TorchDistribution, TorchDistributionMixin
from tracegraph.distributions.score_parts import ScoreParts, scale_and_mask
from tracegraph.distributions.shapes import broadcast_shape

__all__ = [
    "Distribution",
    "ExpandedDistribution",
    "Independent",
    "MaskedDistribution",
    "ScoreParts",
    "Shape",
    "TorchDistribution",
    "TorchDistributionMixin",
    "broadcast_shape",
    "constraints",
    "kl_divergence",
    "register_kl",
    "scale_and_mask",
]
