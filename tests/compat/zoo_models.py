"""Small models several zoo modules share, written against a library passed in.

>>> import tracegraph, tracegraph.distributions
>>> model = _three_site_model(tracegraph, tracegraph.distributions)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


def _two_site_model(pyro: Any, dist: Any) -> Callable[[], Any]:
    """A positive param ``a``, a latent ``x`` scaled by it, an observed ``y``."""

    def model() -> Any:
        a = pyro.param("a", torch.tensor(0.5), constraint=dist.constraints.positive)
        x = pyro.sample("x", dist.Normal(0.0, a))
        pyro.sample("y", dist.Normal(x, 1.0), obs=torch.tensor(1.0))
        return x

    return model


def _three_site_model(pyro: Any, dist: Any) -> Callable[[], None]:
    """A param ``a``, latents ``x -> y``, an observed ``z``."""

    def model() -> None:
        a = pyro.param("a", torch.tensor(1.0))
        x = pyro.sample("x", dist.Normal(a, 1.0))
        y = pyro.sample("y", dist.Normal(x, 1.0))
        pyro.sample("z", dist.Normal(y, 1.0), obs=torch.tensor(0.0))

    return model
