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

# -- handlers ---------------------------------------------------------------------


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


@program
def trace_dense_edges(lib: Lib) -> Any:
    def model() -> None:
        a = lib.pyro.sample("a", lib.dist.Normal(0.0, 1.0))
        with lib.pyro.plate("p", 2):
            lib.pyro.sample("b", lib.dist.Normal(a, 1.0))
        for i in lib.pyro.plate("s", 2):
            lib.pyro.sample(f"c_{i}", lib.dist.Normal(a, 1.0), obs=torch.tensor(0.0))

    return lib.poutine.trace(model, graph_type="dense").get_trace()


@program
def trace_param_only(lib: Lib) -> Any:
    def model() -> None:
        lib.pyro.param("w", torch.ones(1))
        lib.pyro.sample("a", lib.dist.Normal(0.0, 1.0))

    return lib.poutine.trace(model, param_only=True).get_trace()


@program
def trace_unknown_graph_type_raises(lib: Lib) -> Any:
    return lib.poutine.trace(lambda: None, graph_type="foo").get_trace()


@program
def trace_duplicate_sample_names_raise(lib: Lib) -> Any:
    def model() -> None:
        lib.pyro.sample("a", lib.dist.Normal(0.0, 1.0))
        lib.pyro.sample("a", lib.dist.Normal(0.0, 1.0))

    return traced(lib, model)


@program
def trace_param_then_sample_same_name_raises(lib: Lib) -> Any:
    def model() -> None:
        lib.pyro.param("a", torch.ones(1))
        lib.pyro.sample("a", lib.dist.Normal(0.0, 1.0))

    return traced(lib, model)


@program
def trace_add_edge_adds_missing_nodes(lib: Lib) -> Any:
    tr = lib.Trace()
    tr.add_node("a", type="sample", name="a")
    tr.add_edge("a", "b")
    tr.add_edge("c", "a")
    return tr, tr.successors("a"), tr.predecessors("a"), tr.topological_sort()


@program
def trace_missing_site_raises_key_error(lib: Lib) -> Any:
    return lib.Trace().predecessors("nope")


@program
def trace_remove_missing_site_raises_key_error(lib: Lib) -> Any:
    lib.Trace().remove_node("nope")


@program
def trace_nan_log_prob_warns(lib: Lib) -> Any:
    def model() -> None:
        lib.pyro.sample(
            "x",
            lib.dist.Normal(torch.tensor(float("nan")), 1.0, validate_args=False),
            obs=torch.tensor(0.0),
        )

    return traced(lib, model).log_prob_sum()


@program
def custom_effect_is_not_traced(lib: Lib) -> Any:
    effectful = lib.mod(".poutine.runtime").effectful
    double = effectful(lambda x: 2 * x, type="double")

    def model() -> Any:
        return double(3, name="d", obs=None)

    return traced(lib, model), double(4, name="e", obs=10)


@program
def effectful_without_type_raises(lib: Lib) -> Any:
    return lib.mod(".poutine.runtime").effectful(lambda x: x)


@program
def messenger_register_and_unregister(lib: Lib) -> Any:
    Messenger = lib.mod(".poutine.messenger").Messenger
    seen: list[Any] = []

    class Spy(Messenger):
        pass

    def hook(msg: Any) -> None:
        seen.append(msg["name"])

    Spy.register(hook, type="sample")
    with Spy():
        lib.pyro.sample("a", lib.dist.Normal(0.0, 1.0))
    Spy.unregister(hook, "sample")
    with Spy():
        lib.pyro.sample("b", lib.dist.Normal(0.0, 1.0))
    return seen


@program
def messenger_register_without_type_raises(lib: Lib) -> Any:
    lib.mod(".poutine.messenger").Messenger.register(print)


@program
def messenger_entered_twice_raises(lib: Lib) -> Any:
    m = lib.mod(".poutine.messenger").Messenger()
    with m, m:
        pass


@program
def messenger_decorates_a_method(lib: Lib) -> Any:
    class Model:
        @lib.poutine.block
        def run(self, x: Any) -> Any:
            return lib.pyro.sample("z", lib.dist.Normal(x, 1.0))

    return traced(lib, Model().run, 1.0)


@program
def unwrap_handlers(lib: Lib) -> Any:
    unwrap = lib.mod(".poutine.messenger").unwrap

    def model() -> None:
        pass

    traced_fn = lib.poutine.trace(model)
    return (
        unwrap(lib.poutine.block(lib.poutine.scale(model, scale=2.0))) is model,
        unwrap(traced_fn) is traced_fn,
        unwrap(lib.poutine.block(traced_fn)) is traced_fn,
        unwrap(model) is model,
    )


@program
def block_messengers_hides_trace(lib: Lib) -> Any:
    block_messengers = lib.mod(".poutine.messenger").block_messengers
    TraceMessenger = lib.mod(".poutine.trace_messenger").TraceMessenger
    with lib.poutine.trace() as tm:
        with block_messengers(lambda m: isinstance(m, TraceMessenger)) as blocked:
            n_blocked = len(blocked)
            lib.pyro.sample("hidden", lib.dist.Normal(0.0, 1.0))
        lib.pyro.sample("shown", lib.dist.Normal(0.0, 1.0))
    return tm.trace, n_blocked
