"""The six models of the compiled-step benchmark (issue 12), written once.

``make_models(pyro, dist)`` returns ``{name: (model, guide, args)}`` written
against a Pyro-like module (``sample``, ``param``, ``plate``) and its
distributions, so tracegraph and Pyro run literally the same model code.  The
data are drawn from a fixed generator, so every call returns the same data.
``benchmarks/handwritten.py`` holds the same estimator written by hand for
each, and ``benchmarks/bench_numpyro.py`` the NumPyro ports.

* ``beta_bernoulli``: a coin's weight, ``Beta(10, 10)`` prior, 10 flips in a
  plate; ``Beta`` guide (reparameterized, so no score function at all).
* ``mixture``: a 3-component Gaussian mixture over 20 points, reparameterized
  component locations, a ``Categorical`` assignment per point (score function,
  per element of the plate).
* ``sbn``: a two-layer sigmoid belief net (3 -> 5 -> 8 units, batch of 4), model
  top-down, guide bottom-up, units in plates (scores whose costs mix the units).
* ``chain20``: a 20-site Markov chain of binary latents, Bernoulli observations,
  mean-field guide (40 sites, no plate).
* ``indep50``: 50 independent binary latents, each with its own Gaussian
  observation (100 sites, no plate).
* ``wide``: a 10,000-point plate: a global reparameterized offset and a binary
  latent per point, with an amortized guide ``sigmoid(a x + b)`` (one score per
  element of a wide plate).
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import torch
from bench_elbo_speed import make_models as speed_models

Program = Callable[..., Any]
Models = dict[str, tuple[Program, Program, tuple]]

#: The models in the order tables print them.
MODEL_NAMES = ("beta_bernoulli", "mixture", "sbn", "chain20", "indep50", "wide")

BETA_FLIPS = [1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0]
INDEP_SITES = 50
WIDE_POINTS = 10_000


def beta_bernoulli_models(pyro: ModuleType, dist: ModuleType) -> tuple[Program, Program, tuple]:
    """A coin's weight from 10 flips (``Beta(10, 10)`` prior, ``Beta`` guide)."""
    constraints = dist.constraints
    data = torch.tensor(BETA_FLIPS)

    def model(data: torch.Tensor) -> None:
        f = pyro.sample("f", dist.Beta(torch.tensor(10.0), torch.tensor(10.0)))
        with pyro.plate("flips", len(data)):
            pyro.sample("x", dist.Bernoulli(f), obs=data)

    def guide(data: torch.Tensor) -> None:
        a = pyro.param("bb_alpha", torch.tensor(15.0), constraint=constraints.positive)
        b = pyro.param("bb_beta", torch.tensor(15.0), constraint=constraints.positive)
        pyro.sample("f", dist.Beta(a, b))

    return model, guide, (data,)


def indep_models(pyro: ModuleType, dist: ModuleType) -> tuple[Program, Program, tuple]:
    """``INDEP_SITES`` independent Bernoulli latents, each with its own observation."""
    constraints = dist.constraints
    n = INDEP_SITES
    data = torch.linspace(-1.0, 2.0, n)

    def model(data: torch.Tensor) -> None:
        for i in range(n):
            z = pyro.sample(f"z_{i}", dist.Bernoulli(0.5))
            pyro.sample(f"x_{i}", dist.Normal(2.0 * z - 0.5, 1.0), obs=data[i])

    def guide(data: torch.Tensor) -> None:
        q = pyro.param("ind_q", torch.full((n,), 0.4), constraint=constraints.unit_interval)
        for i in range(n):
            pyro.sample(f"z_{i}", dist.Bernoulli(q[i]))

    return model, guide, (data,)


def wide_models(pyro: ModuleType, dist: ModuleType) -> tuple[Program, Program, tuple]:
    """A ``WIDE_POINTS``-point plate with a binary latent per point and a global
    reparameterized offset; amortized guide."""
    constraints = dist.constraints
    n = WIDE_POINTS
    gen = torch.Generator().manual_seed(1)
    z_true = (torch.rand(n, generator=gen) < 0.3).float()
    data = 2.0 * z_true - 1.0 + 0.5 + torch.randn(n, generator=gen)

    def model(data: torch.Tensor) -> None:
        shift = pyro.sample("shift", dist.Normal(0.0, 1.0))
        with pyro.plate("points", n):
            z = pyro.sample("z", dist.Bernoulli(0.5))
            pyro.sample("x", dist.Normal(2.0 * z - 1.0 + shift, 1.0), obs=data)

    def guide(data: torch.Tensor) -> None:
        loc = pyro.param("wide_loc", torch.tensor(0.0))
        scale = pyro.param("wide_scale", torch.tensor(0.5), constraint=constraints.positive)
        a = pyro.param("wide_a", torch.tensor(1.0))
        b = pyro.param("wide_b", torch.tensor(0.0))
        pyro.sample("shift", dist.Normal(loc, scale))
        with pyro.plate("points", n):
            pyro.sample("z", dist.Bernoulli(logits=a * data + b))

    return model, guide, (data,)


def make_models(pyro: ModuleType, dist: ModuleType) -> Models:
    """The six models as ``{name: (model, guide, args)}`` (order: :data:`MODEL_NAMES`)."""
    speed = speed_models(pyro, dist)
    found = {
        "beta_bernoulli": beta_bernoulli_models(pyro, dist),
        "mixture": speed["gmm"],
        "sbn": speed["sbn"],
        "chain20": speed["chain20"],
        "indep50": indep_models(pyro, dist),
        "wide": wide_models(pyro, dist),
    }
    return {name: found[name] for name in MODEL_NAMES}


def sbn_weights() -> dict[str, torch.Tensor]:
    """The belief net's initial weights, by param name: ``bench_elbo_speed`` draws
    them with its data from one generator (seed 0: the chain's 20 observations,
    then the net's data and ``W2, W1, V1, V2``); the same draws again."""
    gen = torch.Generator().manual_seed(0)
    torch.rand(20, generator=gen)  # the chain's data
    n, h2, h1, pixels = 4, 3, 5, 8
    torch.rand(n, pixels, generator=gen)  # the net's data
    w2, w1 = torch.randn(h2, h1, generator=gen), torch.randn(h1, pixels, generator=gen)
    v1 = 0.3 * torch.randn(pixels, h1, generator=gen)
    v2 = 0.3 * torch.randn(h1, h2, generator=gen)
    return {"sbn_W2": w2, "sbn_W1": w1, "sbn_V1": v1, "sbn_V2": v2}
