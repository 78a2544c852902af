"""pyro.util, settings, validation switches, frames, module names and the logger.

Programs of the differential zoo (see ``differential.py``).
"""

from __future__ import annotations

from typing import Any

import torch
from differential import Lib, program, traced

# -- util, settings, frames ----------------------------------------------------------


@program
def util_nan_inf_checks(lib: Lib) -> Any:
    u = lib.mod(".util")
    return (
        u.torch_isnan(float("nan")),
        u.torch_isnan(3),
        u.torch_isnan(torch.tensor([1.0, float("nan")])),
        u.torch_isinf(float("-inf")),
        u.torch_isinf(torch.tensor([1.0])),
        u.torch_float(3),
        u.torch_float(torch.tensor(3)),
        u.warn_if_nan(float("nan"), "loss"),
        u.warn_if_inf(torch.tensor([float("inf"), -float("inf")]), "lp", allow_neginf=True),
        u.warn_if_inf(torch.tensor([float("inf"), -float("inf")]), "both"),
        u.warn_if_nan(torch.tensor([1.0])),
    )


@program
def util_warn_if_nan_on_gradient(lib: Lib) -> Any:
    u = lib.mod(".util")
    x = torch.tensor([1.0], requires_grad=True)
    y = u.warn_if_nan(x * 1, "g")
    (y * float("nan")).sum().backward()
    return x.grad


@program
def util_rng_state_round_trip(lib: Lib) -> Any:
    u = lib.mod(".util")
    u.set_rng_seed(rng_seed=5)
    state = u.get_rng_state()
    a = torch.rand(2)
    u.set_rng_state(state)
    return a, torch.rand(2), sorted(state)


@program
def util_check_traces_match(lib: Lib) -> Any:
    u = lib.mod(".util")

    def m() -> None:
        lib.pyro.sample("a", lib.dist.Normal(0.0, 1.0))
        lib.pyro.sample("b", lib.dist.Normal(torch.zeros(2), 1.0))

    def extra() -> None:
        m()
        lib.pyro.sample("c", lib.dist.Normal(0.0, 1.0), obs=torch.tensor(0.0))

    return u.check_traces_match(traced(lib, m), traced(lib, extra))


@program
def util_check_traces_match_shape_raises(lib: Lib) -> Any:
    u = lib.mod(".util")
    a = traced(lib, lambda: lib.pyro.sample("b", lib.dist.Normal(torch.zeros(2), 1.0)))
    b = traced(lib, lambda: lib.pyro.sample("b", lib.dist.Normal(torch.zeros(3), 1.0)))
    return u.check_traces_match(a, b)


@program
def util_check_traces_match_missing_raises(lib: Lib) -> Any:
    u = lib.mod(".util")
    a = traced(lib, lambda: lib.pyro.sample("b", lib.dist.Normal(0.0, 1.0)))
    return u.check_traces_match(a, traced(lib, lambda: None))


@program
def util_check_site_shape(lib: Lib) -> Any:
    u = lib.mod(".util")
    out = []
    models = {
        "plate": lambda: lib.pyro.sample("b", lib.dist.Normal(torch.zeros(2), 1.0)),
        "batched": lambda: lib.pyro.sample("b", lib.dist.Normal(torch.zeros(3, 2), 1.0)),
    }
    for key, body in models.items():

        def model(body: Any = body) -> None:
            with lib.pyro.plate("p", 2):
                body()

        tr = traced(lib, model)
        tr.compute_log_prob()
        for nesting in (1, 2):
            try:
                u.check_site_shape(tr.nodes["b"], nesting)
                out.append((key, nesting, "ok"))
            except ValueError:
                out.append((key, nesting, "ValueError"))
    return out


@program
def util_check_site_shape_overflow_raises(lib: Lib) -> Any:
    u = lib.mod(".util")

    def model() -> None:
        with lib.pyro.plate("p", 2, dim=-2):
            lib.pyro.sample("b", lib.dist.Normal(0.0, 1.0))

    tr = traced(lib, model)
    tr.compute_log_prob()
    u.check_site_shape(tr.nodes["b"], 1)


