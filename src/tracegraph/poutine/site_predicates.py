"""What kind of site a trace node is: a plate's subsample indices, a ``factor``,
a ``deterministic`` value (Pyro's ``site_is_*`` predicates).

>>> import torch
>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> from tracegraph import poutine
>>> def model():
...     tracegraph.factor("f", torch.tensor(0.0))
...     with tracegraph.plate("data", 10, subsample_size=2):
...         tracegraph.sample("x", dist.Normal(0.0, 1.0))
>>> tr = poutine.trace(model).get_trace()
>>> [n for n, s in tr.nodes.items() if site_is_subsample(s)], site_is_factor(tr.nodes["f"])
(['data'], True)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tracegraph.distributions import Unit
from tracegraph.poutine.subsample_messenger import SubsampleDistribution

__all__ = ["site_is_deterministic", "site_is_factor", "site_is_subsample"]


def site_is_subsample(site: Mapping[str, Any]) -> bool:
    """Whether ``site`` holds a plate's subsample indices (not a model variable):
    its distribution is the plate's index distribution.

    >>> site_is_subsample({"type": "sample", "fn": SubsampleDistribution(3, 3)})
    True
    """
    return site.get("type") == "sample" and isinstance(site.get("fn"), SubsampleDistribution)


def site_is_factor(site: Mapping[str, Any]) -> bool:
    """Whether ``site`` was made by :func:`tracegraph.factor`: a sample site of the
    ``Unit`` distribution.

    >>> import torch
    >>> site_is_factor({"type": "sample", "fn": Unit(torch.tensor(0.0))})
    True
    """
    return site.get("type") == "sample" and isinstance(site.get("fn"), Unit)


def site_is_deterministic(site: Mapping[str, Any]) -> bool:
    """Whether ``site`` was made by :func:`tracegraph.deterministic`.

    >>> site_is_deterministic({"type": "sample", "infer": {"_deterministic": True}})
    True
    """
    return site.get("type") == "sample" and bool((site.get("infer") or {}).get("_deterministic"))
