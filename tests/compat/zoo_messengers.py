"""Custom effects and messengers: ``effectful``, ``Messenger.register``, hooks,
``unwrap``, ``block_messengers``.

Programs of the differential zoo (see ``differential.py``).
"""

from __future__ import annotations

from typing import Any

import torch
from differential import Lib, program, traced
from zoo_models import _three_site_model

# -- effects and messengers --------------------------------------------------------------


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


# -- custom messengers and effects (second zoo) ------------------------------------------


@program
def custom_messenger_hooks(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    # Pyro users write messengers against the message protocol's hook names.
    class Tagger(poutine.messenger.Messenger):
        def _pyro_sample(self, msg):
            msg["infer"]["tagged"] = msg["name"]

        def _pyro_post_sample(self, msg):
            msg["infer"]["seen_value"] = msg["value"] is not None

        def _pyro_param(self, msg):
            msg["infer"]["param_tagged"] = True

    model = _three_site_model(pyro, dist)
    with Tagger():
        tr_context = traced(lib, model)
    tr_decorated = traced(lib, Tagger()(model))
    return tr_context, tr_decorated


@program
def custom_messenger_process_message(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    class Doubler(poutine.messenger.Messenger):
        def _process_message(self, msg):
            if msg["type"] == "sample":
                msg["scale"] = 2.0 * msg["scale"]

        def _postprocess_message(self, msg):
            if msg["type"] == "sample":
                msg["infer"]["post"] = True

    return traced(lib, Doubler()(_three_site_model(pyro, dist)))


@program
def custom_messenger_sets_value(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    class Fixer(poutine.messenger.Messenger):
        def _pyro_sample(self, msg):
            if msg["name"] == "x" and msg["value"] is None:
                msg["value"] = torch.tensor(4.0)

    return traced(lib, Fixer()(_three_site_model(pyro, dist)))


@program
def custom_messenger_stop(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    # A handler that sets msg["stop"] hides the site from outer handlers.
    class Stopper(poutine.messenger.Messenger):
        def _pyro_sample(self, msg):
            if msg["name"] == "y":
                msg["stop"] = True

    return traced(lib, Stopper()(_three_site_model(pyro, dist)))


@program
def effectful_custom_effect(lib: Lib) -> Any:
    poutine = lib.poutine
    runtime = poutine.runtime

    def double(x):
        return 2 * x

    effect = runtime.effectful(double, type="double")

    class Triple(poutine.messenger.Messenger):
        def _pyro_double(self, msg):
            msg["value"] = 3 * msg["args"][0]
            msg["done"] = True

    unhandled = effect(torch.tensor(1.0))
    with Triple():
        handled = effect(torch.tensor(1.0))
    return unhandled, handled, runtime.am_i_wrapped()


@program
def am_i_wrapped_inside_handler(lib: Lib) -> Any:
    poutine = lib.poutine
    inside = []

    def model():
        inside.append(poutine.runtime.am_i_wrapped())

    model()
    poutine.trace(model).get_trace()
    return inside


@program
def block_messengers_mutes_outer_trace(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    model = _three_site_model(pyro, dist)

    def is_trace(m):
        return type(m).__name__ == "TraceMessenger"

    with poutine.trace() as tracer:
        pyro.sample("before", dist.Normal(0.0, 1.0))
        with poutine.messenger.block_messengers(is_trace) as blocked:
            model()
        pyro.sample("after", dist.Normal(0.0, 1.0))
    return list(tracer.trace.nodes), len(blocked)


@program
def unwrap_handled_function(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    model = _three_site_model(pyro, dist)
    handled = poutine.block(poutine.scale(model, scale=2.0), hide=["x"])
    return poutine.messenger.unwrap(handled) is model
