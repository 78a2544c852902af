"""Partial traces and their extensions, for exploring a program site by site
(what ``poutine.queue`` does): at which sites to escape, how to extend a partial
trace by the escaped site, and pruning subsample sites.

>>> import torch
>>> import tracegraph.distributions as dist
>>> from tracegraph.poutine.runtime import new_sample_message
>>> msg = new_sample_message("b", dist.Bernoulli(0.5))
>>> discrete_escape(Trace(), msg)
True
>>> [t.nodes["b"]["value"] for t in enum_extend(Trace(), msg)]
[tensor(0.), tensor(1.)]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tracegraph.poutine.sites import site_is_subsample
from tracegraph.poutine.trace_struct import Trace

__all__ = [
    "all_escape",
    "discrete_escape",
    "enum_extend",
    "mc_extend",
    "prune_subsample_sites",
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
    """An escape function: escape at every latent sample site that ``trace`` does
    not have yet.

    >>> all_escape(Trace(), {"type": "sample", "name": "z", "is_observed": False})
    True
    """
    return (
        msg.get("type") == "sample" and not msg.get("is_observed") and msg.get("name") not in trace
    )


def discrete_escape(trace: Trace, msg: Mapping[str, Any]) -> bool:
    """An escape function: escape at every latent sample site with an enumerable
    (discrete) distribution that ``trace`` does not have yet.

    >>> import tracegraph.distributions as dist
    >>> discrete_escape(Trace(), {"type": "sample", "name": "z", "is_observed": False,
    ...                           "fn": dist.Normal(0.0, 1.0)})
    False
    """
    return all_escape(trace, msg) and bool(getattr(msg.get("fn"), "has_enumerate_support", False))


def _extended(trace: Trace, msg: Mapping[str, Any], value: Any) -> Trace:
    new = trace.copy()
    node = dict(msg)
    node["value"] = value
    new.add_node(msg["name"], **node)
    return new


def enum_extend(
    trace: Trace, msg: Mapping[str, Any], num_samples: int | None = None
) -> list[Trace]:
    """Copies of ``trace``, each extended by the site ``msg`` at one value of its
    distribution's support (``enumerate_support()``), in support order.

    :param num_samples: stop after ``num_samples + 1`` values (Pyro's count).

    >>> import torch
    >>> import tracegraph.distributions as dist
    >>> from tracegraph.poutine.runtime import new_sample_message
    >>> msg = new_sample_message("c", dist.Categorical(torch.ones(3)))
    >>> len(enum_extend(Trace(), msg)), len(enum_extend(Trace(), msg, num_samples=0))
    (3, 1)
    """
    extended = []
    for i, value in enumerate(msg["fn"].enumerate_support(*msg["args"], **msg["kwargs"])):
        extended.append(_extended(trace, msg, value))
        if num_samples is not None and i >= num_samples:
            break
    return extended


def mc_extend(trace: Trace, msg: Mapping[str, Any], num_samples: int | None = None) -> list[Trace]:
    """Copies of ``trace``, each extended by the site ``msg`` at a value drawn from
    its distribution.

    :param num_samples: how many copies (default 1).

    >>> import tracegraph.distributions as dist
    >>> from tracegraph.poutine.runtime import new_sample_message
    >>> len(mc_extend(Trace(), new_sample_message("z", dist.Normal(0.0, 1.0)), num_samples=3))
    3
    """
    n = 1 if num_samples is None else num_samples
    return [_extended(trace, msg, msg["fn"](*msg["args"], **msg["kwargs"])) for _ in range(n)]
