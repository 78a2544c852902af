"""What kind of site a message or trace node is: the one home of the site predicates.

Every module that asks "is this a latent site?", "is it reparameterized?", "is it
a plate's subsample indices?" asks here (Pyro's ``site_is_*`` names are re-exported
by :mod:`tracegraph.poutine.util`).  The kinds, for a ``type == "sample"`` site:

* *observed*: ``is_observed`` (``obs=`` given, or ``condition``); includes
  ``factor`` and ``deterministic`` sites;
* *latent*: not observed and not a subsample site;
* *non-reparameterized*: latent, and its distribution has no ``rsample``
  (``has_rsample`` false): its gradient needs a score-function term;
* *subsample*: the indices a ``plate`` drew (its distribution is the plate's
  index distribution); not a variable of the model;
* *deterministic*: made by :func:`tracegraph.deterministic`
  (``infer["_deterministic"]``): an observed site whose value is a recorded
  intermediate, log-density zero;
* *factor*: made by :func:`tracegraph.factor` (a ``Unit`` distribution).

Keys of ``msg["infer"]`` that tracegraph itself sets or reads (Pyro's names where
Pyro has them):

=======================  ==============================================================
key                      meaning
=======================  ==============================================================
``_deterministic``       the site was made by ``deterministic``
``is_auxiliary``         a ``factor`` site (or a user's auxiliary guide site)
``_do_not_trace``        ``trace`` skips the site
``obs``, ``was_observed``  ``uncondition`` keeps the observation here
``baseline``             per-site baseline options of ``TraceGraph_ELBO``
``_dim_to_id``           shape bookkeeping of ``Trace.format_shapes``
=======================  ==============================================================

>>> site = {"type": "sample", "is_observed": False, "infer": {}, "fn": None}
>>> site_is_latent(site), site_is_nonreparam(site), site_is_subsample(site)
(True, True, False)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tracegraph.distributions import Unit
from tracegraph.poutine.subsample_messenger import SubsampleDistribution

__all__ = [
    "site_is_deterministic",
    "site_is_factor",
    "site_is_latent",
    "site_is_nonreparam",
    "site_is_subsample",
]


def site_is_subsample(site: Mapping[str, Any]) -> bool:
    """Whether ``site`` holds a plate's subsample indices (not a model variable):
    its distribution is the plate's index distribution.

    >>> site_is_subsample({"type": "sample", "fn": SubsampleDistribution(3, 3)})
    True
    """
    return site.get("type") == "sample" and isinstance(site.get("fn"), SubsampleDistribution)


def site_is_latent(site: Mapping[str, Any]) -> bool:
    """Whether ``site`` is a latent sample site: not observed (deterministic and
    factor sites are observed) and not a plate's subsample indices.

    >>> site_is_latent({"type": "sample", "is_observed": True, "infer": {}, "fn": None})
    False
    """
    return (
        site["type"] == "sample"
        and not site["is_observed"]
        and type(site["fn"]) is not SubsampleDistribution
    )


def site_is_nonreparam(site: Mapping[str, Any]) -> bool:
    """Whether ``site`` is a latent sample site whose distribution has no ``rsample``
    (its gradient needs a score-function term).

    >>> import tracegraph.distributions as dist
    >>> site = {"type": "sample", "is_observed": False, "infer": {}}
    >>> site_is_nonreparam({**site, "fn": dist.Bernoulli(0.5)})
    True
    >>> site_is_nonreparam({**site, "fn": dist.Normal(0.0, 1.0)})
    False
    """
    return site_is_latent(site) and not getattr(site["fn"], "has_rsample", False)


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
