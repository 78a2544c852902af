"""The handlers: condition, do, block, scale, mask, replay, substitute, uncondition,
infer_config, lift, seed, broadcast, escape, trace options, Trace edits,
effectful, Messenger.register, unwrap, block_messengers.

Programs of the differential zoo (see ``differential.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from differential import Lib, program, traced, with_log_probs
from zoo_models import _three_site_model, _two_site_model

# -- handlers ----------------------------------------------------------------------------


def _two_level(lib: Lib) -> Callable[[], Any]:
    def model() -> Any:
        z = lib.pyro.sample("z", lib.dist.Normal(0.0, 1.0))
        b = lib.pyro.sample("b", lib.dist.Bernoulli(0.4))
        return lib.pyro.sample("x", lib.dist.Normal(z + b, 1.0), obs=torch.tensor(1.0))

    return model


@program
def condition_and_do(lib: Lib) -> Any:
    model = _two_level(lib)
    cond = traced(lib, lib.poutine.condition(model, data={"z": torch.tensor(0.5)}))
    done = traced(lib, lib.poutine.do(model, data={"z": torch.tensor(0.5)}))
    return with_log_probs(cond), done


@program
def block_hide_expose(lib: Lib) -> Any:
    model = _two_level(lib)
    return (
        traced(lib, lib.poutine.block(model, hide=["z"])),
        traced(lib, lib.poutine.block(model, expose_types=["observe"])),
        traced(lib, lib.poutine.block(model, hide_fn=lambda m: m["name"] == "b")),
    )


@program
def scale_and_mask_handlers(lib: Lib) -> Any:
    def model() -> None:
        with lib.pyro.plate("d", 2):
            with lib.poutine.scale(scale=torch.tensor([2.0, 0.5])):
                lib.pyro.sample("x", lib.dist.Normal(0.0, 1.0))
            with lib.poutine.mask(mask=torch.tensor([True, False])):
                lib.pyro.sample("y", lib.dist.Normal(0.0, 1.0))
            with lib.poutine.mask(mask=False):
                lib.pyro.sample("w", lib.dist.Normal(0.0, 1.0))

    return with_log_probs(traced(lib, model))


@program
def mask_handler_float_tensor_raises(lib: Lib) -> Any:
    def model() -> None:
        with lib.poutine.mask(mask=torch.tensor([1.0, 0.0])):
            lib.pyro.sample("x", lib.dist.Normal(torch.zeros(2), 1.0))

    return traced(lib, model)


@program
def mask_handler_none_raises(lib: Lib) -> Any:
    return lib.poutine.mask(mask=None)


@program
def scale_handler_nonpositive_raises(lib: Lib) -> Any:
    return lib.poutine.scale(scale=0.0)


@program
def distribution_mask_with_sampled_bernoulli(lib: Lib) -> Any:
    def model() -> None:
        z_pres = lib.pyro.sample("z_pres", lib.dist.Bernoulli(torch.tensor([0.5, 0.5])).to_event(1))
        lib.pyro.sample("z", lib.dist.Normal(torch.zeros(2), 1.0).mask(z_pres.bool()).to_event(1))

    return with_log_probs(traced(lib, model))


@program
def replay_and_substitute(lib: Lib) -> Any:
    model = _two_level(lib)
    guide_trace = traced(lib, model)
    replayed = traced(lib, lib.poutine.replay(model, trace=guide_trace))
    subst = traced(lib, lib.poutine.substitute(model, data={"z": torch.tensor(3.0)}))
    return replayed, subst


@program
def replay_plate_indices_from_guide(lib: Lib) -> Any:
    def model() -> Any:
        with lib.pyro.plate("data", 10, subsample_size=3) as idx:
            lib.pyro.sample("x", lib.dist.Normal(0.0, 1.0))
        return idx

    guide_trace = traced(lib, model)
    return traced(lib, lib.poutine.replay(model, trace=guide_trace))


@program
def uncondition_and_infer_config(lib: Lib) -> Any:
    model = _two_level(lib)
    return (
        traced(lib, lib.poutine.uncondition(model)),
        traced(lib, lib.poutine.infer_config(model, config_fn=lambda m: {"k": m["name"]})),
    )


# -- replay, condition, substitute (second zoo) ------------------------------------------


@program
def replay_guide_trace(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    def guide():
        pyro.sample("x", dist.Normal(3.0, 0.1))

    guide_tr = traced(lib, guide)
    model_tr = traced(lib, poutine.replay(_two_site_model(pyro, dist), trace=guide_tr))
    return guide_tr, model_tr


@program
def replay_params_from_store(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    model = _two_site_model(pyro, dist)
    traced(lib, model)  # creates "a" in the param store
    params = {"a": pyro.param("a")}
    return traced(lib, poutine.replay(model, params=params))


@program
def error_replay_params_plain_tensor(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    model = _two_site_model(pyro, dist)
    return traced(lib, poutine.replay(model, params={"a": torch.tensor(7.0)}))


@program
def replay_partial_trace(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    def model():
        a = pyro.sample("a", dist.Normal(0.0, 1.0))
        b = pyro.sample("b", dist.Normal(a, 1.0))
        return a, b

    partial = poutine.Trace()
    partial.add_node(
        "a", type="sample", name="a", value=torch.tensor(5.0), is_observed=False, infer={}
    )
    return traced(lib, poutine.replay(model, trace=partial))


@program
def condition_dict(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    model = _two_site_model(pyro, dist)
    return traced(lib, poutine.condition(model, data={"x": torch.tensor(2.0)}))


@program
def condition_overrides_obs(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    model = _two_site_model(pyro, dist)
    return traced(lib, poutine.condition(model, data={"y": torch.tensor(-3.0)}))


@program
def condition_with_trace(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    model = _two_site_model(pyro, dist)
    source = traced(lib, model)
    return traced(lib, pyro.condition(model, data=source))


@program
def condition_context_manager_in_plate(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    def model():
        with pyro.plate("p", 3):
            return pyro.sample("x", dist.Normal(0.0, 1.0))

    with poutine.trace() as tracer, poutine.condition(data={"x": torch.arange(3.0)}):
        model()
    return tracer.trace


@program
def substitute_data_params_only_warns_unused(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    # Pyro's substitute replaces param sites only and warns about unused keys.
    model = _two_site_model(pyro, dist)
    return traced(
        lib, poutine.substitute(model, data={"a": torch.tensor(3.0), "x": torch.tensor(-1.0)})
    )


@program
def error_substitute_fn_keyword(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    # Pyro 1.9.2's substitute has no substitute_fn argument.
    model = _two_site_model(pyro, dist)

    def fn(msg):
        return torch.tensor(9.0) if msg["name"] == "a" else None

    return traced(lib, poutine.substitute(model, substitute_fn=fn))


@program
def uncondition_observed_site(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    return traced(lib, poutine.uncondition(_two_site_model(pyro, dist)))


@program
def do_intervention(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    def model():
        x = pyro.sample("x", dist.Normal(0.0, 1.0))
        return pyro.sample("y", dist.Normal(x, 1.0))

    return traced(lib, poutine.do(model, data={"x": torch.tensor(10.0)}))


@program
def do_top_level_alias(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    def model():
        x = pyro.sample("x", dist.Normal(0.0, 1.0))
        return pyro.sample("y", dist.Normal(x, 1.0))

    return traced(lib, pyro.do(model, data={"x": torch.tensor(10.0)}))


# -- block, scale, mask (second zoo) -----------------------------------------------------


_BLOCK_OPTIONS: dict[str, dict[str, Any]] = {
    "default": {},
    "hide": {"hide": ["x"]},
    "expose": {"expose": ["y"]},
    "hide_types": {"hide_types": ["param"]},
    "expose_types": {"expose_types": ["sample"]},
    "hide_all_false": {"hide_all": False},
    "hide_all_false_expose_all": {"hide_all": False, "expose_all": True},
    "hide_fn": {"hide_fn": lambda msg: msg.get("is_observed", False)},
    "expose_fn": {"expose_fn": lambda msg: msg["name"] == "a"},
    "hide_one_expose_another": {"hide": ["x"], "expose": ["y"]},
    # Invalid combinations: Pyro refuses them.
    "error_expose_all_with_hide_all": {"expose_all": True},
    "error_hide_and_expose_same_site": {"hide": ["x"], "expose": ["x"]},
    "error_hide_fn_and_expose_fn": {"hide_fn": lambda msg: True, "expose_fn": lambda msg: True},
}


def _block_program(key: str) -> Callable[[Lib], Any]:
    def prog(lib: Lib) -> Any:
        model = _three_site_model(lib.pyro, lib.dist)
        return traced(lib, lib.poutine.block(model, **_BLOCK_OPTIONS[key]))

    prog.__name__ = f"block_{key}"
    return prog


for _key in _BLOCK_OPTIONS:
    program(_block_program(_key))


@program
def block_context_inner_trace(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    model = _three_site_model(pyro, dist)
    with poutine.trace() as outer:
        with poutine.block():
            with poutine.trace() as inner:
                model()
    return list(outer.trace.nodes), list(inner.trace.nodes)


@program
def scale_nested_and_tensor(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    def model():
        with poutine.scale(scale=2.0):
            pyro.sample("a", dist.Normal(0.0, 1.0))
            with poutine.scale(scale=torch.tensor(3.0)):
                pyro.sample("b", dist.Normal(0.0, 1.0))

    return traced(lib, model)


@program
def scale_with_subsampled_plate(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    def model():
        with poutine.scale(scale=0.5), pyro.plate("data", 10, subsample_size=4):
            pyro.sample("x", dist.Normal(0.0, 1.0))

    return traced(lib, model)


@program
def mask_bool_tensor_and_nested(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    def model():
        with pyro.plate("p", 3):
            with poutine.mask(mask=torch.tensor([True, False, True])):
                pyro.sample("a", dist.Normal(0.0, 1.0))
                with poutine.mask(mask=torch.tensor([True, True, False])):
                    pyro.sample("b", dist.Normal(0.0, 1.0))
            with poutine.mask(mask=False):
                pyro.sample("c", dist.Normal(0.0, 1.0))

    return traced(lib, model)


@program
def mask_python_bool(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    return traced(lib, poutine.mask(_three_site_model(pyro, dist), mask=True))


@program
def scale_and_mask_combined(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    def model():
        with poutine.scale(scale=4.0), poutine.mask(mask=torch.tensor([False, True])):
            with pyro.plate("p", 2):
                pyro.sample("x", dist.Normal(0.0, 1.0))

    return traced(lib, model)
