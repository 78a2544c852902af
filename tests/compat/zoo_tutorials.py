"""Programs in the style of Pyro's tutorials, run in both libraries.

Each program is what a Pyro 1.9.2 user writes after the introductory tutorials
(SVI parts I--III, Bayesian regression, the VAE, eight schools with autoguides,
mixtures with baselines, handlers, traces, the param store, optimizers and
schedulers, ``PyroModule``), written here with its own models and data; it
returns what its user looks at (losses, params, posterior summaries, draws,
traces).  ``test_documented_examples.py`` compares them across libraries.
"""

from __future__ import annotations

import io
import os
import tempfile
import warnings
from typing import Any

import torch
from differential import Lib
from zoo_documented import example

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


# -- SVI parts I-III -----------------------------------------------------------------


@example
def held_out_coin_fairness_with_beta_guide(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    constraints = dist.constraints

    def model(data: torch.Tensor) -> None:
        fairness = pyro.sample("latent_fairness", dist.Beta(10.0, 10.0))
        for i in range(len(data)):
            pyro.sample(f"obs_{i}", dist.Bernoulli(fairness), obs=data[i])

    def guide(data: torch.Tensor) -> None:
        alpha_q = pyro.param("alpha_q", torch.tensor(15.0), constraint=constraints.positive)
        beta_q = pyro.param("beta_q", torch.tensor(15.0), constraint=constraints.positive)
        pyro.sample("latent_fairness", dist.Beta(alpha_q, beta_q))

    adam = pyro.optim.Adam({"lr": 0.0005, "betas": (0.90, 0.999)})
    svi = pyro.infer.SVI(model, guide, adam, loss=pyro.infer.Trace_ELBO())
    losses = [svi.step(_FLIPS) for _ in range(20)]
    alpha_q, beta_q = pyro.param("alpha_q").item(), pyro.param("beta_q").item()
    mean = alpha_q / (alpha_q + beta_q)
    predictive = pyro.infer.Predictive(model, guide=guide, num_samples=5)
    return losses, alpha_q, beta_q, mean, predictive(_FLIPS)


@example
def held_out_svi_evaluate_loss_and_interval_param(lib: Lib) -> Any:
    # A param constrained to an interval, the guide read with svi.evaluate_loss
    # and an ELBO's own loss / loss_and_grads.
    pyro, dist = lib.pyro, lib.dist
    constraints = dist.constraints

    def model(data: torch.Tensor) -> None:
        p = pyro.sample("p", dist.Uniform(0.0, 1.0))
        with pyro.plate("flips", len(data)):
            pyro.sample("obs", dist.Bernoulli(p), obs=data)

    def guide(data: torch.Tensor) -> None:
        centre = pyro.param("centre", torch.tensor(0.5), constraint=constraints.unit_interval)
        width = pyro.param(
            "width", torch.tensor(0.1), constraint=constraints.interval(0.01, 0.3)
        )
        low = (centre - width).clamp(min=1e-3)
        pyro.sample("p", dist.Uniform(low, (centre + width).clamp(max=1 - 1e-3)))

    elbo = pyro.infer.Trace_ELBO()
    svi = pyro.infer.SVI(model, guide, pyro.optim.SGD({"lr": 0.001}), loss=elbo)
    losses = [svi.step(_FLIPS) for _ in range(5)]
    evaluated = svi.evaluate_loss(_FLIPS)
    plain = elbo.loss(model, guide, _FLIPS)
    with_grads = elbo.loss_and_grads(model, guide, _FLIPS)
    unconstrained = pyro.get_param_store().get_param("width").unconstrained()
    return losses, evaluated, plain, with_grads, pyro.param("centre"), unconstrained


# -- Bayesian regression with PyroModule ------------------------------------------------


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


@example
def held_out_regression_pyromodule_autodiagonal_predictive(lib: Lib) -> Any:
    pyro, auto = lib.pyro, _auto(lib)
    model = _bayesian_regression(lib)
    guide = auto.AutoDiagonalNormal(model)
    svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": 0.03}), pyro.infer.Trace_ELBO())
    losses = [svi.step(_X, _Y) for _ in range(30)]
    store = pyro.get_param_store()
    names = [(name, tuple(value.shape)) for name, value in store.items()]
    quantiles = guide.quantiles([0.25, 0.5, 0.75])
    predictive = pyro.infer.Predictive(
        model, guide=guide, num_samples=8, return_sites=("linear.weight", "obs", "_RETURN")
    )
    draws = predictive(_X[:5])
    return losses, names, quantiles, draws, guide.get_posterior().loc


@example
def held_out_regression_pyromodule_autonormal_trained_module(lib: Lib) -> Any:
    # The tutorial's evaluation: the guide's medians, then the model conditioned
    # on them and run with poutine.trace.
    pyro, auto, poutine = lib.pyro, _auto(lib), lib.poutine
    model = _bayesian_regression(lib)
    guide = auto.AutoNormal(model, init_scale=0.05)
    svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": 0.05}), pyro.infer.Trace_ELBO())
    losses = [svi.step(_X, _Y) for _ in range(25)]
    median = guide.median()
    conditioned = poutine.condition(model, data=median)
    tr = poutine.trace(conditioned).get_trace(_X[:4])
    names = list(pyro.get_param_store().keys())
    return losses, median, tr, names, guide(_X, _Y)


# -- a VAE with nn.Modules and a subsampled plate -----------------------------------------


class _Encoder(torch.nn.Module):
    def __init__(self, pixels: int, hidden: int, latent: int) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(pixels, hidden)
        self.loc = torch.nn.Linear(hidden, latent)
        self.scale = torch.nn.Linear(hidden, latent)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.nn.functional.softplus(self.fc(x))
        return self.loc(h), torch.exp(self.scale(h))


class _Decoder(torch.nn.Module):
    def __init__(self, latent: int, hidden: int, pixels: int) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(latent, hidden)
        self.out = torch.nn.Linear(hidden, pixels)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.out(torch.nn.functional.softplus(self.fc(z))))


