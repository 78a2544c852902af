"""Programs in the style of Pyro's tutorials: the data and models they share.

Each program of ``zoo_tutorials_svi.py``, ``zoo_tutorials_autoguides.py``,
``zoo_tutorials_modules.py`` and ``zoo_tutorials_handlers.py`` is what a Pyro
1.9.2 user writes after the tutorials (SVI parts I--III, Bayesian regression,
the VAE, eight schools with autoguides, mixtures with baselines, handlers,
traces, the param store, optimizers and schedulers, ``PyroModule``), written
here with its own models and data; it returns what its user looks at (losses,
params, posterior summaries, draws, traces).  ``test_documented_examples.py``
compares them across libraries.
"""

from __future__ import annotations

from typing import Any

import torch
from differential import Lib

# Data made once, from a private generator (not the global one the programs share).
_GEN = torch.Generator().manual_seed(11)
_FLIPS = torch.tensor([1.0] * 7 + [0.0] * 3)
_X = torch.randn(20, 3, generator=_GEN)
_Y = _X @ torch.tensor([0.8, -1.2, 0.4]) + 0.5 + 0.3 * torch.randn(20, generator=_GEN)
_PIXELS = (torch.rand(24, 6, generator=_GEN) < 0.4).float()
_SCHOOL_EFFECTS = torch.tensor([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
_SCHOOL_SIGMAS = torch.tensor([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])
_MIXTURE = torch.tensor([-2.2, -1.9, 2.1, 1.8, -2.0, 2.4, 2.0, -1.7, 1.9, -2.3])


def _nn(lib: Lib) -> Any:
    return lib.mod(".nn")


def _auto(lib: Lib) -> Any:
    return lib.mod(".infer.autoguide")


def _bayesian_regression(lib: Lib) -> Any:
    pyro, dist, nn = lib.pyro, lib.dist, _nn(lib)

    class BayesianRegression(nn.PyroModule):
        def __init__(self, in_features: int, out_features: int) -> None:
            super().__init__()
            self.linear = nn.PyroModule[torch.nn.Linear](in_features, out_features)
            self.linear.weight = nn.PyroSample(
                dist.Normal(0.0, 1.0).expand([out_features, in_features]).to_event(2)
            )
            self.linear.bias = nn.PyroSample(
                dist.Normal(0.0, 10.0).expand([out_features]).to_event(1)
            )

        def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
            sigma = pyro.sample("sigma", dist.Uniform(0.0, 10.0))
            mean = self.linear(x).squeeze(-1)
            with pyro.plate("data", x.shape[0]):
                pyro.sample("obs", dist.Normal(mean, sigma), obs=y)
            return mean

    return BayesianRegression(3, 1)


def _eight_schools(lib: Lib, lognormal_tau: bool = False) -> Any:
    # lognormal_tau: a prior with a finite mean (the effect-based guides start
    # from the prior's mean).
    pyro, dist = lib.pyro, lib.dist

    def model(sigma: torch.Tensor, y: torch.Tensor | None = None) -> None:
        mu = pyro.sample("mu", dist.Normal(0.0, 5.0))
        tau_prior = dist.LogNormal(1.0, 0.5) if lognormal_tau else dist.HalfCauchy(5.0)
        tau = pyro.sample("tau", tau_prior)
        with pyro.plate("schools", len(sigma)):
            theta = pyro.sample("theta", dist.Normal(mu, tau))
            pyro.sample("obs", dist.Normal(theta, sigma), obs=y)

    return model


def _train(lib: Lib, model: Any, guide: Any, steps: int, lr: float = 0.05) -> list[float]:
    pyro = lib.pyro
    svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": lr}), pyro.infer.Trace_ELBO())
    return [svi.step(_SCHOOL_SIGMAS, _SCHOOL_EFFECTS) for _ in range(steps)]


def _tiny_svi(lib: Lib, optim: Any, steps: int = 6, scheduler_step: bool = False) -> Any:
    pyro, dist = lib.pyro, lib.dist

    def model() -> None:
        z = pyro.sample("z", dist.Normal(torch.zeros(3), 1.0).to_event(1))
        pyro.sample("x", dist.Normal(z, 0.5).to_event(1), obs=torch.tensor([0.5, -0.3, 1.2]))

    def guide() -> None:
        loc = pyro.param("loc", torch.zeros(3))
        scale = pyro.param("scale", torch.ones(3), constraint=dist.constraints.positive)
        pyro.sample("z", dist.Normal(loc, scale).to_event(1))

    svi = pyro.infer.SVI(model, guide, optim, pyro.infer.Trace_ELBO())
    losses = []
    for _ in range(steps):
        losses.append(svi.step())
        if scheduler_step:
            optim.step()
    return losses


#: The tutorial-style programs that show an error a user meets; every other one
#: must run in Pyro (two libraries failing alike would otherwise pass unseen).
RAISES_IN_PYRO = frozenset(
    {"held_out_autonormal_refuses_discrete_latent", "held_out_mean_field_entropy_of_plated_sites"}
)
