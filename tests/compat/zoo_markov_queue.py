"""markov, equalize and queue, and the trace extensions queue builds on.

Programs of the differential zoo (see ``differential.py``).
"""

from __future__ import annotations

import queue as queues
from collections.abc import Callable
from typing import Any

import torch
from differential import Lib, program, traced, with_log_probs

# -- markov, equalize, queue -------------------------------------------------------------


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


# -- markov, barrier (second zoo) --------------------------------------------------------


@program
def markov_context(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    def model():
        x = pyro.sample("x0", dist.Normal(0.0, 1.0))
        for t in range(1, 3):
            with pyro.markov():
                x = pyro.sample(f"x{t}", dist.Normal(x, 1.0))
        return x

    return traced(lib, model)


@program
def markov_iterator(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    def model():
        x = torch.tensor(0.0)
        for t in pyro.markov(range(3)):
            x = pyro.sample(f"x{t}", dist.Normal(x, 1.0))
        return x

    return traced(lib, model)


@program
def markov_decorator_recursive(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    @pyro.markov
    def step(t, x):
        x = pyro.sample(f"x{t}", dist.Normal(x, 1.0))
        return step(t + 1, x) if t < 2 else x

    def model():
        return step(0, torch.tensor(0.0))

    return traced(lib, model)


@program
def markov_handler_history(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    def model():
        x = torch.tensor(0.0)
        for t in poutine.markov(range(4), history=2):
            x = pyro.sample(f"x{t}", dist.Normal(x, 1.0))
        return x

    return traced(lib, model)


@program
def barrier_in_model(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    def model():
        x = pyro.sample("x", dist.Normal(torch.zeros(2), 1.0).to_event(1))
        return pyro.barrier(x)

    return traced(lib, model)


# -- queue, equalize (second zoo) --------------------------------------------------------


@program
def queue_enumerates_discrete_traces(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    def model():
        a = pyro.sample("a", dist.Bernoulli(0.3))
        b = pyro.sample("b", dist.Bernoulli(0.6))
        return a, b

    q = queues.Queue()
    q.put(poutine.Trace())
    results = []
    while not q.empty():
        results.append(poutine.queue(model, queue=q)())
    return results


@program
def queue_traces_with_max_tries(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    def model():
        return pyro.sample("c", dist.Categorical(torch.tensor([0.2, 0.3, 0.5])))

    q = queues.LifoQueue()
    q.put(poutine.Trace())
    traces = []
    while not q.empty():
        traces.append(poutine.trace(poutine.queue(model, queue=q, max_tries=5)).get_trace())
    return traces


@program
def equalize_samples(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    def model():
        x = pyro.sample("x", dist.Normal(0.0, 1.0))
        y = pyro.sample("y", dist.Normal(5.0, 3.0))
        return x, y

    return traced(lib, poutine.equalize(model, ["x", "y"]))


@program
def equalize_keep_dist_regex(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    def model():
        return [pyro.sample(f"{c}_std", dist.LogNormal(0.0, 1.0)) for c in "abc"]

    return traced(lib, poutine.equalize(model, ".+_std", keep_dist=True))


@program
def equalize_params_by_regex(lib: Lib) -> Any:
    pyro, poutine = lib.pyro, lib.poutine
    def model():
        return [pyro.param(f"{c}_shift", torch.tensor(float(i))) for i, c in enumerate("ab")]

    return traced(lib, poutine.equalize(model, ".+_shift", "param"))
