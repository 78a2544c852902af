"""Pyro's ``pyro.poutine.util`` path: a facade re-exporting site predicates,
trace extensions and the poutine validation switch from the modules that hold them.

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

from tracegraph.poutine.sites import (
    site_is_deterministic,
    site_is_factor,
    site_is_latent,
    site_is_nonreparam,
    site_is_subsample,
)
from tracegraph.poutine.trace_extension import (
    all_escape,
    discrete_escape,
    enum_extend,
    mc_extend,
    prune_subsample_sites,
)
from tracegraph.poutine.validation import enable_validation, is_validation_enabled

__all__ = [
    "all_escape",
    "discrete_escape",
    "enable_validation",
    "enum_extend",
    "is_validation_enabled",
    "mc_extend",
    "prune_subsample_sites",
    "site_is_deterministic",
    "site_is_factor",
    "site_is_latent",
    "site_is_nonreparam",
    "site_is_subsample",
]
