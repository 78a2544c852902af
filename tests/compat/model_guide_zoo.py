"""A zoo of model--guide pairs, valid and invalid, written once for Pyro and tracegraph:
the registry, the :class:`Pair` record and the models and guides pairs share.

Every entry (in the ``zoo_pairs_*.py`` modules) is a function
``pair(pyro, dist, poutine) -> Pair`` that builds a model and a guide against the
library passed in, plus the arguments to call them with and the keyword
arguments of the ELBO.  ``test_model_guide_zoo.py`` runs each pair through two
``SVI.step`` calls with ``Trace_ELBO`` and ``TraceGraph_ELBO`` in both libraries
and checks the outcome is the same (see ``differential.py``): runs (with equal
losses), warns (the same warning categories) or raises (the same exception type).

Names say what a pair exercises; ``bad_`` pairs are ones Pyro refuses or warns
about.  No pair is copied from Pyro's test suite.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch


@dataclasses.dataclass
class Pair:
    model: Callable[..., Any]
    guide: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: keyword arguments of the ELBO (``num_particles``, ``max_plate_nesting``, ...)
    elbo: dict[str, Any] = dataclasses.field(default_factory=dict)


#: name -> pair builder, in definition order (the test ids follow it).
PAIRS: dict[str, Callable[[Any, Any, Any], Pair]] = {}


def pair(fn: Callable[[Any, Any, Any], Pair]) -> Callable[[Any, Any, Any], Pair]:
    """Register ``fn`` in :data:`PAIRS` under its own name."""
    assert fn.__name__ not in PAIRS, fn.__name__
    PAIRS[fn.__name__] = fn
    return fn


DATA = torch.tensor([0.5, -0.3, 1.2, 0.1, -0.8])


def _normal_guide(pyro, dist, name="z", shape=(), event=0):
    constraints = dist.constraints

    def guide(*args, **kwargs):
        loc = pyro.param(f"{name}_loc", torch.zeros(shape))
        scale = pyro.param(f"{name}_scale", torch.ones(shape), constraint=constraints.positive)
        d = dist.Normal(loc, scale)
        return pyro.sample(name, d.to_event(event) if event else d)

    return guide


def _normal_model(pyro, dist):
    def model(data=DATA):
        z = pyro.sample("z", dist.Normal(0.0, 1.0))
        with pyro.plate("data", len(data)):
            pyro.sample("x", dist.Normal(z, 1.0), obs=data)

    return model


def _bernoulli_model(pyro, dist):
    def model():
        b = pyro.sample("b", dist.Bernoulli(0.4))
        pyro.sample("x", dist.Normal(3.0 * b, 1.0), obs=torch.tensor(2.0))

    return model


def _bernoulli_guide(pyro, dist, infer=None):
    def guide():
        p = pyro.param("p", torch.tensor(0.5), constraint=dist.constraints.unit_interval)
        pyro.sample("b", dist.Bernoulli(p), infer=infer or {})

    return guide