@program
def util_check_if_enumerated_warns(lib: Lib) -> Any:
    u = lib.mod(".util")

    def guide() -> None:
        lib.pyro.sample("a", lib.dist.Bernoulli(0.5), infer={"enumerate": "parallel"})

    return u.check_if_enumerated(traced(lib, guide))


@program
def util_context_helpers(lib: Lib) -> Any:
    u = lib.mod(".util")
    with u.timed() as t:
        pass
    with u.optional(lib.poutine.trace(), False) as off:
        pass
    with u.ignore_jit_warnings(), u.ignore_experimental_warning():
        pass
    return (
        t.elapsed >= 0,
        off,
        u.jit_iter(torch.arange(3)),
        issubclass(u.ExperimentalWarning, UserWarning),
    )


@program
def settings_get_set_context(lib: Lib) -> Any:
    s = lib.pyro.settings
    out = [s.get("validate_poutine")]
    with s.context(validate_poutine=False):
        out.append(s.get("validate_poutine"))
    out.append(s.get("validate_poutine"))
    s.set(validate_poutine=True)
    return out


@program
def settings_unknown_alias_raises(lib: Lib) -> Any:
    return lib.pyro.settings.get("no_such_setting")


@program
def validation_switches(lib: Lib) -> Any:
    p = lib.pyro
    out = []
    with p.validation_enabled(False):
        out.append(lib.mod(".poutine.util").is_validation_enabled())
    out.append(lib.mod(".poutine.util").is_validation_enabled())
    lib.poutine.enable_validation(False)
    out.append(lib.poutine.is_validation_enabled())
    p.enable_validation(True)
    out.append(lib.poutine.is_validation_enabled())
    return out


@program
def cond_indep_stack_frame_equality(lib: Lib) -> Any:
    F = (
        lib.mod(".poutine.runtime").CondIndepStackFrame
        if lib.name == "tracegraph"
        else (lib.mod(".poutine.indep_messenger").CondIndepStackFrame)
    )
    a = F("a", -1, 3, 0, 3)
    return (
        a == F("a", -1, 3, 0, 10),
        a == F("a", -1, 3, 1, 3),
        a == ("a", -1, 3, 0, 3),
        hash(a) == hash(F("a", -1, 3, 0)),
        str(a),
        a.vectorized,
        F("s", None, 2, 1).vectorized,
    )


@program
def param_store_module_names(lib: Lib) -> Any:
    ps = lib.mod(".params.param_store")
    name = ps.param_with_module_name("net", "layer.weight")
    return (
        name,
        ps.module_from_param_with_module_name(name),
        ps.user_param_name(name),
        ps.user_param_name("a$$$b$$$c"),
        ps.module_from_param_with_module_name("x"),
        ps.normalize_param_name("a$$$b$$$c"),
    )


@program
def param_store_hashable_names(lib: Lib) -> Any:
    # Any hashable object names a param, as in Pyro; names without a module
    # come back from user_param_name unchanged.
    pyro, dist = lib.pyro, lib.dist
    ps = lib.mod(".params.param_store")

    def model() -> Any:
        pyro.param(("enc", 0), torch.zeros(2))
        pyro.param(3, torch.ones(1), constraint=dist.constraints.positive)
        return pyro.param(None, torch.tensor(0.5))

    value = model()
    store = pyro.get_param_store()
    return list(store.keys()), store[("enc", 0)], value, ps.user_param_name(("enc", 0))


@program
def param_store_unhashable_name_raises(lib: Lib) -> Any:
    return lib.pyro.param(["enc"], torch.zeros(1))


@program
def logger_level(lib: Lib) -> Any:
    # Its handler and propagation depend on whether logging was set up before the
    # import (tests/test_logger.py checks both cases).
    return lib.pyro.log.level
