"""Pyro's ``pyro.poutine.util`` names: the site predicates (which live in
:mod:`tracegraph.poutine.sites`) and small edits on traces.

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

from tracegraph.poutine.sites import (
    site_is_deterministic,
    site_is_factor,
    site_is_latent,
    site_is_nonreparam,
    site_is_subsample,
)
from tracegraph.poutine.trace_struct import Trace

__all__ = [
    "all_escape",
    "prune_subsample_sites",
    "site_is_deterministic",
    "site_is_factor",
    "site_is_latent",
    "site_is_nonreparam",
    "site_is_subsample",
]


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
