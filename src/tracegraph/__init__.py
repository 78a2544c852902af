"""tracegraph: a probabilistic-programming core for PyTorch.

Execution traces, sound provenance tracking and a Rao-Blackwellized TraceGraph
ELBO, behind Pyro's public names: ``import tracegraph as pyro`` ports a model.

>>> import torch
>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> def model():
...     return tracegraph.sample("x", dist.Normal(0.0, 1.0))
>>> tr = tracegraph.poutine.trace(model).get_trace()
>>> tr.stochastic_nodes
['x']
"""

from tracegraph import distributions, infer, nn, optim, poutine, settings

# As after ``import pyro``, the grab-bag module is reachable as an attribute
# (``pyro.util.set_rng_seed(0)`` in ported programs).
from tracegraph import util as util
from tracegraph.distributions import is_validation_enabled
from tracegraph.infer.inspect import render_model
from tracegraph.logger import log
from tracegraph.params import get_param_store
from tracegraph.poutine import condition, do, markov
from tracegraph.primitives import (
    barrier,
    clear_param_store,
    deterministic,
    enable_validation,
    factor,
    module,
    param,
    plate,
    plate_stack,
    sample,
    set_rng_seed,
    subsample,
    validation_enabled,
)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "barrier",
    "clear_param_store",
    "condition",
    "deterministic",
    "distributions",
    "do",
    "enable_validation",
    "factor",
    "get_param_store",
    "infer",
    "is_validation_enabled",
    "log",
    "markov",
    "module",
    "nn",
    "optim",
    "param",
    "plate",
    "plate_stack",
    "poutine",
    "render_model",
    "sample",
    "set_rng_seed",
    "settings",
    "subsample",
    "validation_enabled",
]
