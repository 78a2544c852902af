"""Handlers, traces, checkpoints and helpers as a tutorial reader uses them.

Handler combinations, trace inspection and copies, ``markov`` loops, seeds,
optimizer and scheduler state, importance sampling, ``pyro.util`` helpers,
validation, ``render_model`` (see ``zoo_tutorials.py``).
"""

from __future__ import annotations

import os
import tempfile
import warnings
from typing import Any

import torch
from differential import Lib
from zoo_documented import example
from zoo_tutorials import (
    _tiny_svi,
)


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
def held_out_trace_copy_site_edit_leaves_original(lib: Lib) -> Any:
    # Editing a site of a copied trace (see DIFFERENCES).
    pyro, dist = lib.pyro, lib.dist

    def model() -> None:
        pyro.sample("a", dist.Normal(0.0, 1.0))

    tr = lib.poutine.trace(model).get_trace()
    copied = tr.copy()
    copied.nodes["a"]["value"] = torch.tensor(9.0)
    return tr.nodes["a"]["value"]


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
    options = {"lr": 0.1, "clip_norm": 5.0, "lrd": 0.9, "betas": (0.9, 0.99)}
    clipped = pyro.optim.ClippedAdam(options)
    clipped_losses = _tiny_svi(lib, clipped)
    clipped_state = clipped.get_state()
    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    scheduler = pyro.optim.ExponentialLR(
        {"optimizer": torch.optim.Adam, "optim_args": {"lr": 0.1}, "gamma": 0.8}
    )
    sched_losses = _tiny_svi(lib, scheduler, scheduler_step=True)
    lrs = sorted(s.optimizer.param_groups[0]["lr"] for s in scheduler.optim_objs.values())
    return (
        clipped_losses,
        sorted(clipped_state),
        sched_losses,
        lrs,
        pyro.optim.optim.is_scheduler(scheduler),
        pyro.optim.optim.is_scheduler(clipped),
    )


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
def held_out_predictive_posterior_samples_wrong_count(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist

    def model() -> None:
        pyro.sample("z", dist.Normal(0.0, 1.0))

    return pyro.infer.Predictive(model, posterior_samples={"z": torch.zeros(4)}, num_samples=3)()


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
        except ValueError:
            on = "raises ValueError"
        else:
            on = "runs"
    still_off = pyro.infer.util.is_validation_enabled()
    pyro.enable_validation(True)
    return off, on, still_off


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
