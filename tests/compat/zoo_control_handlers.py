"""Handlers that steer a run: ``lift``, ``seed``, ``broadcast``, ``infer_config``,
``escape`` and ``NonlocalExit``, and stacks of nested handlers.

Programs of the differential zoo (see ``differential.py``).
"""

from __future__ import annotations

from typing import Any

import torch
from differential import Lib, program, traced
from zoo_handlers import _two_level
from zoo_models import _three_site_model, _two_site_model

# -- lift, seed, broadcast, escape -------------------------------------------------------


@program
def lift_params(lib: Lib) -> Any:
    def model() -> Any:
        return lib.pyro.param("w", torch.tensor(0.0))

    return traced(lib, lib.poutine.lift(model, prior={"w": lib.dist.Normal(0.0, 1.0)}))


@program
def seed_handler_repeats_draws(lib: Lib) -> Any:
    model = _two_level(lib)
    a = traced(lib, lib.poutine.seed(model, rng_seed=3))
    b = traced(lib, lib.poutine.seed(model, rng_seed=3))
    return a.nodes["z"]["value"], b.nodes["z"]["value"]


@program
def broadcast_handler(lib: Lib) -> Any:
    def model() -> None:
        with lib.poutine.broadcast(), lib.pyro.plate("d", 3):
            lib.pyro.sample("x", lib.dist.Normal(0.0, 1.0))

    return traced(lib, model)


@program
def escape_leaves_partial_trace(lib: Lib) -> Any:
    model = _two_level(lib)
    runtime = lib.mod(".poutine.runtime")
    traced_fn = lib.poutine.trace(lib.poutine.escape(model, escape_fn=lambda m: m["name"] == "b"))
    try:
        traced_fn()
    except runtime.NonlocalExit as e:
        site = e.site
    return traced_fn.trace, site["name"], site["value"], site["done"], site["stop"]


@program
def nonlocal_exit_reset_stack_clears_outer_trace(lib: Lib) -> Any:
    runtime = lib.mod(".poutine.runtime")

    def inner() -> None:
        lib.pyro.sample("b", lib.dist.Normal(0.0, 1.0))

    def outer() -> None:
        lib.pyro.sample("a", lib.dist.Normal(0.0, 1.0))
        with lib.pyro.plate("p", 3):
            pass
        try:
            lib.poutine.escape(inner, escape_fn=lambda m: True)()
        except runtime.NonlocalExit as e:
            e.reset_stack()
        lib.pyro.sample("c", lib.dist.Normal(0.0, 1.0))

    return traced(lib, outer)


# -- seed, infer_config, escape, lift, broadcast (second zoo) ----------------------------


@program
def seed_handler_reproducible(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    def model():
        return pyro.sample("x", dist.Normal(torch.zeros(3), 1.0))

    first = poutine.seed(model, rng_seed=7)()
    second = poutine.seed(model, rng_seed=7)()
    with poutine.seed(rng_seed=7):
        third = model()
    return first, second, third


@program
def infer_config_fn(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    def config(msg):
        return {"tag": msg["name"].upper()} if msg["type"] == "sample" else {}

    return traced(lib, poutine.infer_config(_three_site_model(pyro, dist), config_fn=config))


@program
def escape_nonlocal_exit(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    model = _three_site_model(pyro, dist)
    escaping = poutine.escape(model, escape_fn=lambda msg: msg["name"] == "y")
    with poutine.trace() as tracer:
        try:
            escaping()
        except poutine.NonlocalExit as exit_:
            site = exit_.site["name"]
    return site, list(tracer.trace.nodes)


@program
def nonlocal_exit_reset_stack(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    model = _three_site_model(pyro, dist)
    escaping = poutine.escape(model, escape_fn=lambda msg: msg["name"] == "x")
    try:
        poutine.trace(escaping).get_trace()
    except poutine.NonlocalExit as exit_:
        exit_.reset_stack()
        return exit_.site["name"], type(exit_).__name__
    return None


@program
def lift_params_to_samples(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    def model():
        loc = pyro.param("loc", torch.tensor(0.0))
        scale = pyro.param("scale", torch.tensor(1.0), constraint=dist.constraints.positive)
        return pyro.sample("x", dist.Normal(loc, scale))

    priors = {"loc": dist.Normal(0.0, 1.0), "scale": dist.HalfNormal(1.0)}
    return traced(lib, poutine.lift(model, prior=priors))


@program
def lift_single_prior(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    def model():
        return pyro.param("w", torch.tensor(0.0)) * 2

    return traced(lib, poutine.lift(model, prior=dist.Normal(0.0, 1.0)))


@program
def broadcast_in_plates(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    def model():
        with poutine.broadcast(), pyro.plate("a", 2, dim=-2), pyro.plate("b", 3, dim=-1):
            return pyro.sample("x", dist.Normal(0.0, 1.0))

    return traced(lib, model)


# -- nested handlers (second zoo) --------------------------------------------------------


@program
def nested_replay_condition_block(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    model = _three_site_model(pyro, dist)

    def guide():
        pyro.sample("x", dist.Normal(1.0, 0.5))

    guide_tr = traced(lib, guide)
    conditioned = poutine.condition(model, data={"y": torch.tensor(0.5)})
    handled = poutine.block(poutine.replay(conditioned, trace=guide_tr), hide=["a"])
    return traced(lib, handled)


@program
def nested_trace_twice(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    model = _three_site_model(pyro, dist)
    with poutine.trace() as outer:
        inner = poutine.trace(model).get_trace()
    return outer.trace, inner


@program
def nested_scale_mask_plate_condition(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    def model():
        with pyro.plate("p", 4, subsample_size=2), poutine.scale(scale=3.0):
            x = pyro.sample("x", dist.Normal(0.0, 1.0))
            with poutine.mask(mask=torch.tensor([True, False])):
                pyro.sample("y", dist.Normal(x, 1.0))

    data = {"y": torch.tensor([0.5, -0.5])}
    return traced(lib, poutine.condition(model, data=data))


@program
def nested_uncondition_then_condition(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    model = _two_site_model(pyro, dist)
    handled = poutine.condition(poutine.uncondition(model), data={"x": torch.tensor(0.0)})
    return traced(lib, handled)


@program
def nested_seed_inside_trace(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    model = _three_site_model(pyro, dist)
    return traced(lib, poutine.seed(model, rng_seed=3))
