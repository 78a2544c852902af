"""Realistic user programs, written as a Pyro user would, run in both libraries.

A small stand-in for issue 10's held-out suite: Bayesian regression trained with
SVI and queried with ``Predictive``, an importance-sampling posterior read with
``EmpiricalMarginal``, a mixture trained with ``TraceGraph_ELBO`` and baselines,
a time series with ``markov``, ``condition``/``do``/``block`` combinations, SVI
with every optimizer and with learning-rate schedulers, and a param store saved
and loaded.  Each program returns what its user would look at (losses, params,
predictions); ``test_documented_examples.py`` compares them across libraries.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import torch
from differential import Lib
from zoo_documented import example

# Regression data made once (not from the global generator the programs share).
_GEN = torch.Generator().manual_seed(7)
_X = torch.randn(30, 2, generator=_GEN)
_Y = _X @ torch.tensor([1.5, -0.7]) + 0.3 + 0.2 * torch.randn(30, generator=_GEN)


def _regression(lib: Lib) -> tuple[Any, Any]:
    pyro, dist = lib.pyro, lib.dist
    positive = dist.constraints.positive

    def model(x: torch.Tensor, y: torch.Tensor | None = None) -> Any:
        weight = pyro.sample("weight", dist.Normal(torch.zeros(2), 2.0).to_event(1))
        bias = pyro.sample("bias", dist.Normal(0.0, 2.0))
        noise = pyro.sample("noise", dist.HalfNormal(1.0))
        with pyro.plate("rows", x.shape[0]):
            mean = pyro.deterministic("mean", x @ weight + bias)
            return pyro.sample("y", dist.Normal(mean, noise), obs=y)

    def guide(x: torch.Tensor, y: torch.Tensor | None = None) -> None:
        w_loc = pyro.param("w_loc", torch.zeros(2))
        w_scale = pyro.param("w_scale", torch.full((2,), 0.5), constraint=positive)
        pyro.sample("weight", dist.Normal(w_loc, w_scale).to_event(1))
        pyro.sample("bias", dist.Normal(pyro.param("b_loc", torch.tensor(0.0)), 0.3))
        noise_loc = pyro.param("noise_loc", torch.tensor(-1.0))
        pyro.sample("noise", dist.LogNormal(noise_loc, 0.2))

    return model, guide


@example
def held_out_bayesian_regression_with_predictive(lib: Lib) -> Any:
    pyro = lib.pyro
    model, guide = _regression(lib)
    svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": 0.05}), pyro.infer.Trace_ELBO())
    losses = [svi.step(_X, _Y) for _ in range(25)]
    predictive = pyro.infer.Predictive(
        model, guide=guide, num_samples=10, return_sites=("weight", "mean", "y")
    )
    draws = predictive(_X[:4])
    return losses, dict(pyro.get_param_store().items()), draws


@example
def held_out_importance_posterior_marginals(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    flips = torch.tensor([1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0])

    def model(data: torch.Tensor) -> None:
        bias = pyro.sample("bias", dist.Beta(1.0, 1.0))
        with pyro.plate("flips", len(data)):
            pyro.sample("obs", dist.Bernoulli(bias), obs=data)

    def guide(data: torch.Tensor) -> None:
        pyro.sample("bias", dist.Beta(6.0, 3.0))

    posterior = pyro.infer.Importance(model, guide, num_samples=400).run(flips)
    marginal = pyro.infer.EmpiricalMarginal(posterior, sites="bias")
    both = pyro.infer.abstract_infer.Marginals(posterior, sites=["bias"])
    return (
        marginal.mean,
        marginal.variance,
        posterior.get_ESS(),
        both.empirical["bias"].mean,
        marginal.sample((3,)),
    )


@example
def held_out_mixture_with_tracegraph_and_baselines(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    data = torch.tensor([-2.1, -1.8, -2.4, 1.9, 2.2, 2.0, -1.7, 2.3])
    constraints = dist.constraints

    def model(data: torch.Tensor) -> None:
        locs = pyro.sample("locs", dist.Normal(torch.tensor([-1.0, 1.0]), 2.0).to_event(1))
        with pyro.plate("points", len(data)):
            which = pyro.sample("which", dist.Categorical(torch.tensor([0.5, 0.5])))
            pyro.sample("obs", dist.Normal(locs[which], 0.5), obs=data)

    def guide(data: torch.Tensor) -> None:
        loc_q = pyro.param("loc_q", torch.tensor([-0.5, 0.5]))
        pyro.sample("locs", dist.Normal(loc_q, 0.3).to_event(1))
        probs = pyro.param(
            "assign", torch.full((len(data), 2), 0.5), constraint=constraints.simplex
        )
        baseline = {"use_decaying_avg_baseline": True, "baseline_beta": 0.9}
        with pyro.plate("points", len(data)):
            pyro.sample("which", dist.Categorical(probs), infer={"baseline": baseline})

    elbo = pyro.infer.TraceGraph_ELBO(num_particles=2)
    svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": 0.05}), elbo)
    losses = [svi.step(data) for _ in range(15)]
    return losses, sorted(pyro.get_param_store().keys()), pyro.param("loc_q")


@example
def held_out_random_walk_with_markov(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    readings = torch.tensor([0.2, 0.5, 0.4, 0.9, 1.3, 1.1])

    def model(readings: torch.Tensor) -> None:
        drift = pyro.sample("drift", dist.Normal(0.0, 0.5))
        level = torch.tensor(0.0)
        for t in pyro.markov(range(len(readings))):
            level = pyro.sample(f"level_{t}", dist.Normal(level + drift, 0.3))
            pyro.sample(f"reading_{t}", dist.Normal(level, 0.2), obs=readings[t])

    def guide(readings: torch.Tensor) -> None:
        pyro.sample("drift", dist.Normal(pyro.param("drift_loc", torch.tensor(0.0)), 0.2))
        locs = pyro.param("level_locs", torch.zeros(len(readings)))
        for t in pyro.markov(range(len(readings))):
            pyro.sample(f"level_{t}", dist.Normal(locs[t], 0.2))

    optim = pyro.optim.ClippedAdam({"lr": 0.05})
    svi = pyro.infer.SVI(model, guide, optim, pyro.infer.Trace_ELBO())
    losses = [svi.step(readings) for _ in range(15)]
    tr = pyro.poutine.trace(guide).get_trace(readings)
    return losses, pyro.param("level_locs"), tr


@example
def held_out_condition_do_block_combinations(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine

    def model() -> Any:
        season = pyro.sample("season", dist.Bernoulli(0.3))
        rain = pyro.sample("rain", dist.Normal(2.0 * season, 1.0))
        sprinkler = pyro.sample("sprinkler", dist.Normal(1.0 - season, 1.0))
        return pyro.sample("wet", dist.Normal(rain + sprinkler, 0.5))

    observed = poutine.condition(model, data={"wet": torch.tensor(2.5)})
    intervened = poutine.do(observed, data={"sprinkler": torch.tensor(0.0)})
    hidden = poutine.block(intervened, hide=["season"])
    outer = poutine.trace(hidden).get_trace()
    inner = poutine.trace(poutine.block(poutine.trace(intervened), expose=["rain"])).get_trace()
    replayed = poutine.trace(poutine.replay(observed, trace=outer)).get_trace()
    return outer, inner, replayed, outer.log_prob_sum()


def _optimizer_svi(lib: Lib, make_optim: Any, steps: int = 4) -> Any:
    pyro, dist = lib.pyro, lib.dist

    def model() -> None:
        z = pyro.sample("z", dist.Normal(torch.zeros(2, 2), 1.0).to_event(2))
        pyro.sample("x", dist.Normal(z.sum(), 1.0), obs=torch.tensor(1.5))

    def guide() -> None:
        loc = pyro.param("loc", torch.full((2, 2), 0.1))
        scale = pyro.param("scale", torch.ones(2, 2), constraint=dist.constraints.positive)
        pyro.sample("z", dist.Normal(loc, scale).to_event(2))

    optim = make_optim()
    svi = pyro.infer.SVI(model, guide, optim, pyro.infer.Trace_ELBO())
    losses = []
    for _ in range(steps):
        losses.append(svi.step())
        if hasattr(optim, "step"):  # a learning-rate scheduler
            optim.step()
    return losses, pyro.param("loc"), pyro.param("scale")


#: optimizer name -> its options; every optimizer wrapper both libraries export.
_OPTIMIZERS = {
    "ASGD": {"lr": 0.05},
    "Adadelta": {"lr": 0.5},
    "Adafactor": {"lr": 0.05},
    "Adagrad": {"lr": 0.05},
    "AdagradRMSProp": {"eta": 0.5},
    "Adam": {"lr": 0.05},
    "AdamW": {"lr": 0.05},
    "Adamax": {"lr": 0.05},
    "ClippedAdam": {"lr": 0.05, "clip_norm": 1.0, "lrd": 0.99},
    "DCTAdam": {"lr": 0.05},
    "Muon": {"lr": 0.05},
    "NAdam": {"lr": 0.05},
    "RAdam": {"lr": 0.05},
    "RMSprop": {"lr": 0.05},
    "Rprop": {"lr": 0.05},
    "SGD": {"lr": 0.05, "momentum": 0.9},
}


@example
def held_out_svi_with_every_optimizer(lib: Lib) -> Any:
    out = {}
    for name, options in _OPTIMIZERS.items():
        lib.pyro.clear_param_store()
        lib.pyro.set_rng_seed(0)
        make = getattr(lib.pyro.optim, name)
        out[name] = _optimizer_svi(lib, lambda make=make, options=options: make(dict(options)))
    return out


@example
def held_out_svi_with_lr_schedulers(lib: Lib) -> Any:
    optim = lib.pyro.optim
    sgd = {"optimizer": torch.optim.SGD, "optim_args": {"lr": 0.1}}
    schedulers = {
        "ExponentialLR": lambda: optim.ExponentialLR({**sgd, "gamma": 0.5}),
        "StepLR": lambda: optim.StepLR({**sgd, "step_size": 2, "gamma": 0.1}),
        "MultiStepLR": lambda: optim.MultiStepLR({**sgd, "milestones": [1, 3], "gamma": 0.5}),
        "CosineAnnealingLR": lambda: optim.CosineAnnealingLR({**sgd, "T_max": 3}),
        "LinearLR": lambda: optim.LinearLR({**sgd, "start_factor": 0.5, "total_iters": 2}),
        "OneCycleLR": lambda: optim.OneCycleLR({**sgd, "max_lr": 0.2, "total_steps": 10}),
    }
    out = {}
    for name, make in schedulers.items():
        lib.pyro.clear_param_store()
        lib.pyro.set_rng_seed(0)
        out[name] = _optimizer_svi(lib, make)
    return out


@example
def held_out_param_store_save_and_load(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    positive = dist.constraints.positive
    pyro.param("rate", torch.tensor([0.5, 2.0]), constraint=positive)
    pyro.param("probs", torch.tensor([0.2, 0.3, 0.5]), constraint=dist.constraints.simplex)
    pyro.module("layer", torch.nn.Linear(2, 2))
    store = pyro.get_param_store()
    state = store.get_state()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "params.pt")
        store.save(path)
        pyro.clear_param_store()
        empty = list(store.keys())
        store.load(path)
    loaded = dict(store.items())
    store["rate"] = torch.tensor([3.0, 4.0])
    store.set_state(state)
    restored = pyro.param("rate")
    return empty, sorted(loaded), loaded["probs"], restored, sorted(state["params"])


def _elbo_runs(lib: Lib, names: tuple[str, ...]) -> Any:
    pyro, dist = lib.pyro, lib.dist

    def model() -> None:
        z = pyro.sample("z", dist.Normal(0.0, 1.0))
        with pyro.plate("data", 3):
            pyro.sample("x", dist.Normal(z, 1.0), obs=torch.tensor([0.3, 0.9, 0.6]))

    def guide() -> None:
        loc = pyro.param("q_loc", torch.tensor(0.0))
        pyro.sample("z", dist.Normal(loc, 0.7))

    out = {}
    for name in names:
        pyro.clear_param_store()
        pyro.set_rng_seed(0)
        elbo = getattr(pyro.infer, name)()
        svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": 0.1}), elbo)
        out[name] = ([svi.step() for _ in range(5)], pyro.param("q_loc"))
    return out


@example
def held_out_mean_field_elbo(lib: Lib) -> Any:
    return _elbo_runs(lib, ("TraceMeanField_ELBO", "Trace_ELBO"))


@example
def held_out_jit_elbos(lib: Lib) -> Any:
    return _elbo_runs(lib, ("JitTrace_ELBO", "JitTraceGraph_ELBO", "JitTraceMeanField_ELBO"))
