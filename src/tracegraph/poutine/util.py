"""Small predicates and edits on trace sites that inference code shares (Pyro's
``pyro.poutine.util`` names).

>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> from tracegraph import poutine
>>> def model():
...     with tracegraph.plate("data", 10, subsample_size=2):
...         tracegraph.sample("x", dist.Normal(0.0, 1.0))
>>> tr = poutine.trace(model).get_trace()
>>> [n for n, s in tr.nodes.items() if site_is_subsample(s)]
['data']
>>> list(prune_subsample_sites(tr).nodes)
['_INPUT', 'x', '_RETURN']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tracegraph.poutine.trace_struct import Trace

__all__ = [
    "all_escape",
    "prune_subsample_sites",
    "site_is_deterministic",
    "site_is_factor",
    "site_is_subsample",
]


def site_is_subsample(site: Mapping[str, Any]) -> bool:
    """Whether ``site`` holds a plate's subsample indices (not a model variable).

    >>> site_is_subsample({"type": "sample", "infer": {"_subsample": True}})
    True
    """
    return site.get("type") == "sample" and bool((site.get("infer") or {}).get("_subsample"))


def site_is_factor(site: Mapping[str, Any]) -> bool:
    """Whether ``site`` was made by :func:`tracegraph.factor` (an observed site of
    the auxiliary ``Unit`` distribution).

    >>> site_is_factor({"type": "sample", "is_observed": True, "infer": {"is_auxiliary": True},
    ...                 "fn": None})
    False
    """
    return (
        site.get("type") == "sample"
        and bool(site.get("is_observed"))
        and bool((site.get("infer") or {}).get("is_auxiliary"))
        and type(site.get("fn")).__name__ == "Unit"
    )


def site_is_deterministic(site: Mapping[str, Any]) -> bool:
    """Whether ``site`` was made by :func:`tracegraph.deterministic`.

    >>> site_is_deterministic({"type": "sample", "infer": {"_deterministic": True}})
    True
    """
    return site.get("type") == "sample" and bool((site.get("infer") or {}).get("_deterministic"))


def prune_subsample_sites(trace: Trace) -> Trace:
    """A copy of ``trace`` without the plates' subsample-index sites.

    >>> prune_subsample_sites(Trace()).nodes
    OrderedDict()
    """
    pruned = trace.copy()
    for name, site in list(pruned.nodes.items()):
        if site_is_subsample(site):
            pruned.remove_node(name)
    return pruned


def all_escape(trace: Trace, msg: Mapping[str, Any]) -> bool:
    """An ``escape_fn`` for :func:`~tracegraph.poutine.escape`: escape at every
    latent sample site that ``trace`` does not have yet.

    >>> all_escape(Trace(), {"type": "sample", "name": "z", "is_observed": False})
    True
    """
    return (
        msg.get("type") == "sample" and not msg.get("is_observed") and msg.get("name") not in trace
    )
