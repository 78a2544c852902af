"""Autoguides as the tutorials use them.

Bayesian regression with ``AutoDiagonalNormal``/``AutoNormal``, eight schools
with every guide family and init strategy, guide lists, Laplace, effect-based
guides subclassed by the user, ``Predictive`` with guides, and the errors a user
meets (see ``zoo_tutorials.py``).
"""

from __future__ import annotations

from typing import Any

import torch
from differential import Lib
from zoo_documented import example
from zoo_tutorials import (
    _SCHOOL_EFFECTS,
    _SCHOOL_SIGMAS,
    _X,
    _Y,
    _auto,
    _bayesian_regression,
    _eight_schools,
    _train,
)


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
    return losses, names, quantiles, draws, guide.get_posterior().mean


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
def held_out_laplace_approximation_of_location_and_scale(lib: Lib) -> Any:
    pyro, dist, auto = lib.pyro, lib.dist, _auto(lib)
    data = torch.tensor([1.2, 0.7, 2.1, 1.6, 0.9, 1.4, 1.8, 1.1])

    def model(data: torch.Tensor) -> None:
        loc = pyro.sample("loc", dist.Normal(0.0, 5.0))
        scale = pyro.sample("scale", dist.LogNormal(0.0, 1.0))
        with pyro.plate("data", len(data)):
            pyro.sample("obs", dist.Normal(loc, scale), obs=data)

    guide = auto.AutoLaplaceApproximation(model)
    svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": 0.1}), pyro.infer.Trace_ELBO())
    losses = [svi.step(data) for _ in range(60)]
    laplace = guide.laplace_approximation(data)
    posterior = laplace.get_posterior()
    return losses, type(laplace).__name__, posterior.loc, posterior.scale_tril, laplace.median()


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
def held_out_predictive_with_autodelta_and_kwargs(lib: Lib) -> Any:
    pyro, dist, auto = lib.pyro, lib.dist, _auto(lib)

    def model(x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        w = pyro.sample("w", dist.Normal(0.0, 1.0))
        with pyro.plate("data", len(x)):
            mean = w * x
            pyro.deterministic("centre", torch.stack([mean, x.expand_as(mean)], -1), event_dim=1)
            return pyro.sample("y", dist.Normal(w * x, 0.3), obs=y)

    x = torch.tensor([0.0, 1.0, 2.0])
    guide = auto.AutoDelta(model)
    svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": 0.1}), pyro.infer.Trace_ELBO())
    losses = [svi.step(x=x, y=2 * x) for _ in range(5)]
    predictive = pyro.infer.Predictive(model, guide=guide, num_samples=3)
    vectorized = pyro.infer.Predictive(model, guide=guide, num_samples=3, parallel=True)
    # Pyro's AutoDelta draws require grad (docs/pyro-differences.md, `Delta.sample()`).
    plain = [
        {k: v.detach() for k, v in out.items()}
        for out in (predictive(x=x), vectorized(x=x), predictive.get_samples(x=x))
    ]
    return losses, plain


@example
def held_out_autonormalmessenger_subclass_overrides_posterior(lib: Lib) -> Any:
    pyro, dist, auto = lib.pyro, lib.dist, _auto(lib)
    model = _eight_schools(lib, lognormal_tau=True)

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
    losses = _train(lib, model, guide, 8, lr=0.01)
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
    entropy = auto.mean_field_entropy(guide, args, whitelist=["mu"])
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
    model = _eight_schools(lib, lognormal_tau=True)
    guide = auto.AutoRegressiveMessenger(model)
    losses = _train(lib, model, guide, 5, lr=0.01)
    store = [(k, tuple(v.shape)) for k, v in lib.pyro.get_param_store().items()]
    return losses, store, lib.poutine.trace(guide).get_trace(_SCHOOL_SIGMAS, _SCHOOL_EFFECTS)