@example
def held_out_vae_minibatch_with_registered_modules(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    torch.manual_seed(5)
    encoder, decoder = _Encoder(6, 8, 2), _Decoder(2, 8, 6)
    size = len(_PIXELS)

    def model(x: torch.Tensor) -> torch.Tensor:
        pyro.module("decoder", decoder)
        with pyro.plate("data", size, subsample_size=8) as idx:
            batch = x[idx]
            z_loc = torch.zeros(len(idx), 2)
            z = pyro.sample("latent", dist.Normal(z_loc, torch.ones_like(z_loc)).to_event(1))
            probs = decoder(z)
            pyro.sample("obs", dist.Bernoulli(probs).to_event(1), obs=batch)
        return probs

    def guide(x: torch.Tensor) -> None:
        pyro.module("encoder", encoder)
        with pyro.plate("data", size, subsample_size=8) as idx:
            z_loc, z_scale = encoder(x[idx])
            pyro.sample("latent", dist.Normal(z_loc, z_scale).to_event(1))

    optim = pyro.optim.Adam({"lr": 0.01})
    svi = pyro.infer.SVI(model, guide, optim, loss=pyro.infer.Trace_ELBO())
    losses = [svi.step(_PIXELS) for _ in range(10)]
    names = sorted(pyro.get_param_store().keys())
    guide_tr = pyro.poutine.trace(guide).get_trace(_PIXELS)
    model_tr = pyro.poutine.trace(pyro.poutine.replay(model, trace=guide_tr)).get_trace(_PIXELS)
    return losses, names, guide_tr, model_tr


# -- eight schools with autoguides ---------------------------------------------------------


def _eight_schools(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist

    def model(sigma: torch.Tensor, y: torch.Tensor | None = None) -> None:
        mu = pyro.sample("mu", dist.Normal(0.0, 5.0))
        tau = pyro.sample("tau", dist.HalfCauchy(5.0))
        with pyro.plate("schools", len(sigma)):
            theta = pyro.sample("theta", dist.Normal(mu, tau))
            pyro.sample("obs", dist.Normal(theta, sigma), obs=y)

    return model


def _train(lib: Lib, model: Any, guide: Any, steps: int, lr: float = 0.05) -> list[float]:
    pyro = lib.pyro
    svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": lr}), pyro.infer.Trace_ELBO())
    return [svi.step(_SCHOOL_SIGMAS, _SCHOOL_EFFECTS) for _ in range(steps)]


@example
def held_out_eight_schools_autonormal_init_to_median(lib: Lib) -> Any:
    auto = _auto(lib)
    model = _eight_schools(lib)
    guide = auto.AutoNormal(model, init_loc_fn=auto.init_to_median(num_samples=20))
    losses = _train(lib, model, guide, 15)
    store = lib.pyro.get_param_store()
    return (
        losses,
        [(k, tuple(v.shape)) for k, v in store.items()],
        guide.median(),
        guide.quantiles([0.05, 0.95]),
        guide.locs.theta,
        guide.scales.tau,
    )


@example
def held_out_eight_schools_autodelta_init_to_value(lib: Lib) -> Any:
    auto = _auto(lib)
    model = _eight_schools(lib)
    init = auto.init_to_value(values={"mu": torch.tensor(4.0), "tau": torch.tensor(3.0)})
    guide = auto.AutoDelta(model, init_loc_fn=init)
    losses = _train(lib, model, guide, 15)
    return losses, guide.median(), dict(lib.pyro.get_param_store().items())


@example
def held_out_eight_schools_lowrank_mvn(lib: Lib) -> Any:
    auto = _auto(lib)
    model = _eight_schools(lib)
    guide = auto.AutoLowRankMultivariateNormal(model, rank=2, init_scale=0.05)
    losses = _train(lib, model, guide, 15, lr=0.02)
    posterior = guide.get_posterior()
    store = lib.pyro.get_param_store()
    return (
        losses,
        [(k, tuple(v.shape)) for k, v in store.items()],
        type(posterior).__name__,
        posterior.loc,
        guide.median(),
        guide.sample_posterior() if hasattr(guide, "sample_posterior") else None,
    )


@example
def held_out_eight_schools_guide_list_delta_and_normal(lib: Lib) -> Any:
    auto, poutine = _auto(lib), lib.poutine
    model = _eight_schools(lib)
    guide = auto.AutoGuideList(model)
    guide.append(auto.AutoDelta(poutine.block(model, expose=["mu", "tau"])))
    guide.append(auto.AutoNormal(poutine.block(model, hide=["mu", "tau"])))
    losses = _train(lib, model, guide, 12)
    draws = guide(_SCHOOL_SIGMAS, _SCHOOL_EFFECTS)
    return losses, sorted(draws), guide.median(), list(lib.pyro.get_param_store().keys())


@example
def held_out_eight_schools_laplace_approximation(lib: Lib) -> Any:
    auto = _auto(lib)
    model = _eight_schools(lib)
    guide = auto.AutoLaplaceApproximation(model)
    losses = _train(lib, model, guide, 20)
    laplace = guide.laplace_approximation(_SCHOOL_SIGMAS, _SCHOOL_EFFECTS)
    return losses, type(laplace).__name__, laplace.get_posterior().loc, laplace.median()


# -- a mixture with a discrete assignment and baselines ---------------------------------------


class _BaselineNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.unsqueeze(-1)).squeeze(-1)


@example
def held_out_gmm_tracegraph_with_nn_baseline(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    constraints = dist.constraints
    torch.manual_seed(2)
    net = _BaselineNet()

    def model(data: torch.Tensor) -> None:
        weights = pyro.sample("weights", dist.Dirichlet(torch.ones(2)))
        locs = pyro.sample("locs", dist.Normal(0.0, 5.0).expand([2]).to_event(1))
        with pyro.plate("points", len(data)):
            assignment = pyro.sample("assignment", dist.Categorical(weights))
            pyro.sample("obs", dist.Normal(locs[assignment], 0.5), obs=data)

    def guide(data: torch.Tensor) -> None:
        conc = pyro.param("conc", torch.ones(2), constraint=constraints.positive)
        pyro.sample("weights", dist.Dirichlet(conc))
        loc_q = pyro.param("loc_q", torch.tensor([-1.0, 1.0]))
        pyro.sample("locs", dist.Normal(loc_q, 0.2).to_event(1))
        probs = pyro.param(
            "probs_q", torch.full((len(data), 2), 0.5), constraint=constraints.simplex
        )
        baseline = {"nn_baseline": net, "nn_baseline_input": data}
        with pyro.plate("points", len(data)):
            pyro.sample("assignment", dist.Categorical(probs), infer={"baseline": baseline})

    svi = pyro.infer.SVI(
        model, guide, pyro.optim.Adam({"lr": 0.05}), pyro.infer.TraceGraph_ELBO()
    )
    losses = [svi.step(_MIXTURE) for _ in range(8)]
    return losses, sorted(pyro.get_param_store().keys()), pyro.param("loc_q")


# -- handlers, traces ---------------------------------------------------------------------


@example
def held_out_handlers_condition_scale_mask_block(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    readings = torch.tensor([1.2, 0.8, 1.9, 1.4])
    keep = torch.tensor([True, True, False, True])

    def model(readings: torch.Tensor) -> torch.Tensor:
        level = pyro.sample("level", dist.Normal(1.0, 1.0))
        noise = pyro.sample("noise", dist.Gamma(2.0, 4.0))
        with pyro.plate("readings", len(readings)), poutine.mask(mask=keep):
            pyro.sample("reading", dist.Normal(level, noise), obs=readings)
        return level

    fixed = poutine.condition(model, data={"noise": torch.tensor(0.5)})
    scaled = poutine.scale(fixed, scale=2.0)
    tr = poutine.trace(scaled).get_trace(readings)
    tr.compute_log_prob()
    hidden = poutine.trace(poutine.block(scaled, hide_types=["observe"])).get_trace(readings)
    intervened = poutine.trace(poutine.do(model, data={"level": torch.tensor(0.0)}))
    return tr, tr.log_prob_sum(), list(hidden.nodes), intervened.get_trace(readings)


@example
def held_out_trace_inspection_and_format_shapes(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine

    def model(data: torch.Tensor) -> None:
        scale = pyro.param("scale", torch.ones(3), constraint=dist.constraints.positive)
        with pyro.plate("groups", 3, dim=-2):
            loc = pyro.sample("loc", dist.Normal(0.0, 1.0))
            with pyro.plate("items", data.shape[-1], dim=-1):
                pyro.sample("x", dist.Normal(loc, scale.unsqueeze(-1)), obs=data)
        pyro.deterministic("total", loc.sum())

    data = torch.arange(12.0).reshape(3, 4) / 10
    tr = poutine.trace(model).get_trace(data)
    tr.compute_log_prob()
    shapes = tr.format_shapes()
    sites = [
        (name, site["type"], tuple(site["value"].shape), site["is_observed"])
        for name, site in tr.nodes.items()
        if site["type"] in ("sample", "param")
    ]
    return (
        shapes,
        sites,
        tr.stochastic_nodes,
        tr.observation_nodes,
        tr.param_nodes,
        [name for name, _ in tr.iter_stochastic_nodes()],
        tr.log_prob_sum(),
        tr.nodes["x"]["log_prob"].shape,
    )


@example
def held_out_markov_loop_with_sequential_plate(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    series = torch.tensor([[0.1, 0.3, 0.2, 0.6], [1.0, 0.8, 1.1, 0.9]])

    def model(series: torch.Tensor) -> Any:
        rho = pyro.sample("rho", dist.Uniform(-1.0, 1.0))
        states = []
        for i in pyro.plate("series", len(series)):
            state = torch.tensor(0.0)
            for t in pyro.markov(range(series.shape[1])):
                state = pyro.sample(f"state_{i}_{t}", dist.Normal(rho * state, 1.0))
                pyro.sample(f"y_{i}_{t}", dist.Normal(state, 0.1), obs=series[i, t])
            states.append(state)
        return torch.stack(states)

    tr = pyro.poutine.trace(model).get_trace(series)
    return tr, [str(f.name) for f in tr.nodes["state_1_2"]["cond_indep_stack"]]


# -- param store, reproducibility, optimizers ---------------------------------------------------


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


@example
def held_out_seed_reproducibility_and_clear_param_store(lib: Lib) -> Any:
    pyro = lib.pyro
    runs = []
    for _ in range(2):
        pyro.clear_param_store()
        pyro.set_rng_seed(123)
        runs.append((_tiny_svi(lib, pyro.optim.Adam({"lr": 0.1})), pyro.param("loc")))
    state = pyro.util.get_rng_state()
    first = torch.randn(2)
    pyro.util.set_rng_state(state)
    again = torch.randn(2)
    return runs, bool(runs[0][0] == runs[1][0]), first, again


@example
def held_out_clipped_adam_and_exponential_lr_state(lib: Lib) -> Any:
    pyro = lib.pyro
    clipped = pyro.optim.ClippedAdam({"lr": 0.1, "clip_norm": 5.0, "lrd": 0.9, "betas": (0.9, 0.99)})
    clipped_losses = _tiny_svi(lib, clipped)
    clipped_state = clipped.get_state()
    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    scheduler = pyro.optim.ExponentialLR(
        {"optimizer": torch.optim.Adam, "optim_args": {"lr": 0.1}, "gamma": 0.8}
    )
    sched_losses = _tiny_svi(lib, scheduler, scheduler_step=True)
    lrs = {name: opt.param_groups[0]["lr"] for name, opt in scheduler.optim_objs.items()}
    return (
        clipped_losses,
        sorted(clipped_state),
        sched_losses,
        lrs,
        pyro.optim.optim.is_scheduler(scheduler),
        pyro.optim.optim.is_scheduler(clipped),
    )


@example
def held_out_optimizer_state_save_and_load_resumes(lib: Lib) -> Any:
    # Checkpoint the param store and the optimizer, keep training, then restore
    # both and train again: the resumed losses repeat the first ones.
    pyro = lib.pyro
    adam = pyro.optim.Adam({"lr": 0.05})
    first = _tiny_svi(lib, adam, steps=3)
    store = pyro.get_param_store()
    with tempfile.TemporaryDirectory() as folder:
        optim_path = os.path.join(folder, "optim.pt")
        store_path = os.path.join(folder, "store.pt")
        adam.save(optim_path)
        store.save(store_path)
        rng = pyro.util.get_rng_state()
        after = _tiny_svi(lib, adam, steps=3)
        pyro.clear_param_store()
        store.load(store_path)
        fresh = pyro.optim.Adam({"lr": 0.05})
        fresh.load(optim_path)
        pyro.util.set_rng_state(rng)
        resumed = _tiny_svi(lib, fresh, steps=3)
    state = fresh.get_state()
    steps = {name: s["state"][0]["step"] for name, s in state.items()}
    return first, after, resumed, sorted(state), steps


@example
def held_out_optimizer_state_loaded_before_first_step(lib: Lib) -> Any:
    # get_state between load and the first step (see DIFFERENCES).
    pyro = lib.pyro
    adam = pyro.optim.Adam({"lr": 0.05})
    _tiny_svi(lib, adam, steps=2)
    fresh = pyro.optim.Adam({"lr": 0.05})
    fresh.set_state(adam.get_state())
    return sorted(fresh.get_state())


@example
def held_out_param_store_state_with_pyromodule(lib: Lib) -> Any:
    pyro, dist, nn = lib.pyro, lib.dist, _nn(lib)
    torch.manual_seed(4)

    class Scaler(nn.PyroModule):
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.PyroModule[torch.nn.Linear](2, 1)
            self.gain = nn.PyroParam(torch.tensor([1.5]), constraint=dist.constraints.positive)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.gain * self.linear(x)

    module = Scaler()
    out = module(torch.ones(4, 2))
    store = pyro.get_param_store()
    state = store.get_state()
    names = list(store.keys())
    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "store.pt")
        pyro.get_param_store().save(path)
        pyro.clear_param_store()
        cleared = list(store.keys())
        pyro.get_param_store().load(path)
    reloaded = [(k, tuple(v.shape)) for k, v in store.items()]
    store.set_state(state)
    return out, names, cleared, reloaded, store.get_param("gain"), sorted(state["constraints"])


# -- importance, util helpers, validation ------------------------------------------------------


@example
def held_out_importance_with_guide_two_site_marginal(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist

    def model(data: torch.Tensor) -> None:
        loc = pyro.sample("loc", dist.Normal(0.0, 2.0))
        log_scale = pyro.sample("log_scale", dist.Normal(0.0, 0.5))
        with pyro.plate("data", len(data)):
            pyro.sample("obs", dist.Normal(loc, log_scale.exp()), obs=data)

    def guide(data: torch.Tensor) -> None:
        pyro.sample("loc", dist.Normal(data.mean(), 0.5))
        pyro.sample("log_scale", dist.Normal(0.0, 0.3))

    data = torch.tensor([0.4, 1.1, 0.9, 1.6, 0.7])
    importance = pyro.infer.Importance(model, guide=guide, num_samples=100)
    posterior = importance.run(data)
    joint = pyro.infer.EmpiricalMarginal(posterior, sites=["loc", "log_scale"])
    loc_only = pyro.infer.EmpiricalMarginal(posterior, sites="loc")
    return (
        joint.mean,
        joint.event_shape,
        loc_only.mean,
        loc_only.log_prob(loc_only.sample()).shape,
        posterior.get_normalized_weights().shape,
        posterior.log_weights[:3],
    )


@example
def held_out_util_helpers_and_torch_item(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    infer_util = lib.mod(".infer.util")

    def model() -> None:
        z = pyro.sample("z", dist.Normal(0.0, 1.0))
        pyro.sample("x", dist.Normal(z, 1.0), obs=torch.tensor(0.0))

    def guide() -> None:
        pyro.sample("z", dist.Normal(0.0, 1.0))

    guide_tr = poutine.trace(guide).get_trace()
    model_tr = poutine.trace(poutine.replay(model, trace=guide_tr)).get_trace()
    pyro.util.check_model_guide_match(model_tr, guide_tr)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pyro.util.warn_if_nan(torch.tensor(float("nan")), "loss")
        pyro.util.warn_if_inf(torch.tensor(float("inf")), "loss")
    return (
        infer_util.torch_item(torch.tensor(2.5)),
        infer_util.torch_item(3.0),
        [issubclass(w.category, UserWarning) for w in caught],
        infer_util.is_validation_enabled(),
    )


@example
def held_out_validation_switched_off_and_on(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist

    def model() -> Any:
        return pyro.sample("coin", dist.Bernoulli(0.5), obs=torch.tensor(0.5))

    pyro.enable_validation(False)
    off = pyro.poutine.trace(model).get_trace().log_prob_sum()
    with pyro.validation_enabled(True):
        try:
            pyro.poutine.trace(model).get_trace().log_prob_sum()
        except ValueError as e:
            on: Any = type(e).__mro__[-3].__name__ if False else "ValueError"
        else:
            on = "runs"
    still_off = pyro.infer.util.is_validation_enabled()
    pyro.enable_validation(True)
    return off, on, still_off


# -- particles, predictive, modules ------------------------------------------------------------


@example
def held_out_vectorized_particles_trace_elbo(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist

    def model(data: torch.Tensor) -> None:
        loc = pyro.sample("loc", dist.Normal(0.0, 3.0))
        with pyro.plate("data", len(data)):
            pyro.sample("obs", dist.Normal(loc, 1.0), obs=data)

    def guide(data: torch.Tensor) -> None:
        q_loc = pyro.param("q_loc", torch.tensor(0.0))
        q_scale = pyro.param("q_scale", torch.tensor(1.0), constraint=dist.constraints.positive)
        pyro.sample("loc", dist.Normal(q_loc, q_scale))

    data = torch.tensor([1.0, 1.4, 0.7, 1.9])
    out = {}
    for name in ("Trace_ELBO", "TraceGraph_ELBO", "TraceMeanField_ELBO"):
        pyro.clear_param_store()
        pyro.set_rng_seed(0)
        elbo = getattr(pyro.infer, name)(
            num_particles=10, vectorize_particles=True, max_plate_nesting=1
        )
        svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": 0.1}), elbo)
        out[name] = ([svi.step(data) for _ in range(5)], pyro.param("q_loc"))
    return out


@example
def held_out_predictive_parallel_with_autonormal(lib: Lib) -> Any:
    pyro, dist, auto = lib.pyro, lib.dist, _auto(lib)

    def model(x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        slope = pyro.sample("slope", dist.Normal(0.0, 1.0))
        intercept = pyro.sample("intercept", dist.Normal(0.0, 1.0))
        with pyro.plate("data", len(x)):
            mean = pyro.deterministic("mean", intercept + slope * x)
            pyro.sample("y", dist.Normal(mean, 0.2), obs=y)
        return mean

    x = torch.linspace(-1.0, 1.0, 6)
    y = 0.5 + 1.5 * x
    guide = auto.AutoNormal(model)
    svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": 0.05}), pyro.infer.Trace_ELBO())
    losses = [svi.step(x, y) for _ in range(10)]
    parallel = pyro.infer.Predictive(model, guide=guide, num_samples=12, parallel=True)
    serial = pyro.infer.Predictive(
        model, guide=guide, num_samples=4, return_sites=["slope", "mean", "_RETURN"]
    )
    samples = serial(x)
    from_samples = pyro.infer.Predictive(model, posterior_samples={"slope": samples["slope"]})
    return losses, parallel(x), samples, from_samples(x)


@example
def held_out_to_pyro_module_nested_sequential(lib: Lib) -> Any:
    pyro, dist, nn = lib.pyro, lib.dist, _nn(lib)
    torch.manual_seed(6)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    nn.module.to_pyro_module_(net)
    for module_name, module in net.named_modules():
        for param_name, value in list(module.named_parameters(recurse=False)):
            prior = dist.Normal(0.0, 1.0).expand(value.shape).to_event(value.dim())
            setattr(module, param_name, nn.PyroSample(prior))

    def model(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        mean = net(x).squeeze(-1)
        with pyro.plate("data", len(x)):
            pyro.sample("obs", dist.Normal(mean, 0.5), obs=y)
        return mean

    tr = pyro.poutine.trace(model).get_trace(_X[:5], _Y[:5])
    sites = [(n, tuple(s["value"].shape)) for n, s in tr.nodes.items() if s["type"] == "sample"]
    guide = _auto(lib).AutoNormal(model)
    svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": 0.01}), pyro.infer.Trace_ELBO())
    losses = [svi.step(_X, _Y) for _ in range(3)]
    return sites, type(net).__name__, type(net[0]).__name__, losses, list(pyro.get_param_store())


@example
def held_out_pyroparam_constraints_and_pyrosample_lambda(lib: Lib) -> Any:
    pyro, dist, nn = lib.pyro, lib.dist, _nn(lib)
    constraints = dist.constraints

    class Model(nn.PyroModule):
        def __init__(self) -> None:
            super().__init__()
            self.loc = nn.PyroParam(torch.zeros(2))
            self.scale = nn.PyroParam(torch.ones(2), constraint=constraints.positive)
            self.weights = nn.PyroParam(
                torch.full((2, 3), 1.0 / 3), constraint=constraints.simplex, event_dim=1
            )
            self.z = nn.PyroSample(lambda self: dist.Normal(self.loc, self.scale).to_event(1))

        def forward(self) -> torch.Tensor:
            z = self.z
            with pyro.plate("rows", 2):
                choice = pyro.sample("choice", dist.Categorical(self.weights))
            return z + choice

    model = Model()
    tr = pyro.poutine.trace(model).get_trace()
    store = pyro.get_param_store()
    params = [(k, tuple(v.shape), type(store._constraints[k]).__name__.lstrip("_")) for k in store]
    named = sorted(n for n, _ in model.named_parameters())
    return tr, params, named, model.weights, model.scale


@example
def held_out_render_model_returns_graphviz(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist

    def model(data: torch.Tensor) -> None:
        scale = pyro.param("scale", torch.tensor(1.0), constraint=dist.constraints.positive)
        loc = pyro.sample("loc", dist.Normal(0.0, 1.0))
        with pyro.plate("data", len(data)):
            pyro.sample("obs", dist.Normal(loc, scale), obs=data)

    graph = pyro.render_model(
        model, model_args=(torch.ones(3),), render_params=True, render_distributions=True
    )
    source = graph.source
    return type(graph).__name__, [w for w in ("loc", "obs", "scale", "data") if w in source]


# -- autoguides as nn.Modules, their traces ------------------------------------------------------


@example
def held_out_autoguide_traces_and_module_parameters(lib: Lib) -> Any:
    # What a user sees inspecting an autoguide: its trace (auxiliary sites,
    # Delta sites, infer dicts), its named parameters and state_dict keys.
    auto, poutine = _auto(lib), lib.poutine
    model = _eight_schools(lib)
    out = {}
    for name in ("AutoNormal", "AutoDelta", "AutoDiagonalNormal", "AutoMultivariateNormal"):
        lib.pyro.clear_param_store()
        lib.pyro.set_rng_seed(0)
        guide = getattr(auto, name)(model)
        tr = poutine.trace(guide).get_trace(_SCHOOL_SIGMAS, _SCHOOL_EFFECTS)
        out[name] = (
            tr,
            sorted(n for n, _ in guide.named_parameters()),
            sorted(guide.state_dict()),
            sorted(lib.pyro.get_param_store().keys()),
        )
    return out


@example
def held_out_autonormal_subsampled_local_latents(lib: Lib) -> Any:
    pyro, dist, auto = lib.pyro, lib.dist, _auto(lib)
    data = torch.linspace(-1.0, 2.0, 12)

    def model(data: torch.Tensor) -> None:
        mu = pyro.sample("mu", dist.Normal(0.0, 3.0))
        with pyro.plate("points", len(data), subsample_size=4) as idx:
            local = pyro.sample("local", dist.Normal(mu, 1.0))
            pyro.sample("obs", dist.Normal(local, 0.5), obs=data[idx])

    guide = auto.AutoNormal(model)
    svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": 0.05}), pyro.infer.Trace_ELBO())
    losses = [svi.step(data) for _ in range(6)]
    tr = pyro.poutine.trace(guide).get_trace(data)
    return losses, [(k, tuple(v.shape)) for k, v in pyro.get_param_store().items()], tr


@example
def held_out_kl_annealing_with_scale_and_mean_field(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    data = torch.tensor([0.9, 1.3, 0.4, 1.1])

    def model(data: torch.Tensor, annealing: float = 1.0) -> None:
        with poutine.scale(scale=annealing):
            z = pyro.sample("z", dist.Normal(0.0, 1.0))
        with pyro.plate("data", len(data)):
            pyro.sample("obs", dist.Normal(z, 1.0), obs=data)

    def guide(data: torch.Tensor, annealing: float = 1.0) -> None:
        loc = pyro.param("loc", torch.tensor(0.0))
        scale = pyro.param("scale", torch.tensor(1.0), constraint=dist.constraints.positive)
        with poutine.scale(scale=annealing):
            pyro.sample("z", dist.Normal(loc, scale))

    svi = pyro.infer.SVI(
        model, guide, pyro.optim.Adam({"lr": 0.1}), pyro.infer.TraceMeanField_ELBO()
    )
    losses = [svi.step(data, annealing=min(1.0, 0.2 + 0.2 * t)) for t in range(6)]
    return losses, pyro.param("loc"), pyro.param("scale")


@example
def held_out_map_with_delta_guide_and_callable_param_init(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    counts = torch.tensor([3.0, 5.0, 2.0, 4.0, 6.0])

    def model(counts: torch.Tensor) -> None:
        rate = pyro.sample("rate", dist.Gamma(2.0, 0.5))
        with pyro.plate("days", len(counts)):
            pyro.sample("count", dist.Poisson(rate), obs=counts)

    def guide(counts: torch.Tensor) -> None:
        rate_map = pyro.param(
            "rate_map", lambda: counts.mean().clone(), constraint=dist.constraints.positive
        )
        pyro.sample("rate", dist.Delta(rate_map))

    svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": 0.1}), pyro.infer.Trace_ELBO())
    losses = [svi.step(counts) for _ in range(10)]
    return losses, pyro.param("rate_map"), pyro.poutine.trace(guide).get_trace(counts)


@example
def held_out_named_pyromodule_sites_and_clear(lib: Lib) -> Any:
    # PyroModule names sites after attribute paths; after clear_param_store the
    # module's params are registered again from the module's current values.
    pyro, dist, nn = lib.pyro, lib.dist, _nn(lib)
    torch.manual_seed(8)

    class Layer(nn.PyroModule):
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.PyroModule[torch.nn.Linear](2, 2)
            self.offset = nn.PyroSample(dist.Normal(0.0, 1.0))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.linear(x) + self.offset

    class Net(nn.PyroModule):
        def __init__(self) -> None:
            super().__init__()
            self.first = Layer()
            self.second = Layer()
            self.blocks = nn.PyroModuleList([Layer() for _ in range(2)])

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            for block in self.blocks:
                x = block(x)
            return self.second(self.first(x))

    net = Net()
    tr = pyro.poutine.trace(net).get_trace(torch.ones(3, 2))
    names = list(pyro.get_param_store().keys())
    pyro.clear_param_store()
    again = pyro.poutine.trace(net).get_trace(torch.ones(3, 2))
    named = Net()
    named_tr = pyro.poutine.trace(named).get_trace(torch.ones(1, 2))
    return tr, names, list(again.nodes), list(pyro.get_param_store().keys()), list(named_tr.nodes)


@example
def held_out_seed_uncondition_infer_config(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine

    def model() -> Any:
        a = pyro.sample("a", dist.Normal(0.0, 1.0))
        b = pyro.sample("b", dist.Normal(a, 1.0), obs=torch.tensor(0.7))
        return a, b

    seeded = poutine.seed(model, rng_seed=42)
    first, second = seeded(), seeded()
    free = poutine.trace(poutine.uncondition(model)).get_trace()
    configured = poutine.infer_config(
        model, config_fn=lambda msg: {"baseline": {"use_decaying_avg_baseline": True}}
    )
    tr = poutine.trace(configured).get_trace()
    aux = poutine.trace(
        lambda: pyro.sample("u", dist.Normal(0.0, 1.0), infer={"is_auxiliary": True})
    ).get_trace()
    return first, second, free, tr, aux


@example
def held_out_svi_tracegraph_with_poutine_scale_minibatch(lib: Lib) -> Any:
    # Manual minibatch scaling as in older tutorials: poutine.scale around the
    # likelihood instead of a subsampled plate.
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    data = (torch.arange(16.0) % 3 == 0).float()

    def model(batch: torch.Tensor) -> None:
        p = pyro.sample("p", dist.Beta(2.0, 2.0))
        with poutine.scale(scale=len(data) / len(batch)):
            with pyro.plate("batch", len(batch)):
                pyro.sample("obs", dist.Bernoulli(p), obs=batch)

    def guide(batch: torch.Tensor) -> None:
        a = pyro.param("a", torch.tensor(2.0), constraint=dist.constraints.positive)
        b = pyro.param("b", torch.tensor(2.0), constraint=dist.constraints.positive)
        pyro.sample("p", dist.Beta(a, b))

    svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": 0.05}), pyro.infer.TraceGraph_ELBO())
    losses = [svi.step(data[4 * (t % 4) : 4 * (t % 4) + 4]) for t in range(8)]
    return losses, pyro.param("a"), pyro.param("b")


@example
def held_out_autoguide_init_strategies(lib: Lib) -> Any:
    auto = _auto(lib)
    model = _eight_schools(lib)
    out = {}
    strategies = {
        "mean": lambda: auto.init_to_mean,
        "feasible": lambda: auto.init_to_feasible,
        "uniform": lambda: auto.init_to_uniform(radius=1.0),
        "sample": lambda: auto.init_to_sample,
        "median": lambda: auto.init_to_median(num_samples=5),
        "generated": lambda: auto.init_to_generated(
            generate=lambda: auto.init_to_value(values={"mu": torch.tensor(1.0)})
        ),
    }
    for name, make in strategies.items():
        lib.pyro.clear_param_store()
        lib.pyro.set_rng_seed(0)
        guide = auto.AutoDelta(model, init_loc_fn=make())
        guide(_SCHOOL_SIGMAS, _SCHOOL_EFFECTS)
        out[name] = guide.median()
    return out


# -- custom objectives, constrained params, more guides ---------------------------------------------


@example
def held_out_custom_objective_differentiable_loss(lib: Lib) -> Any:
    # The custom-objectives pattern: capture the params with a param-only trace,
    # optimize their unconstrained tensors with a torch optimizer.
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    data = torch.tensor([0.6, 1.4, 1.1, 0.2])

    def model(data: torch.Tensor) -> None:
        mu = pyro.sample("mu", dist.Normal(0.0, 2.0))
        with pyro.plate("data", len(data)):
            pyro.sample("obs", dist.Normal(mu, 1.0), obs=data)

    def guide(data: torch.Tensor) -> None:
        loc = pyro.param("loc", torch.tensor(0.0))
        scale = pyro.param("scale", torch.tensor(0.5), constraint=dist.constraints.positive)
        pyro.sample("mu", dist.Normal(loc, scale))

    loss_fn = pyro.infer.Trace_ELBO().differentiable_loss
    with poutine.trace(param_only=True) as param_capture:
        loss = loss_fn(model, guide, data)
    params = [site["value"].unconstrained() for site in param_capture.trace.nodes.values()]
    optimizer = torch.optim.Adam(params, lr=0.05)
    losses = []
    for _ in range(6):
        loss = loss_fn(model, guide, data)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    return (
        losses,
        list(param_capture.trace.nodes),
        loss.requires_grad,
        pyro.param("loc"),
        pyro.param("scale"),
    )


@example
def held_out_constrained_params_matrix_and_ordered(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    constraints = dist.constraints
    params = {
        "chol": (torch.eye(3) + 0.1, constraints.lower_cholesky),
        "corr": (torch.eye(3), constraints.corr_cholesky),
        "cuts": (torch.tensor([-1.0, 0.5, 2.0]), constraints.ordered_vector),
        "probs": (torch.tensor([[1.0, 2.0, 1.0], [3.0, 1.0, 1.0]]), constraints.simplex),
        "cov": (torch.eye(2) * 2.0, constraints.positive_definite),
        "rate": (torch.tensor([0.2, 5.0]), constraints.greater_than(0.1)),
        "p": (torch.tensor(0.3), constraints.unit_interval),
    }
    out = {}
    for name, (init, constraint) in params.items():
        value = pyro.param(name, init, constraint=constraint)
        out[name] = (value, pyro.param(name).unconstrained())
    return out, list(pyro.get_param_store().keys())


@example
def held_out_autoguides_on_lkj_covariance_model(lib: Lib) -> Any:
    pyro, dist, auto = lib.pyro, lib.dist, _auto(lib)
    points = torch.tensor([[0.5, 1.0], [1.5, 2.2], [-0.3, 0.1], [0.8, 1.9], [0.0, 0.4]])

    def model(points: torch.Tensor) -> None:
        scales = pyro.sample("scales", dist.HalfCauchy(torch.ones(2)).to_event(1))
        corr = pyro.sample("corr", dist.LKJCholesky(2, concentration=2.0))
        probs = pyro.sample("probs", dist.Dirichlet(torch.ones(3)))
        chol = scales.unsqueeze(-1) * corr
        with pyro.plate("points", len(points)):
            pyro.sample("obs", dist.MultivariateNormal(torch.zeros(2), scale_tril=chol), obs=points)
        pyro.sample("count", dist.Categorical(probs), obs=torch.tensor(1))

    out = {}
    for name in ("AutoNormal", "AutoDelta", "AutoMultivariateNormal"):
        pyro.clear_param_store()
        pyro.set_rng_seed(0)
        guide = getattr(auto, name)(model)
        svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": 0.02}), pyro.infer.Trace_ELBO())
        losses = [svi.step(points) for _ in range(5)]
        store = [(k, tuple(v.shape)) for k, v in pyro.get_param_store().items()]
        out[name] = (losses, store, guide.median())
    return out


@example
def held_out_autonormal_two_plates_and_obs_mask(lib: Lib) -> Any:
    pyro, dist, auto = lib.pyro, lib.dist, _auto(lib)
    table = torch.tensor([[1.0, 0.2, 0.4], [0.9, 1.7, -0.2]])
    seen = torch.tensor([[True, True, False], [True, False, True]])

    def model(table: torch.Tensor) -> None:
        cols = pyro.plate("cols", 3, dim=-1)
        with cols:
            col = pyro.sample("col", dist.Normal(0.0, 1.0))
        with pyro.plate("rows", 2, dim=-2):
            row = pyro.sample("row", dist.Normal(0.0, 1.0))
            with cols:
                pyro.sample("cell", dist.Normal(row + col, 0.5), obs=table, obs_mask=seen)

    guide = auto.AutoNormal(model)
    svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": 0.05}), pyro.infer.Trace_ELBO())
    losses = [svi.step(table) for _ in range(5)]
    store = [(k, tuple(v.shape)) for k, v in pyro.get_param_store().items()]
    model_tr = pyro.poutine.trace(model).get_trace(table)
    return losses, store, guide.median(), model_tr


@example
def held_out_predictive_with_autodelta_and_kwargs(lib: Lib) -> Any:
    pyro, dist, auto = lib.pyro, lib.dist, _auto(lib)

    def model(x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        w = pyro.sample("w", dist.Normal(0.0, 1.0))
        with pyro.plate("data", len(x)):
            pyro.deterministic("centre", torch.stack([w * x, x], -1), event_dim=1)
            return pyro.sample("y", dist.Normal(w * x, 0.3), obs=y)

    x = torch.tensor([0.0, 1.0, 2.0])
    guide = auto.AutoDelta(model)
    svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": 0.1}), pyro.infer.Trace_ELBO())
    losses = [svi.step(x=x, y=2 * x) for _ in range(5)]
    predictive = pyro.infer.Predictive(model, guide=guide, num_samples=3)
    draws = predictive(x=x)
    vectorized = pyro.infer.Predictive(model, guide=guide, num_samples=3, parallel=True)
    return losses, draws, vectorized(x=x), predictive.get_samples(x=x)


@example
def held_out_pyrosample_dependent_priors_and_pyro_method(lib: Lib) -> Any:
    pyro, dist, nn = lib.pyro, lib.dist, _nn(lib)

    class Hierarchy(nn.PyroModule):
        def __init__(self) -> None:
            super().__init__()
            self.centre = nn.PyroSample(dist.Normal(0.0, 1.0))
            self.spread = nn.PyroSample(dist.LogNormal(0.0, 0.5))
            self.effect = nn.PyroSample(
                lambda self: dist.Normal(self.centre, self.spread).expand([3]).to_event(1)
            )

        def forward(self) -> Any:
            # Reading an attribute twice in one call gives the same draw.
            return self.effect, self.effect, self.centre

        @nn.pyro_method
        def twice(self) -> Any:
            return self.centre + self.centre

    model = Hierarchy()
    tr = pyro.poutine.trace(model).get_trace()
    effect, again, centre = tr.nodes["_RETURN"]["value"]
    method_tr = pyro.poutine.trace(model.twice).get_trace()
    return tr, bool(torch.equal(effect, again)), method_tr, list(method_tr.nodes)


@example
def held_out_dense_nn_amortized_guide(lib: Lib) -> Any:
    pyro, dist, nn = lib.pyro, lib.dist, _nn(lib)
    torch.manual_seed(9)
    net = nn.DenseNN(2, [5], param_dims=[1, 1])
    inputs = torch.tensor([[0.1, 0.2], [1.0, -1.0], [0.5, 0.5]])
    targets = torch.tensor([0.3, -0.8, 1.1])

    def model(inputs: torch.Tensor, targets: torch.Tensor) -> None:
        with pyro.plate("rows", len(inputs)):
            z = pyro.sample("z", dist.Normal(0.0, 1.0))
            pyro.sample("t", dist.Normal(z, 0.5), obs=targets)

    def guide(inputs: torch.Tensor, targets: torch.Tensor) -> None:
        pyro.module("amortizer", net)
        loc, log_scale = net(inputs)
        with pyro.plate("rows", len(inputs)):
            pyro.sample("z", dist.Normal(loc.squeeze(-1), log_scale.squeeze(-1).exp()))

    svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": 0.05}), pyro.infer.Trace_ELBO())
    losses = [svi.step(inputs, targets) for _ in range(6)]
    return losses, [(k, tuple(v.shape)) for k, v in pyro.get_param_store().items()]


@example
def held_out_trace_copy_detach_and_node_views(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine

    def model() -> None:
        loc = pyro.param("loc", torch.tensor(0.5))
        a = pyro.sample("a", dist.Normal(loc, 1.0))
        b = pyro.sample("b", dist.Bernoulli(torch.sigmoid(a)))
        pyro.sample("c", dist.Normal(a + b, 1.0), obs=torch.tensor(1.0))

    tr = poutine.trace(model).get_trace()
    copied = tr.copy()
    copied.add_node("extra", type="param", value=torch.tensor(1.0))
    tr.detach_()
    return (
        tr,
        tr.nonreparam_stochastic_nodes,
        tr.reparameterized_nodes,
        [n for n, _ in tr.iter_stochastic_nodes()],
        list(copied.nodes),
        tr.nodes["a"]["value"].requires_grad,
        len(tr),
        "a" in tr,
    )


@example
def held_out_multivariate_autoguide_scale_tril_and_sampling(lib: Lib) -> Any:
    auto = _auto(lib)
    model = _eight_schools(lib)
    guide = auto.AutoMultivariateNormal(model, init_scale=0.1)
    losses = _train(lib, model, guide, 6)
    posterior = guide.get_posterior()
    with torch.no_grad():
        draws = [guide(_SCHOOL_SIGMAS, _SCHOOL_EFFECTS) for _ in range(2)]
    return (
        losses,
        guide.scale_tril.shape,
        posterior.scale_tril.shape,
        guide.loc,
        draws,
        guide.latent_dim if hasattr(guide, "latent_dim") else None,
        guide.get_base_dist().batch_shape,
    )


@example
def held_out_trace_copy_site_edit_leaves_original(lib: Lib) -> Any:
    # Editing a site of a copied trace (see DIFFERENCES).
    pyro, dist = lib.pyro, lib.dist

    def model() -> None:
        pyro.sample("a", dist.Normal(0.0, 1.0))

    tr = lib.poutine.trace(model).get_trace()
    copied = tr.copy()
    copied.nodes["a"]["value"] = torch.tensor(9.0)
    return tr.nodes["a"]["value"]


# -- semi-Bayesian modules, copies, errors a user meets ----------------------------------------------


@example
def held_out_semi_bayesian_module_with_learned_weights(lib: Lib) -> Any:
    # Only the bias is Bayesian; the weight stays a torch Parameter learned by
    # SVI, next to a pyro.param of the model itself.
    pyro, dist, nn, auto = lib.pyro, lib.dist, _nn(lib), _auto(lib)
    torch.manual_seed(12)

    class Partly(nn.PyroModule):
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.PyroModule[torch.nn.Linear](3, 1)
            self.linear.bias = nn.PyroSample(dist.Normal(0.0, 1.0).expand([1]).to_event(1))

        def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
            noise = pyro.param("noise", torch.tensor(0.5), constraint=dist.constraints.positive)
            mean = self.linear(x).squeeze(-1)
            with pyro.plate("data", len(x)):
                pyro.sample("obs", dist.Normal(mean, noise), obs=y)
            return mean

    model = Partly()
    guide = auto.AutoNormal(model)
    svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": 0.05}), pyro.infer.Trace_ELBO())
    losses = [svi.step(_X, _Y) for _ in range(8)]
    store = [(k, tuple(v.shape)) for k, v in pyro.get_param_store().items()]
    return losses, store, model.linear.weight, pyro.param("noise")


@example
def held_out_deepcopy_pyromodule_and_named_prefix(lib: Lib) -> Any:
    import copy

    pyro, dist, nn = lib.pyro, lib.dist, _nn(lib)
    torch.manual_seed(13)

    class Tiny(nn.PyroModule):
        def __init__(self, name: str = "") -> None:
            super().__init__(name)
            self.scale = nn.PyroParam(torch.tensor(2.0), constraint=dist.constraints.positive)
            self.z = nn.PyroSample(dist.Normal(0.0, 1.0))

        def forward(self) -> torch.Tensor:
            return self.scale * self.z

    named = Tiny("tiny")
    tr = pyro.poutine.trace(named).get_trace()
    clone = copy.deepcopy(named)
    clone_tr = pyro.poutine.trace(clone).get_trace()
    return list(tr.nodes), list(clone_tr.nodes), list(pyro.get_param_store().keys()), clone.scale


@example
def held_out_autodiagonal_with_subsampled_plate(lib: Lib) -> Any:
    pyro, dist, auto = lib.pyro, lib.dist, _auto(lib)
    data = torch.arange(6.0)

    def model(data: torch.Tensor) -> None:
        with pyro.plate("data", len(data), subsample_size=2) as idx:
            z = pyro.sample("z", dist.Normal(0.0, 1.0))
            pyro.sample("obs", dist.Normal(z, 1.0), obs=data[idx])

    guide = auto.AutoDiagonalNormal(model)
    return guide(data)


@example
def held_out_autonormal_refuses_discrete_latent(lib: Lib) -> Any:
    pyro, dist, auto = lib.pyro, lib.dist, _auto(lib)

    def model() -> None:
        k = pyro.sample("k", dist.Bernoulli(0.3))
        pyro.sample("obs", dist.Normal(k, 1.0), obs=torch.tensor(0.4))

    return auto.AutoNormal(model)()


@example
def held_out_predictive_posterior_samples_wrong_count(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist

    def model() -> None:
        pyro.sample("z", dist.Normal(0.0, 1.0))

    return pyro.infer.Predictive(
        model, posterior_samples={"z": torch.zeros(4)}, num_samples=3
    )()


@example
def held_out_guide_site_missing_from_model_warns(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist

    def model() -> None:
        pyro.sample("z", dist.Normal(0.0, 1.0))

    def guide() -> None:
        pyro.sample("z", dist.Normal(0.0, 1.0))
        pyro.sample("extra", dist.Normal(0.0, 1.0))

    svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": 0.1}), pyro.infer.Trace_ELBO())
    return svi.step()


@example
def held_out_explicit_subsample_indices_with_autonormal(lib: Lib) -> Any:
    pyro, dist, auto = lib.pyro, lib.dist, _auto(lib)
    data = torch.tensor([0.2, 1.5, -0.4, 0.9, 2.2, 0.1])

    def model(data: torch.Tensor, idx: torch.Tensor) -> None:
        with pyro.plate("data", len(data), subsample=idx):
            local = pyro.sample("local", dist.Normal(0.0, 2.0))
            pyro.sample("obs", dist.Normal(local, 0.3), obs=data[idx])

    guide = auto.AutoNormal(model)
    svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": 0.1}), pyro.infer.Trace_ELBO())
    batches = [torch.tensor([0, 2, 4]), torch.tensor([1, 3, 5]), torch.tensor([5, 0, 1])]
    losses = [svi.step(data, batch) for batch in batches]
    tr = pyro.poutine.trace(guide).get_trace(data, batches[0])
    return losses, pyro.param("AutoNormal.locs.local"), tr


@example
def held_out_model_relations_of_pyromodule(lib: Lib) -> Any:
    pyro, dist, nn = lib.pyro, lib.dist, _nn(lib)
    inspect = lib.mod(".infer.inspect")

    class Chain(nn.PyroModule):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.PyroSample(dist.Normal(0.0, 1.0))
            self.b = nn.PyroSample(lambda self: dist.Normal(self.a, 1.0))

        def forward(self, y: torch.Tensor) -> None:
            pyro.sample("y", dist.Normal(self.b, 1.0), obs=y)

    model = Chain()
    relations = inspect.get_model_relations(model, model_args=(torch.tensor(0.3),))
    graph = pyro.render_model(model, model_args=(torch.tensor(0.3),), render_deterministic=True)
    return relations, type(graph).__name__


# -- double precision, plateau schedulers, per-param options -------------------------------------


@example
def held_out_double_precision_svi_and_autoguide(lib: Lib) -> Any:
    pyro, dist, auto = lib.pyro, lib.dist, _auto(lib)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        x = torch.linspace(0.0, 1.0, 5)
        y = 2.0 * x + 0.1

        def model(x: torch.Tensor, y: torch.Tensor) -> None:
            slope = pyro.sample("slope", dist.Normal(0.0, 1.0))
            noise = pyro.param("noise", torch.tensor(0.5), constraint=dist.constraints.positive)
            with pyro.plate("data", len(x)):
                pyro.sample("y", dist.Normal(slope * x, noise), obs=y)

        guide = auto.AutoNormal(model)
        svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": 0.05}), pyro.infer.Trace_ELBO())
        losses = [svi.step(x, y) for _ in range(5)]
        return losses, dict(pyro.get_param_store().items()), guide.median()
    finally:
        torch.set_default_dtype(previous)


@example
def held_out_reduce_lr_on_plateau_and_per_param_options(lib: Lib) -> Any:
    pyro = lib.pyro
    scheduler = pyro.optim.ReduceLROnPlateau(
        {
            "optimizer": torch.optim.SGD,
            "optim_args": {"lr": 0.1},
            "factor": 0.5,
            "patience": 0,
        }
    )
    pyro_losses = []
    svi_losses = _tiny_svi(lib, scheduler, steps=1)
    for _ in range(5):
        loss = _tiny_svi(lib, scheduler, steps=1)[0]
        scheduler.step(loss)
        pyro_losses.append(loss)
    lrs = sorted(s.optimizer.param_groups[0]["lr"] for s in scheduler.optim_objs.values())
    pyro.clear_param_store()
    pyro.set_rng_seed(0)

    def per_param(module_name: str | None, param_name: str) -> dict[str, float]:
        return {"lr": 0.2 if param_name == "loc" else 0.01}

    per_param_losses = _tiny_svi(lib, pyro.optim.Adam(per_param), steps=4)
    return svi_losses, pyro_losses, lrs, per_param_losses, pyro.param("loc"), pyro.param("scale")


# -- effect-based autoguides subclassed by the user ------------------------------------------------


@example
def held_out_autonormalmessenger_subclass_overrides_posterior(lib: Lib) -> Any:
    pyro, dist, auto = lib.pyro, lib.dist, _auto(lib)
    model = _eight_schools(lib)

    class MyGuide(auto.AutoNormalMessenger):
        def get_posterior(self, name: str, prior: Any) -> Any:
            if name == "mu":
                loc = pyro.param("mu_loc", lambda: torch.tensor(3.0))
                scale = pyro.param(
                    "mu_scale", lambda: torch.tensor(0.5), constraint=dist.constraints.positive
                )
                return dist.Normal(loc, scale)
            return super().get_posterior(name, prior)

    guide = MyGuide(model)
    losses = _train(lib, model, guide, 8)
    store = [(k, tuple(v.shape)) for k, v in pyro.get_param_store().items()]
    tr = pyro.poutine.trace(guide).get_trace(_SCHOOL_SIGMAS, _SCHOOL_EFFECTS)
    return losses, store, tr, guide.median(_SCHOOL_SIGMAS, _SCHOOL_EFFECTS)


@example
def held_out_autocallable_and_mean_field_entropy(lib: Lib) -> Any:
    pyro, dist, auto = lib.pyro, lib.dist, _auto(lib)
    model = _eight_schools(lib)

    def hand_guide(sigma: torch.Tensor, y: torch.Tensor | None = None) -> None:
        loc = pyro.param("hand_mu_loc", torch.tensor(1.0))
        pyro.sample("mu", dist.Normal(loc, 1.0))

    guide = auto.AutoGuideList(model)
    guide.append(
        auto.AutoCallable(model, hand_guide, median=lambda *a: {"mu": pyro.param("hand_mu_loc")})
    )
    guide.append(auto.AutoNormal(pyro.poutine.block(model, hide=["mu"])))
    losses = _train(lib, model, guide, 5)
    args = (_SCHOOL_SIGMAS, _SCHOOL_EFFECTS)
    entropy = auto.mean_field_entropy(guide, args, whitelist=["mu", "tau"])
    return losses, guide.median(*args), entropy


@example
def held_out_mean_field_entropy_of_plated_sites(lib: Lib) -> Any:
    # (see DIFFERENCES)
    pyro, dist = lib.pyro, lib.dist

    def guide() -> None:
        pyro.sample("mu", dist.Normal(0.0, 2.0))
        with pyro.plate("schools", 8):
            pyro.sample("theta", dist.Normal(torch.zeros(8), 3.0))

    return _auto(lib).mean_field_entropy(guide, ())


@example
def held_out_autoregressive_messenger_on_eight_schools(lib: Lib) -> Any:
    auto = _auto(lib)
    model = _eight_schools(lib)
    guide = auto.AutoRegressiveMessenger(model)
    losses = _train(lib, model, guide, 5)
    store = [(k, tuple(v.shape)) for k, v in lib.pyro.get_param_store().items()]
    return losses, store, lib.poutine.trace(guide).get_trace(_SCHOOL_SIGMAS, _SCHOOL_EFFECTS)


# -- discrete latents with score-function gradients ---------------------------------------------------


@example
def held_out_hmm_discrete_states_tracegraph(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    constraints = dist.constraints
    readings = torch.tensor([0.1, 0.2, 1.9, 2.1, 0.0, 2.2])

    def model(readings: torch.Tensor) -> None:
        stay = pyro.sample("stay", dist.Beta(4.0, 1.0))
        state = 0
        for t in pyro.markov(range(len(readings))):
            probs = torch.stack([stay, 1 - stay]) if state == 0 else torch.stack([1 - stay, stay])
            state = int(pyro.sample(f"state_{t}", dist.Categorical(probs)))
            pyro.sample(f"y_{t}", dist.Normal(2.0 * state, 0.5), obs=readings[t])

    def guide(readings: torch.Tensor) -> None:
        a = pyro.param("stay_a", torch.tensor(4.0), constraint=constraints.positive)
        pyro.sample("stay", dist.Beta(a, 1.0))
        logits = pyro.param("state_logits", torch.zeros(len(readings), 2))
        for t in pyro.markov(range(len(readings))):
            pyro.sample(
                f"state_{t}",
                dist.Categorical(logits=logits[t]),
                infer={"baseline": {"use_decaying_avg_baseline": True}},
            )

    svi = pyro.infer.SVI(model, guide, pyro.optim.SGD({"lr": 0.01}), pyro.infer.TraceGraph_ELBO())
    losses = [svi.step(readings) for _ in range(6)]
    return losses, pyro.param("state_logits"), pyro.param("stay_a")


@example
def held_out_sigmoid_belief_net_tracegraph(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    torch.manual_seed(14)
    decoder = torch.nn.Linear(3, 6)
    encoder = torch.nn.Linear(6, 3)

    def model(x: torch.Tensor) -> None:
        pyro.module("decoder", decoder)
        with pyro.plate("data", len(x)):
            h = pyro.sample("h", dist.Bernoulli(torch.full((len(x), 3), 0.5)).to_event(1))
            pyro.sample("x", dist.Bernoulli(logits=decoder(h)).to_event(1), obs=x)

    def guide(x: torch.Tensor) -> None:
        pyro.module("encoder", encoder)
        with pyro.plate("data", len(x)):
            pyro.sample("h", dist.Bernoulli(logits=encoder(x)).to_event(1))

    svi = pyro.infer.SVI(model, guide, pyro.optim.SGD({"lr": 0.01}), pyro.infer.TraceGraph_ELBO())
    losses = [svi.step(_PIXELS[:8]) for _ in range(4)]
    return losses, sorted(pyro.get_param_store().keys()), pyro.param("encoder$$$bias")
