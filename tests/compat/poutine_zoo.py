"""A zoo of programs over the primitives, plates and handlers, each written once
against a :class:`~differential.Lib` so that it runs on Pyro and on tracegraph.

Each returns what is compared: a trace, values, or it raises.  Programs that are
invalid in Pyro are here too: tracegraph must raise the same built-in type.
"""

from __future__ import annotations

import queue as queues
from collections.abc import Callable
from typing import Any

import torch
from differential import Lib

PROGRAMS: dict[str, Callable[[Lib], Any]] = {}


def program(fn: Callable[[Lib], Any]) -> Callable[[Lib], Any]:
    PROGRAMS[fn.__name__] = fn
    return fn


def traced(lib: Lib, model: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return lib.poutine.trace(model).get_trace(*args, **kwargs)


def with_log_probs(tr: Any) -> Any:
    tr.compute_log_prob()
    return tr, tr.log_prob_sum()


# -- primitives -----------------------------------------------------------------


@program
def sample_latent(lib: Lib) -> Any:
    return traced(lib, lambda: lib.pyro.sample("z", lib.dist.Normal(0.0, 1.0)))


@program
def sample_observed_with_log_prob(lib: Lib) -> Any:
    def model() -> None:
        loc = lib.pyro.sample("loc", lib.dist.Normal(0.0, 1.0))
        lib.pyro.sample("x", lib.dist.Normal(loc, 2.0), obs=torch.tensor(0.5))

    return with_log_probs(traced(lib, model))


@program
def sample_infer_dict_is_copied(lib: Lib) -> Any:
    infer = {"foo": 1}

    def model() -> None:
        lib.pyro.sample("a", lib.dist.Bernoulli(0.3), infer=infer)
        lib.pyro.sample("b", lib.dist.Bernoulli(0.3), infer=infer)

    tr = traced(lib, model)
    return tr, infer


@program
def sample_int_and_tuple_names(lib: Lib) -> Any:
    def model() -> None:
        lib.pyro.sample(3, lib.dist.Normal(0.0, 1.0))
        lib.pyro.sample(("z", 1), lib.dist.Normal(0.0, 1.0))

    tr = traced(lib, model)
    return [n for n in tr.nodes]


@program
def sample_name_none_raises(lib: Lib) -> Any:
    return traced(lib, lambda: lib.pyro.sample(None, lib.dist.Normal(0.0, 1.0)))


@program
def sample_unwrapped_returns_obs_or_draw(lib: Lib) -> Any:
    return (
        lib.pyro.sample("x", lib.dist.Normal(0.0, 1.0), obs=torch.tensor(2.0)),
        lib.pyro.sample("y", lib.dist.Normal(0.0, 1.0)),
    )


@program
def sample_to_event_and_expand(lib: Lib) -> Any:
    def model() -> None:
        lib.pyro.sample("a", lib.dist.Normal(torch.zeros(2, 3), 1.0).to_event(1))
        lib.pyro.sample("b", lib.dist.Normal(0.0, 1.0).expand([4]).to_event(1))

    return with_log_probs(traced(lib, model))


@program
def param_sites_args_and_replacement(lib: Lib) -> Any:
    constraints = lib.dist.constraints

    def model() -> Any:
        lib.pyro.param("a", torch.tensor(1.0))
        lib.pyro.param("b", lambda: torch.ones(2), constraint=constraints.positive, event_dim=0)
        lib.pyro.param("a")
        return lib.pyro.param("b")

    return traced(lib, model)


@program
def factor_sites(lib: Lib) -> Any:
    def model() -> None:
        lib.pyro.factor("f", torch.tensor(-1.5))
        lib.pyro.factor("g", torch.tensor([-1.0, -2.0]), has_rsample=True)

    tr, lp = with_log_probs(traced(lib, model))
    return tr, lp, tr.nodes["g"]["fn"].has_rsample


@program
def deterministic_sites(lib: Lib) -> Any:
    def model() -> None:
        lib.pyro.deterministic("d", torch.ones(2))
        lib.pyro.deterministic("d0", torch.ones(2), event_dim=0)

    return with_log_probs(traced(lib, model))


@program
def obs_mask_splits_the_site(lib: Lib) -> Any:
    def model() -> Any:
        return lib.pyro.sample(
            "x",
            lib.dist.Normal(torch.zeros(3), 1.0),
            obs=torch.tensor([1.0, 2.0, 3.0]),
            obs_mask=torch.tensor([True, False, True]),
        )

    return with_log_probs(traced(lib, model))


@program
def module_registers_params(lib: Lib) -> Any:
    torch.manual_seed(0)
    net = torch.nn.Linear(2, 1)
    tr = traced(lib, lambda: lib.pyro.module("net", net))
    return [n for n in tr.nodes], sorted(lib.pyro.get_param_store().keys())


@program
def subsample_effect_in_plate(lib: Lib) -> Any:
    def model() -> Any:
        data = torch.arange(10.0)
        with lib.pyro.plate("data", 10, subsample_size=3):
            return lib.pyro.subsample(data, event_dim=0)

    return traced(lib, model), lib.pyro.plate("data", 10, subsample_size=3).subsample_size


@program
def barrier_returns_data(lib: Lib) -> Any:
    def model() -> Any:
        return lib.pyro.barrier(torch.ones(2))

    tr = traced(lib, model)
    return tr, lib.pyro.barrier(torch.zeros(1))


# -- plates -------------------------------------------------------------------


@program
def plate_vectorized(lib: Lib) -> Any:
    def model() -> Any:
        with lib.pyro.plate("data", 3) as idx:
            lib.pyro.sample("x", lib.dist.Normal(0.0, 1.0))
        return idx

    return with_log_probs(traced(lib, model))


@program
def plate_nested_and_explicit_dims(lib: Lib) -> Any:
    def model() -> None:
        with lib.pyro.plate("outer", 2):
            with lib.pyro.plate("inner", 3):
                lib.pyro.sample("x", lib.dist.Normal(0.0, 1.0))
        with lib.pyro.plate("a", 2, dim=-3), lib.pyro.plate("b", 4):
            lib.pyro.sample("y", lib.dist.Normal(0.0, 1.0))

    return with_log_probs(traced(lib, model))


@program
def plate_subsample_size(lib: Lib) -> Any:
    def model() -> Any:
        with lib.pyro.plate("data", 10, subsample_size=3) as idx:
            lib.pyro.sample("x", lib.dist.Normal(0.0, 1.0), obs=torch.zeros(3))
        return idx

    return with_log_probs(traced(lib, model))


@program
def plate_subsample_list(lib: Lib) -> Any:
    def model() -> Any:
        with lib.pyro.plate("data", 10, subsample=[1, 3, 5]) as idx:
            lib.pyro.sample("x", lib.dist.Normal(0.0, 1.0))
        return idx

    return with_log_probs(traced(lib, model))


@program
def plate_subsample_tuple_and_tensor(lib: Lib) -> Any:
    def model() -> Any:
        with lib.pyro.plate("a", 6, subsample=(0, 5)) as ia:
            lib.pyro.sample("x", lib.dist.Normal(0.0, 1.0))
        with lib.pyro.plate("b", 6, subsample=torch.tensor([2, 4, 1])) as ib:
            lib.pyro.sample("y", lib.dist.Normal(0.0, 1.0))
        return ia, ib

    return traced(lib, model)


@program
def plate_subsample_repeated_indices(lib: Lib) -> Any:
    def model() -> None:
        with lib.pyro.plate("data", 2, subsample=[0, 1, 1, 0]):
            lib.pyro.sample("x", lib.dist.Normal(0.0, 1.0))

    return traced(lib, model)


@program
def plate_without_size(lib: Lib) -> Any:
    def model() -> Any:
        with lib.pyro.plate("p") as idx:
            lib.pyro.sample("x", lib.dist.Normal(torch.zeros(4), 1.0))
        return idx

    return traced(lib, model)


@program
def plate_sequential(lib: Lib) -> Any:
    def model() -> Any:
        seen = []
        for i in lib.pyro.plate("steps", 3):
            seen.append(i)
            lib.pyro.sample(f"x_{i}", lib.dist.Normal(0.0, 1.0))
        return seen

    return traced(lib, model)


@program
def plate_sequential_subsampled_and_listed(lib: Lib) -> Any:
    def model() -> None:
        for i in lib.pyro.plate("s", 10, subsample_size=2):
            lib.pyro.sample(f"x_{i}", lib.dist.Normal(0.0, 1.0))
        for i in lib.pyro.plate("t", 5, subsample=[4, 2]):
            lib.pyro.sample(f"y_{i}", lib.dist.Normal(0.0, 1.0))

    return traced(lib, model)


@program
def plate_sequential_reused_counters_continue(lib: Lib) -> Any:
    def model() -> None:
        steps = lib.pyro.plate("steps", 2)
        for i in steps:
            lib.pyro.sample(f"a_{i}", lib.dist.Normal(0.0, 1.0))
        for i in steps:
            lib.pyro.sample(f"b_{i}", lib.dist.Normal(0.0, 1.0))

    return traced(lib, model)


@program
def plate_sequential_in_vectorized_and_back(lib: Lib) -> Any:
    def model() -> None:
        inner = lib.pyro.plate("inner", 2)
        with lib.pyro.plate("outer", 3, dim=-2):
            for i in lib.pyro.plate("seq", 2):
                lib.pyro.param(f"p_{i}", torch.zeros(1))
                with inner:
                    lib.pyro.sample(f"x_{i}", lib.dist.Normal(0.0, 1.0))

    return traced(lib, model)


@program
def plate_sequential_break(lib: Lib) -> Any:
    def model() -> None:
        for i in lib.pyro.plate("s", 5):
            lib.pyro.sample(f"x_{i}", lib.dist.Normal(0.0, 1.0))
            if i == 1:
                break
        lib.pyro.sample("after", lib.dist.Normal(0.0, 1.0))

    return traced(lib, model)


@program
def plate_reentered_with_twice(lib: Lib) -> Any:
    def model() -> None:
        p = lib.pyro.plate("data", 3)
        with p:
            lib.pyro.sample("x", lib.dist.Normal(0.0, 1.0))
        with p:
            lib.pyro.sample("y", lib.dist.Normal(0.0, 1.0))

    return traced(lib, model)


@program
def plate_stack_dims(lib: Lib) -> Any:
    def model() -> None:
        with lib.pyro.plate_stack("b", (2, 3), rightmost_dim=-2):
            lib.pyro.sample("x", lib.dist.Normal(0.0, 1.0))

    return traced(lib, model)


@program
def plate_subsampled_param_and_nested_scales(lib: Lib) -> Any:
    def model() -> None:
        with lib.pyro.plate("a", 10, subsample_size=5, dim=-2):
            with lib.pyro.plate("b", 6, subsample_size=2):
                lib.pyro.param("w", torch.arange(6.0), event_dim=0)
                lib.pyro.sample("x", lib.dist.Normal(0.0, 1.0))

    return with_log_probs(traced(lib, model))


@program
def plate_outer_frames_reach_inner_index_site(lib: Lib) -> Any:
    def model() -> None:
        with lib.pyro.plate("outer", 4, subsample_size=2, dim=-2):
            with lib.pyro.plate("inner", 3):
                lib.pyro.sample("x", lib.dist.Normal(0.0, 1.0))

    return traced(lib, model)


@program
def plate_scale_times_handler_scale(lib: Lib) -> Any:
    def model() -> None:
        with lib.poutine.scale(scale=0.3), lib.pyro.plate("d", 10, subsample_size=3):
            lib.pyro.sample("x", lib.dist.Normal(0.0, 1.0))

    return traced(lib, model)


@program
def plate_unwrapped_indices(lib: Lib) -> Any:
    with lib.pyro.plate("d", 3) as idx:
        x = lib.pyro.sample("x", lib.dist.Normal(0.0, 1.0))
    return idx, x, lib.pyro.plate("e", 4).indices


@program
def plate_subsample_size_too_large_raises(lib: Lib) -> Any:
    def model() -> None:
        with lib.pyro.plate("data", 3, subsample_size=5):
            pass

    return traced(lib, model)


@program
def plate_subsample_size_disagrees_raises(lib: Lib) -> Any:
    return lib.pyro.plate("data", 5, subsample=[1, 2], subsample_size=3)


@program
def plate_positive_dim_raises(lib: Lib) -> Any:
    def model() -> None:
        with lib.pyro.plate("data", 3, dim=0):
            pass

    return traced(lib, model)


@program
def plate_dim_collision_raises(lib: Lib) -> Any:
    def model() -> None:
        with lib.pyro.plate("a", 3, dim=-1), lib.pyro.plate("b", 2, dim=-1):
            pass

    return traced(lib, model)


@program
def plate_shape_mismatch_raises(lib: Lib) -> Any:
    def model() -> None:
        with lib.pyro.plate("a", 3):
            lib.pyro.sample("x", lib.dist.Normal(torch.zeros(2), 1.0))

    return traced(lib, model)


@program
def plate_subsampled_twice_raises(lib: Lib) -> Any:
    def model() -> None:
        for _ in range(2):
            with lib.pyro.plate("a", 5, subsample_size=2):
                pass

    return traced(lib, model)


@program
def block_plate_by_name_and_dim(lib: Lib) -> Any:
    block_plate = lib.mod(".poutine.plate_messenger").block_plate

    def model() -> None:
        with lib.pyro.plate("data", 3):
            with block_plate("data"):
                s = lib.pyro.sample("s", lib.dist.LogNormal(0.0, 1.0))
            with block_plate(dim=-1):
                t = lib.pyro.sample("t", lib.dist.LogNormal(0.0, 1.0))
            lib.pyro.sample("x", lib.dist.Normal(0.0, s * t))

    return traced(lib, model)


@program
def block_plate_unmatched_strict_raises(lib: Lib) -> Any:
    block_plate = lib.mod(".poutine.plate_messenger").block_plate
    with lib.pyro.plate("data", 3), block_plate("nope"):
        pass


@program
def block_plate_unmatched_not_strict(lib: Lib) -> Any:
    block_plate = lib.mod(".poutine.plate_messenger").block_plate
    with lib.pyro.plate("data", 3), block_plate("nope", strict=False):
        return lib.pyro.sample("x", lib.dist.Normal(0.0, 1.0))


@program
def block_plate_needs_name_or_dim(lib: Lib) -> Any:
    block_plate = lib.mod(".poutine.plate_messenger").block_plate
    with lib.pyro.plate("data", 3), block_plate():
        pass


@program
def get_plates_and_get_mask(lib: Lib) -> Any:
    runtime = lib.mod(".poutine.runtime")
    out = [runtime.get_plates(), runtime.get_mask()]
    with lib.pyro.plate("a", 3), lib.pyro.plate("b", 2, dim=-3):
        out.append(runtime.get_plates())
        with lib.poutine.mask(mask=torch.tensor([True, False, True])):
            out.append(runtime.get_mask())
            with lib.poutine.mask(mask=False):
                out.append(runtime.get_mask())
        with lib.poutine.block():
            out.append((runtime.get_plates(), runtime.get_mask()))
    return out


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


# -- markov -------------------------------------------------------------------------


@program
def markov_iterator_chain(lib: Lib) -> Any:
    def model() -> None:
        x = torch.tensor(0.0)
        for t in lib.pyro.markov(range(4)):
            x = lib.pyro.sample(f"x_{t}", lib.dist.Normal(x, 1.0))
            lib.pyro.sample(f"y_{t}", lib.dist.Normal(x, 1.0), obs=torch.tensor(0.0))

    return traced(lib, model)


@program
def markov_history_two_and_zero(lib: Lib) -> Any:
    def model() -> None:
        for t in lib.pyro.markov(range(4), history=2):
            lib.pyro.sample(f"x_{t}", lib.dist.Normal(0.0, 1.0))
            lib.pyro.param(f"p_{t}", torch.zeros(1))
        for t in lib.pyro.markov(range(3), history=0):
            lib.pyro.sample(f"z_{t}", lib.dist.Normal(0.0, 1.0))

    return traced(lib, model)


@program
def markov_nested_iterators(lib: Lib) -> Any:
    def model() -> None:
        for t in lib.pyro.markov(range(2)):
            for s in lib.pyro.markov(range(2)):
                lib.pyro.sample(f"x_{t}_{s}", lib.dist.Normal(0.0, 1.0))

    return traced(lib, model)


@program
def markov_contexts_keep_false(lib: Lib) -> Any:
    def model() -> None:
        mm = lib.pyro.markov()
        with mm:
            lib.pyro.sample("a", lib.dist.Normal(0.0, 1.0))
            with mm:
                lib.pyro.sample("b", lib.dist.Normal(0.0, 1.0))
            with mm:
                lib.pyro.sample("c", lib.dist.Normal(0.0, 1.0))
        with mm:
            lib.pyro.sample("d", lib.dist.Normal(0.0, 1.0))

    return traced(lib, model)


@program
def markov_contexts_keep_true(lib: Lib) -> Any:
    def model() -> None:
        mm = lib.pyro.markov(keep=True)
        with mm:
            lib.pyro.sample("a", lib.dist.Normal(0.0, 1.0))
            with mm:
                lib.pyro.sample("b", lib.dist.Normal(0.0, 1.0))
            with mm:
                lib.pyro.sample("c", lib.dist.Normal(0.0, 1.0))
        with mm:
            lib.pyro.sample("d", lib.dist.Normal(0.0, 1.0))

    return traced(lib, model)


@program
def markov_separate_contexts_and_plates(lib: Lib) -> Any:
    def model() -> None:
        with lib.pyro.markov():
            lib.pyro.sample("a", lib.dist.Normal(0.0, 1.0))
            with lib.pyro.plate("p", 2):
                lib.pyro.sample("b", lib.dist.Normal(0.0, 1.0))
            with lib.pyro.markov():
                lib.pyro.sample("c", lib.dist.Normal(0.0, 1.0))
            with lib.poutine.block():
                lib.pyro.sample("hidden", lib.dist.Normal(0.0, 1.0))
            lib.pyro.deterministic("d", torch.tensor(1.0))
            lib.pyro.factor("f", torch.tensor(0.0))

    return traced(lib, model)


@program
def markov_recursive_decorator(lib: Lib) -> Any:
    @lib.pyro.markov(history=2)
    def rec(t: int) -> None:
        lib.pyro.sample(f"r_{t}", lib.dist.Normal(0.0, 1.0))
        if t < 3:
            rec(t + 1)

    return traced(lib, rec, 0)


@program
def markov_break_leaves_the_chain(lib: Lib) -> Any:
    def model() -> None:
        for t in lib.pyro.markov(range(5)):
            lib.pyro.sample(f"x_{t}", lib.dist.Normal(0.0, 1.0))
            if t == 1:
                break
        lib.pyro.sample("after", lib.dist.Normal(0.0, 1.0))

    return traced(lib, model)


@program
def markov_generator_method(lib: Lib) -> Any:
    MarkovMessenger = lib.mod(".poutine.handlers").MarkovMessenger

    def model() -> None:
        for t in MarkovMessenger().generator(range(3)):
            lib.pyro.sample(f"x_{t}", lib.dist.Normal(0.0, 1.0))

    return traced(lib, model), [t for t in lib.pyro.markov(range(3))]


@program
def markov_dim_not_implemented(lib: Lib) -> Any:
    return lib.pyro.markov(dim=-1)


@program
def markov_name_not_implemented(lib: Lib) -> Any:
    return lib.pyro.markov(name="chain")


# -- equalize -------------------------------------------------------------------------


def _stds(lib: Lib) -> Callable[[], Any]:
    def model() -> Any:
        x = lib.pyro.sample("x", lib.dist.Normal(0.0, 1.0))
        y = lib.pyro.sample("y", lib.dist.Normal(5.0, 3.0))
        yy = lib.pyro.sample("yy", lib.dist.Normal(5.0, 3.0))
        z = lib.pyro.sample("z", lib.dist.Normal(5.0, 3.0), obs=torch.tensor(3.0))
        a = lib.pyro.param("p_a", torch.tensor(1.0))
        b = lib.pyro.param("p_b", torch.tensor(2.0))
        return x, y, yy, z, a, b

    return model


@program
def equalize_sample_sites(lib: Lib) -> Any:
    model = _stds(lib)
    return (
        with_log_probs(traced(lib, lib.poutine.equalize(model, "y.*"))),
        traced(lib, lib.poutine.equalize(model, ["x", "yy"])),
        traced(lib, lib.poutine.equalize(model, "y")),
    )


@program
def equalize_observed_site_too(lib: Lib) -> Any:
    return traced(lib, lib.poutine.equalize(_stds(lib), ".*"))


@program
def equalize_keep_dist(lib: Lib) -> Any:
    return with_log_probs(traced(lib, lib.poutine.equalize(_stds(lib), ["x", "y"], keep_dist=True)))


@program
def equalize_params(lib: Lib) -> Any:
    tr = traced(lib, lib.poutine.equalize(_stds(lib), "p_.", "param"))
    return tr, sorted(lib.pyro.get_param_store().keys())


@program
def equalize_as_context_with_event_dims(lib: Lib) -> Any:
    def model() -> None:
        with lib.pyro.plate("p", 3):
            lib.pyro.sample("a", lib.dist.Normal(0.0, 1.0).expand([3, 2]).to_event(1))
            lib.pyro.sample("b", lib.dist.Normal(0.0, 1.0).expand([3, 2]).to_event(1))

    with lib.poutine.trace() as tm, lib.poutine.equalize(sites=["a", "b"]):
        model()
    return with_log_probs(tm.trace)


# -- queue -----------------------------------------------------------------------------


def _discrete(lib: Lib) -> Callable[[], Any]:
    def model() -> Any:
        a = lib.pyro.sample("a", lib.dist.Bernoulli(0.5))
        b = lib.pyro.sample("b", lib.dist.Categorical(torch.ones(3) / 3))
        c = lib.pyro.sample("c", lib.dist.Normal(0.0, 1.0))
        return a, b, c

    return model


@program
def queue_enumerates_discrete_sites(lib: Lib) -> Any:
    q: Any = queues.LifoQueue()
    q.put(lib.Trace())
    explore = lib.poutine.queue(_discrete(lib), queue=q)
    runs = []
    while not q.empty():
        runs.append(traced(lib, explore))
    return runs


@program
def queue_fifo_with_mc_extend(lib: Lib) -> Any:
    util = lib.mod(".poutine.util")
    q: Any = queues.Queue()
    q.put(lib.Trace())
    explore = lib.poutine.queue(
        _discrete(lib), queue=q, escape_fn=util.all_escape, extend_fn=util.mc_extend, num_samples=2
    )
    return [explore() for _ in range(3)], q.qsize()


@program
def queue_as_decorator(lib: Lib) -> Any:
    q: Any = queues.LifoQueue()
    q.put(lib.Trace())
    explore = lib.poutine.queue(queue=q)(_discrete(lib))
    return explore(), q.qsize()


@program
def queue_empty_raises(lib: Lib) -> Any:
    return lib.poutine.queue(_discrete(lib), queue=queues.Queue())()


@program
def queue_max_tries_raises(lib: Lib) -> Any:
    q: Any = queues.Queue()
    q.put(lib.Trace())
    return lib.poutine.queue(_discrete(lib), queue=q, max_tries=1)()


@program
def trace_extensions_and_escapes(lib: Lib) -> Any:
    util = lib.mod(".poutine.util")

    def model() -> None:
        lib.pyro.sample("a", lib.dist.Normal(0.0, 1.0))
        with lib.pyro.plate("p", 2):
            lib.pyro.sample("b", lib.dist.Bernoulli(0.3))

    empty = lib.Trace()
    fn = lib.poutine.trace(
        lib.poutine.escape(model, escape_fn=lambda m: util.discrete_escape(empty, m))
    )
    try:
        fn()
    except lib.mod(".poutine.runtime").NonlocalExit as e:
        site = e.site
    partial = fn.trace
    return (
        partial,
        [t for t in util.enum_extend(partial.copy(), site)],
        len(util.enum_extend(partial.copy(), site, num_samples=0)),
        len(util.mc_extend(partial.copy(), site, num_samples=3)),
        util.prune_subsample_sites(partial),
        util.all_escape(partial, site),
        util.discrete_escape(partial, {**site, "fn": lib.dist.Normal(0.0, 1.0)}),
    )


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
def logger_level(lib: Lib) -> Any:
    # Its handler and propagation depend on whether logging was set up before the
    # import (tests/test_logger.py checks both cases).
    return lib.pyro.log.level


# -- invalid handler arguments: the same built-in exception type as Pyro -------------


def _z(lib: Lib) -> Callable[[], Any]:
    return lambda: lib.pyro.sample("z", lib.dist.Normal(0.0, 1.0))


@program
def bad_condition_without_data(lib: Lib) -> Any:
    return lib.poutine.condition(_z(lib))()


@program
def bad_condition_data_not_a_dict(lib: Lib) -> Any:
    return lib.poutine.condition(_z(lib), data=3)()


@program
def bad_do_without_data(lib: Lib) -> Any:
    return lib.poutine.do(_z(lib))()


@program
def bad_lift_without_prior(lib: Lib) -> Any:
    return lib.poutine.lift(_z(lib))()


@program
def bad_lift_prior_not_a_distribution(lib: Lib) -> Any:
    return lib.poutine.lift(lambda: lib.pyro.param("w", torch.zeros(1)), prior=3)()


@program
def bad_escape_fn_not_callable(lib: Lib) -> Any:
    return lib.poutine.escape(_z(lib), escape_fn=3)()


@program
def bad_block_hide_fn_and_expose_fn(lib: Lib) -> Any:
    return lib.poutine.block(_z(lib), hide_fn=lambda m: True, expose_fn=lambda m: True)()


@program
def block_hide_single_name_str(lib: Lib) -> Any:
    return traced(lib, lib.poutine.block(_two_level(lib), hide="z"))


@program
def bad_block_hide_not_iterable(lib: Lib) -> Any:
    return lib.poutine.block(_z(lib), hide=3)()


@program
def bad_infer_config_fn_not_callable(lib: Lib) -> Any:
    return lib.poutine.infer_config(_z(lib), config_fn={"a": 1})()


@program
def bad_trace_fn_not_callable(lib: Lib) -> Any:
    return lib.poutine.trace(3)


@program
def bad_replay_without_trace(lib: Lib) -> Any:
    return lib.poutine.replay(_z(lib))()


@program
def bad_replay_trace_not_a_trace(lib: Lib) -> Any:
    return lib.poutine.replay(_z(lib), trace=3)()


@program
def bad_seed_without_seed(lib: Lib) -> Any:
    return lib.poutine.seed(_z(lib))()


@program
def bad_seed_not_an_int(lib: Lib) -> Any:
    return lib.poutine.seed(_z(lib), rng_seed=1.5)()


@program
def bad_seed_out_of_range(lib: Lib) -> Any:
    return lib.poutine.seed(_z(lib), rng_seed=-1)()


@program
def bad_scale_not_a_number(lib: Lib) -> Any:
    return lib.poutine.scale(_z(lib), scale="x")()


@program
def bad_scale_negative_tensor(lib: Lib) -> Any:
    return lib.poutine.scale(_z(lib), scale=torch.tensor([-1.0, 1.0]))()


@program
def bad_mask_without_mask(lib: Lib) -> Any:
    return lib.poutine.mask(_z(lib))()


@program
def bad_mask_list(lib: Lib) -> Any:
    return lib.poutine.mask(_z(lib), mask=[True])()


@program
def bad_substitute_without_data(lib: Lib) -> Any:
    return lib.poutine.substitute(_z(lib))()


@program
def bad_equalize_without_sites(lib: Lib) -> Any:
    return lib.poutine.equalize(_z(lib))()


@program
def bad_equalize_sites_not_str(lib: Lib) -> Any:
    return lib.poutine.equalize(_z(lib), 3)()


@program
def bad_markov_negative_history(lib: Lib) -> Any:
    return [t for t in lib.pyro.markov(range(2), history=-1)]


@program
def bad_markov_iterating_an_int(lib: Lib) -> Any:
    return list(lib.pyro.markov(3))


@program
def bad_plate_size_a_str(lib: Lib) -> Any:
    return lib.pyro.plate("p", "3")


@program
def bad_plate_subsample_size_a_str(lib: Lib) -> Any:
    return lib.pyro.plate("p", 3, subsample_size="2")


@program
def bad_param_without_name(lib: Lib) -> Any:
    return traced(lib, lambda: lib.pyro.param(None, torch.zeros(1)))


@program
def bad_obs_mask_not_bool(lib: Lib) -> Any:
    return lib.pyro.sample(
        "x", lib.dist.Normal(torch.zeros(2), 1.0), obs=torch.zeros(2), obs_mask=torch.ones(2)
    )


@program
def substitute_warns_about_unknown_names(lib: Lib) -> Any:
    def model() -> Any:
        return lib.pyro.param("a", torch.tensor(0.5))

    return lib.poutine.substitute(model, data={"a": torch.tensor(0.3), "zz": torch.tensor(1.0)})()
