"""A zoo of small probabilistic programs written once, run against Pyro and tracegraph.

Every program is a plain function ``prog(pyro, dist, poutine)`` that receives the
library under test (``pyro`` or ``tracegraph``, its ``distributions`` and its
``poutine``), builds a model, runs it through handlers and returns what it wants
compared: usually a ``Trace``, sometimes a tuple or dict of traces, tensors and
plain values.  An invalid program simply raises; the test compares exception
types.  ``test_program_zoo.py`` runs each program in both libraries from the same
seed and diffs the results.

The programs use only names that Pyro 1.9.2 has at these paths, so a program that
fails on tracegraph with ``AttributeError`` points at a missing name.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from typing import Any

import torch

#: name -> program, in definition order (the test ids follow it).
PROGRAMS: dict[str, Callable[[Any, Any, Any], Any]] = {}

#: Programs Pyro runs but is silently wrong on; there tracegraph may add a
#: ``TracegraphWarning`` (issue 10: "where Pyro is silently wrong, a warning is
#: fine").  name -> what Pyro gets wrong.
PYRO_SILENTLY_WRONG: dict[str, str] = {
    "lenient_param_init_outside_support": (
        "a positive-constrained param initialised with -1 is stored as log(-1) = nan "
        "and returned as nan, without a word"
    ),
}


def program(fn: Callable[[Any, Any, Any], Any]) -> Callable[[Any, Any, Any], Any]:
    """Register ``fn`` in :data:`PROGRAMS` under its own name."""
    assert fn.__name__ not in PROGRAMS, fn.__name__
    PROGRAMS[fn.__name__] = fn
    return fn


def _trace(poutine: Any, model: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return poutine.trace(model).get_trace(*args, **kwargs)


# ------------------------------------------------ sample


@program
def sample_latent_normal(pyro, dist, poutine):
    def model():
        return pyro.sample("x", dist.Normal(0.0, 1.0))

    return _trace(poutine, model)


@program
def sample_without_handler(pyro, dist, poutine):
    # No handler installed: the primitive just draws (or returns obs).
    x = pyro.sample("x", dist.Normal(torch.zeros(2), 1.0))
    y = pyro.sample("y", dist.Normal(0.0, 1.0), obs=torch.tensor(0.25))
    return x, y


@program
def sample_observed(pyro, dist, poutine):
    def model(data):
        loc = pyro.sample("loc", dist.Normal(0.0, 1.0))
        return pyro.sample("obs", dist.Normal(loc, 1.0), obs=data)

    return _trace(poutine, model, torch.tensor(0.5))


@program
def sample_obs_mask(pyro, dist, poutine):
    def model():
        data = torch.tensor([1.0, 2.0, 3.0])
        mask = torch.tensor([True, False, True])
        return pyro.sample("x", dist.Normal(torch.zeros(3), 1.0), obs=data, obs_mask=mask)

    return _trace(poutine, model)


@program
def sample_obs_mask_event_dim(pyro, dist, poutine):
    def model():
        data = torch.ones(2, 3)
        mask = torch.tensor([True, False])
        d = dist.Normal(torch.zeros(2, 3), 1.0).to_event(1)
        return pyro.sample("x", d, obs=data, obs_mask=mask)

    return _trace(poutine, model)


@program
def sample_infer_dict(pyro, dist, poutine):
    def model():
        a = pyro.sample(
            "a", dist.Bernoulli(0.5), infer={"baseline": {"use_decaying_avg_baseline": True}}
        )
        b = pyro.sample("b", dist.Normal(0.0, 1.0), infer={"is_auxiliary": True})
        return a, b

    return _trace(poutine, model)


@program
def sample_to_event_and_expand(pyro, dist, poutine):
    def model():
        x = pyro.sample("x", dist.Normal(torch.zeros(3), 1.0).to_event(1))
        y = pyro.sample("y", dist.Normal(0.0, 1.0).expand([2, 3]).to_event(2))
        z = pyro.sample("z", dist.Normal(0.0, 1.0).expand_by([4]))
        return x, y, z

    return _trace(poutine, model)


@program
def sample_sample_shape_kwarg(pyro, dist, poutine):
    def model():
        return pyro.sample("x", dist.Normal(0.0, 1.0), sample_shape=torch.Size([3]))

    return _trace(poutine, model)


@program
def sample_discrete_sites(pyro, dist, poutine):
    def model():
        b = pyro.sample("b", dist.Bernoulli(0.3))
        c = pyro.sample("c", dist.Categorical(torch.tensor([0.2, 0.3, 0.5])))
        p = pyro.sample("p", dist.Poisson(2.0))
        o = pyro.sample("o", dist.OneHotCategorical(torch.tensor([0.5, 0.5])))
        return b, c, p, o

    return _trace(poutine, model)


@program
def sample_many_distributions(pyro, dist, poutine):
    def model():
        return [
            pyro.sample("beta", dist.Beta(2.0, 3.0)),
            pyro.sample("gamma", dist.Gamma(2.0, 1.0)),
            pyro.sample("dirichlet", dist.Dirichlet(torch.ones(3))),
            pyro.sample("mvn", dist.MultivariateNormal(torch.zeros(2), torch.eye(2))),
            pyro.sample("lognormal", dist.LogNormal(0.0, 1.0)),
            pyro.sample("delta", dist.Delta(torch.tensor(3.0))),
            pyro.sample("uniform", dist.Uniform(0.0, 2.0)),
        ]

    return _trace(poutine, model)


@program
def sample_masked_distribution(pyro, dist, poutine):
    def model():
        d = dist.Normal(torch.zeros(3), 1.0).mask(torch.tensor([True, False, True]))
        return pyro.sample("x", d)

    return _trace(poutine, model)


@program
def sample_distribution_mask_with_sampled_float(pyro, dist, poutine):
    # Pyro programs write ``.mask(z_pres)`` with a sampled 0/1 float tensor.
    def model():
        z_pres = pyro.sample("z_pres", dist.Bernoulli(0.5 * torch.ones(4)).to_event(1))
        return pyro.sample("z", dist.Normal(torch.zeros(4), 1.0).mask(z_pres).to_event(1))

    return _trace(poutine, model)


# ------------------------------------------------ param


@program
def param_plain_and_repeated(pyro, dist, poutine):
    def model():
        a = pyro.param("a", torch.tensor([1.0, 2.0]))
        again = pyro.param("a")
        return a, again

    tr = _trace(poutine, model)
    return tr, sorted(pyro.get_param_store().keys())


@program
def param_constraints(pyro, dist, poutine):
    constraints = dist.constraints

    def model():
        return [
            pyro.param("pos", torch.tensor(2.0), constraint=constraints.positive),
            pyro.param("unit", torch.tensor(0.3), constraint=constraints.unit_interval),
            pyro.param("interval", torch.tensor(1.5), constraint=constraints.interval(1.0, 4.0)),
            pyro.param("gt", torch.tensor(3.0), constraint=constraints.greater_than(2.0)),
            pyro.param("chol", torch.eye(2), constraint=constraints.lower_cholesky),
        ]

    return _trace(poutine, model)


@program
def param_simplex_unnormalised_init(pyro, dist, poutine):
    def model():
        return pyro.param(
            "probs", torch.tensor([1.0, 2.0, 1.0]), constraint=dist.constraints.simplex
        )

    return _trace(poutine, model)


@program
def param_lazy_init(pyro, dist, poutine):
    calls = []

    def init():
        calls.append(1)
        return torch.ones(3)

    def model():
        return pyro.param("lazy", init)

    tr1 = _trace(poutine, model)
    tr2 = _trace(poutine, model)
    return tr1, tr2, len(calls)


@program
def param_event_dim_in_subsampled_plate(pyro, dist, poutine):
    def model():
        with pyro.plate("data", 5, subsample=torch.tensor([1, 3])):
            loc = pyro.param("loc", torch.arange(5.0), event_dim=0)
            scale = pyro.param(
                "scale", torch.ones(5, 2), constraint=dist.constraints.positive, event_dim=1
            )
            return loc, scale

    return _trace(poutine, model)


@program
def param_store_contents(pyro, dist, poutine):
    def model():
        pyro.param("a", torch.tensor(0.5), constraint=dist.constraints.positive)
        pyro.param("b", torch.zeros(2))

    model()
    store = pyro.get_param_store()
    return sorted(store.keys()), store["a"], sorted(store.get_all_param_names())


# ------------------------------------------------ plate


@program
def plate_vectorized(pyro, dist, poutine):
    def model():
        with pyro.plate("data", 3) as idx:
            x = pyro.sample("x", dist.Normal(0.0, 1.0))
            pyro.sample("y", dist.Normal(x, 1.0), obs=torch.ones(3))
        return idx

    return _trace(poutine, model)


@program
def plate_sequential(pyro, dist, poutine):
    def model():
        out = []
        for i in pyro.plate("seq", 3):
            out.append(pyro.sample(f"x_{i}", dist.Normal(0.0, 1.0)))
        return out

    return _trace(poutine, model)


@program
def plate_nested_auto_dims(pyro, dist, poutine):
    def model():
        with pyro.plate("outer", 2):
            a = pyro.sample("a", dist.Normal(0.0, 1.0))
            with pyro.plate("inner", 3):
                b = pyro.sample("b", dist.Normal(0.0, 1.0))
        return a, b

    return _trace(poutine, model)


@program
def plate_nested_explicit_dims(pyro, dist, poutine):
    def model():
        with pyro.plate("x_axis", 2, dim=-3):
            with pyro.plate("y_axis", 3, dim=-1):
                return pyro.sample("z", dist.Normal(0.0, 1.0))

    return _trace(poutine, model)


@program
def plate_sequential_inside_vectorized(pyro, dist, poutine):
    def model():
        with pyro.plate("outer", 2):
            for i in pyro.plate("inner", 2):
                pyro.sample(f"x_{i}", dist.Normal(0.0, 1.0))

    return _trace(poutine, model)


@program
def plate_vectorized_inside_sequential(pyro, dist, poutine):
    def model():
        for i in pyro.plate("outer", 2):
            with pyro.plate(f"inner_{i}", 3):
                pyro.sample(f"x_{i}", dist.Normal(0.0, 1.0))

    return _trace(poutine, model)


@program
def plate_nested_sequential(pyro, dist, poutine):
    def model():
        for i in pyro.plate("rows", 2):
            for j in pyro.plate(f"cols_{i}", 2):
                pyro.sample(f"x_{i}_{j}", dist.Bernoulli(0.5))

    return _trace(poutine, model)


@program
def error_nested_sequential_plate_reused_name(pyro, dist, poutine):
    # A plate is a site too: re-entering plate "cols" in every row duplicates it.
    def model():
        for i in pyro.plate("rows", 2):
            for j in pyro.plate("cols", 2):
                pyro.sample(f"x_{i}_{j}", dist.Bernoulli(0.5))

    return _trace(poutine, model)


@program
def plate_reused_object(pyro, dist, poutine):
    def model():
        p = pyro.plate("p", 2)
        with p:
            pyro.sample("a", dist.Normal(0.0, 1.0))
        with p:
            pyro.sample("b", dist.Normal(0.0, 1.0))

    return _trace(poutine, model)


@program
def plate_subsample_size(pyro, dist, poutine):
    def model(data):
        with pyro.plate("data", len(data), subsample_size=3) as idx:
            pyro.sample("obs", dist.Normal(0.0, 1.0), obs=data[idx])
        return idx

    return _trace(poutine, model, torch.arange(10.0))


@program
def plate_subsample_tensor(pyro, dist, poutine):
    def model():
        with pyro.plate("data", 6, subsample=torch.tensor([0, 2, 5])) as idx:
            pyro.sample("x", dist.Normal(0.0, 1.0))
        return idx

    return _trace(poutine, model)


@program
def plate_subsample_list(pyro, dist, poutine):
    def model():
        with pyro.plate("data", 6, subsample=[1, 3, 5]) as idx:
            pass
        return idx

    return _trace(poutine, model)


@program
def error_plate_size_none_with_subsample(pyro, dist, poutine):
    def model():
        with pyro.plate("data", subsample=torch.tensor([0, 1, 2])) as idx:
            pyro.sample("x", dist.Normal(0.0, 1.0))
        return idx

    return _trace(poutine, model)


@program
def plate_subsample_primitive(pyro, dist, poutine):
    def model(data):
        with pyro.plate("data", 8, subsample_size=3):
            batch = pyro.subsample(data, event_dim=1)
            pyro.sample("obs", dist.Normal(0.0, 1.0).expand([3, 2]).to_event(1), obs=batch)
        return batch

    return _trace(poutine, model, torch.arange(16.0).reshape(8, 2))


@program
def plate_subsample_primitive_outside_plate(pyro, dist, poutine):
    return pyro.subsample(torch.arange(4.0), event_dim=0)


@program
def plate_sequential_subsample(pyro, dist, poutine):
    def model():
        for i in pyro.plate("seq", 10, subsample_size=3):
            pyro.sample(f"x_{int(i)}", dist.Normal(0.0, 1.0))

    return _trace(poutine, model)


@program
def plate_stack(pyro, dist, poutine):
    def model():
        with pyro.plate_stack("stack", (2, 3)):
            return pyro.sample("x", dist.Normal(0.0, 1.0))

    return _trace(poutine, model)


@program
def plate_stack_rightmost_dim(pyro, dist, poutine):
    def model():
        with pyro.plate_stack("stack", (2, 3), rightmost_dim=-2):
            return pyro.sample("x", dist.Normal(0.0, 1.0))

    return _trace(poutine, model)


@program
def plate_broadcasts_scalar_distribution(pyro, dist, poutine):
    def model():
        with pyro.plate("a", 2, dim=-2), pyro.plate("b", 3):
            return pyro.sample("x", dist.Bernoulli(0.5))

    return _trace(poutine, model)


@program
def plate_with_batched_distribution(pyro, dist, poutine):
    def model():
        with pyro.plate("p", 4):
            return pyro.sample("x", dist.Normal(torch.zeros(4), torch.ones(4)))

    return _trace(poutine, model)


@program
def plate_get_plates_and_mask(pyro, dist, poutine):
    runtime = poutine.runtime
    seen = {}

    def model():
        with pyro.plate("p", 2), poutine.mask(mask=torch.tensor([True, False])):
            seen["plates"] = [(f.name, f.dim, f.size) for f in runtime.get_plates()]
            seen["mask"] = runtime.get_mask()

    model()
    return seen


# ------------------------------------------------ factor, deterministic, module


@program
def factor_plain(pyro, dist, poutine):
    def model():
        pyro.factor("f", torch.tensor(-1.5))

    return _trace(poutine, model)


@program
def factor_in_plate_has_rsample(pyro, dist, poutine):
    def model():
        with pyro.plate("p", 3):
            pyro.factor("f", torch.ones(3), has_rsample=True)
            pyro.factor("g", torch.zeros(3), has_rsample=False)

    tr = _trace(poutine, model)
    return tr, [tr.nodes[n]["fn"].has_rsample for n in ("f", "g")]


@program
def deterministic_sites(pyro, dist, poutine):
    def model():
        x = pyro.sample("x", dist.Normal(torch.zeros(2), 1.0).to_event(1))
        pyro.deterministic("double", 2 * x, event_dim=1)
        return pyro.deterministic("sum", x.sum())

    return _trace(poutine, model)


@program
def module_registers_params(pyro, dist, poutine):
    def model():
        net = torch.nn.Linear(2, 1)
        registered = pyro.module("net", net)
        return type(registered).__name__, registered(torch.ones(2))

    tr = _trace(poutine, model)
    return tr, sorted(pyro.get_param_store().keys())


@program
def module_nested_submodules(pyro, dist, poutine):
    def model():
        net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1))
        pyro.module("seq", net)
        return net(torch.ones(2))

    tr = _trace(poutine, model)
    return tr, sorted(pyro.get_param_store().keys())


# ------------------------------------------------ markov, barrier


@program
def markov_context(pyro, dist, poutine):
    def model():
        x = pyro.sample("x0", dist.Normal(0.0, 1.0))
        for t in range(1, 3):
            with pyro.markov():
                x = pyro.sample(f"x{t}", dist.Normal(x, 1.0))
        return x

    return _trace(poutine, model)


@program
def markov_iterator(pyro, dist, poutine):
    def model():
        x = torch.tensor(0.0)
        for t in pyro.markov(range(3)):
            x = pyro.sample(f"x{t}", dist.Normal(x, 1.0))
        return x

    return _trace(poutine, model)


@program
def markov_decorator_recursive(pyro, dist, poutine):
    @pyro.markov
    def step(t, x):
        x = pyro.sample(f"x{t}", dist.Normal(x, 1.0))
        return step(t + 1, x) if t < 2 else x

    def model():
        return step(0, torch.tensor(0.0))

    return _trace(poutine, model)


@program
def markov_handler_history(pyro, dist, poutine):
    def model():
        x = torch.tensor(0.0)
        for t in poutine.markov(range(4), history=2):
            x = pyro.sample(f"x{t}", dist.Normal(x, 1.0))
        return x

    return _trace(poutine, model)


@program
def barrier_returns_data(pyro, dist, poutine):
    def model():
        x = pyro.sample("x", dist.Normal(torch.zeros(2), 1.0).to_event(1))
        return pyro.barrier(x)

    return _trace(poutine, model)


# ------------------------------------------------ trace


def _two_site_model(pyro, dist):
    def model():
        a = pyro.param("a", torch.tensor(0.5), constraint=dist.constraints.positive)
        x = pyro.sample("x", dist.Normal(0.0, a))
        pyro.sample("y", dist.Normal(x, 1.0), obs=torch.tensor(1.0))
        return x

    return model


@program
def trace_args_kwargs_and_return(pyro, dist, poutine):
    def model(a, b=2.0, *, c):
        return pyro.sample("x", dist.Normal(a + b + c, 1.0))

    return _trace(poutine, model, 1.0, b=3.0, c=torch.tensor(1.0))


@program
def trace_param_only(pyro, dist, poutine):
    return poutine.trace(_two_site_model(pyro, dist), param_only=True).get_trace()


@program
def trace_as_context_manager(pyro, dist, poutine):
    with poutine.trace() as tracer:
        _two_site_model(pyro, dist)()
    return tracer.trace


@program
def trace_graph_type_dense(pyro, dist, poutine):
    tr = poutine.trace(_two_site_model(pyro, dist), graph_type="dense").get_trace()
    return tr, sorted(tr.edges)


@program
def trace_node_lists(pyro, dist, poutine):
    def model():
        a = pyro.sample("a", dist.Bernoulli(0.5))
        b = pyro.sample("b", dist.Normal(a, 1.0))
        pyro.param("p", torch.tensor(1.0))
        pyro.sample("c", dist.Normal(b, 1.0), obs=torch.tensor(0.0))
        pyro.deterministic("d", b + 1)

    tr = _trace(poutine, model)
    return {
        "stochastic": tr.stochastic_nodes,
        "reparameterized": tr.reparameterized_nodes,
        "nonreparam": tr.nonreparam_stochastic_nodes,
        "observation": tr.observation_nodes,
        "param": tr.param_nodes,
        "iter": [name for name, _ in tr.iter_stochastic_nodes()],
    }


@program
def trace_compute_score_parts(pyro, dist, poutine):
    def model():
        a = pyro.sample("a", dist.Bernoulli(0.3))
        pyro.sample("b", dist.Normal(a, 1.0))

    tr = _trace(poutine, model)
    tr.compute_score_parts()
    return {name: tuple(tr.nodes[name]["score_parts"]) for name in tr.stochastic_nodes}


@program
def trace_format_shapes(pyro, dist, poutine):
    def model():
        pyro.param("w", torch.zeros(3))
        with pyro.plate("data", 4):
            pyro.sample("x", dist.Normal(0.0, 1.0).expand([4, 2]).to_event(1))

    tr = _trace(poutine, model)
    tr.compute_log_prob()
    return tr.format_shapes()


@program
def trace_log_prob_sum_site_filter(pyro, dist, poutine):
    tr = _trace(poutine, _two_site_model(pyro, dist))
    return tr.log_prob_sum(site_filter=lambda name, site: name == "y")


@program
def trace_edges_and_topological_sort(pyro, dist, poutine):
    tr = _trace(poutine, _two_site_model(pyro, dist))
    before = (tr.topological_sort(), tr.topological_sort(reverse=True))
    tr.add_edge("x", "y")
    tr.add_edge("a", "x")
    return (
        before,
        sorted(tr.edges),
        sorted(tr.successors("x")),
        sorted(tr.predecessors("y")),
        tr.topological_sort(),
        tr.topological_sort(reverse=True),
    )


@program
def trace_copy_then_remove_node(pyro, dist, poutine):
    # Only the copy is inspected: Pyro's copy shares its edge sets with the
    # original, so the original's edges after the removal are not compared.
    tr = _trace(poutine, _two_site_model(pyro, dist))
    tr.add_edge("x", "y")
    copied = tr.copy()
    copied.remove_node("x")
    return list(tr.nodes), list(copied.nodes), sorted(copied.edges), copied


@program
def trace_add_edge_before_nodes(pyro, dist, poutine):
    tr = poutine.Trace()
    tr.add_edge("a", "b")
    return sorted(tr.edges), list(tr.nodes), tr.topological_sort()


@program
def trace_detach(pyro, dist, poutine):
    tr = _trace(poutine, _two_site_model(pyro, dist))
    tr.detach_()
    return [tr.nodes[n]["value"].requires_grad for n in ("a", "x")]


@program
def trace_prune_subsample_sites(pyro, dist, poutine):
    def model():
        with pyro.plate("data", 5, subsample_size=2):
            pyro.sample("x", dist.Normal(0.0, 1.0))

    tr = _trace(poutine, model)
    pruned = poutine.util.prune_subsample_sites(tr)
    return (
        list(tr.nodes),
        list(pruned.nodes),
        [
            poutine.util.site_is_subsample(tr.nodes[n])
            for n in tr.nodes
            if n not in ("_INPUT", "_RETURN")
        ],
    )


# ------------------------------------------------ replay, condition, substitute


@program
def replay_guide_trace(pyro, dist, poutine):
    def guide():
        pyro.sample("x", dist.Normal(3.0, 0.1))

    guide_tr = _trace(poutine, guide)
    model_tr = _trace(poutine, poutine.replay(_two_site_model(pyro, dist), trace=guide_tr))
    return guide_tr, model_tr


@program
def replay_params_from_store(pyro, dist, poutine):
    model = _two_site_model(pyro, dist)
    _trace(poutine, model)  # creates "a" in the param store
    params = {"a": pyro.param("a")}
    return _trace(poutine, poutine.replay(model, params=params))


@program
def error_replay_params_plain_tensor(pyro, dist, poutine):
    model = _two_site_model(pyro, dist)
    return _trace(poutine, poutine.replay(model, params={"a": torch.tensor(7.0)}))


@program
def replay_partial_trace(pyro, dist, poutine):
    def model():
        a = pyro.sample("a", dist.Normal(0.0, 1.0))
        b = pyro.sample("b", dist.Normal(a, 1.0))
        return a, b

    partial = poutine.Trace()
    partial.add_node(
        "a", type="sample", name="a", value=torch.tensor(5.0), is_observed=False, infer={}
    )
    return _trace(poutine, poutine.replay(model, trace=partial))


@program
def condition_dict(pyro, dist, poutine):
    model = _two_site_model(pyro, dist)
    return _trace(poutine, poutine.condition(model, data={"x": torch.tensor(2.0)}))


@program
def condition_overrides_obs(pyro, dist, poutine):
    model = _two_site_model(pyro, dist)
    return _trace(poutine, poutine.condition(model, data={"y": torch.tensor(-3.0)}))


@program
def condition_with_trace(pyro, dist, poutine):
    model = _two_site_model(pyro, dist)
    source = _trace(poutine, model)
    return _trace(poutine, pyro.condition(model, data=source))


@program
def condition_context_manager_in_plate(pyro, dist, poutine):
    def model():
        with pyro.plate("p", 3):
            return pyro.sample("x", dist.Normal(0.0, 1.0))

    with poutine.trace() as tracer, poutine.condition(data={"x": torch.arange(3.0)}):
        model()
    return tracer.trace


@program
def substitute_data_params_only_warns_unused(pyro, dist, poutine):
    # Pyro's substitute replaces param sites only and warns about unused keys.
    model = _two_site_model(pyro, dist)
    return _trace(
        poutine, poutine.substitute(model, data={"a": torch.tensor(3.0), "x": torch.tensor(-1.0)})
    )


@program
def error_substitute_fn_keyword(pyro, dist, poutine):
    # Pyro 1.9.2's substitute has no substitute_fn argument.
    model = _two_site_model(pyro, dist)

    def fn(msg):
        return torch.tensor(9.0) if msg["name"] == "a" else None

    return _trace(poutine, poutine.substitute(model, substitute_fn=fn))


@program
def uncondition_observed_site(pyro, dist, poutine):
    return _trace(poutine, poutine.uncondition(_two_site_model(pyro, dist)))


@program
def do_intervention(pyro, dist, poutine):
    def model():
        x = pyro.sample("x", dist.Normal(0.0, 1.0))
        return pyro.sample("y", dist.Normal(x, 1.0))

    return _trace(poutine, poutine.do(model, data={"x": torch.tensor(10.0)}))


@program
def do_top_level_alias(pyro, dist, poutine):
    def model():
        x = pyro.sample("x", dist.Normal(0.0, 1.0))
        return pyro.sample("y", dist.Normal(x, 1.0))

    return _trace(poutine, pyro.do(model, data={"x": torch.tensor(10.0)}))


# ------------------------------------------------ block, scale, mask


def _three_site_model(pyro, dist):
    def model():
        a = pyro.param("a", torch.tensor(1.0))
        x = pyro.sample("x", dist.Normal(a, 1.0))
        y = pyro.sample("y", dist.Normal(x, 1.0))
        pyro.sample("z", dist.Normal(y, 1.0), obs=torch.tensor(0.0))

    return model


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


def _block_program(key: str) -> Callable[[Any, Any, Any], Any]:
    def prog(pyro, dist, poutine):
        model = _three_site_model(pyro, dist)
        return _trace(poutine, poutine.block(model, **_BLOCK_OPTIONS[key]))

    prog.__name__ = f"block_{key}"
    return prog


for _key in _BLOCK_OPTIONS:
    program(_block_program(_key))


@program
def block_context_inner_trace(pyro, dist, poutine):
    model = _three_site_model(pyro, dist)
    with poutine.trace() as outer:
        with poutine.block():
            with poutine.trace() as inner:
                model()
    return list(outer.trace.nodes), list(inner.trace.nodes)


@program
def scale_nested_and_tensor(pyro, dist, poutine):
    def model():
        with poutine.scale(scale=2.0):
            pyro.sample("a", dist.Normal(0.0, 1.0))
            with poutine.scale(scale=torch.tensor(3.0)):
                pyro.sample("b", dist.Normal(0.0, 1.0))

    return _trace(poutine, model)


@program
def scale_with_subsampled_plate(pyro, dist, poutine):
    def model():
        with poutine.scale(scale=0.5), pyro.plate("data", 10, subsample_size=4):
            pyro.sample("x", dist.Normal(0.0, 1.0))

    return _trace(poutine, model)


@program
def mask_bool_tensor_and_nested(pyro, dist, poutine):
    def model():
        with pyro.plate("p", 3):
            with poutine.mask(mask=torch.tensor([True, False, True])):
                pyro.sample("a", dist.Normal(0.0, 1.0))
                with poutine.mask(mask=torch.tensor([True, True, False])):
                    pyro.sample("b", dist.Normal(0.0, 1.0))
            with poutine.mask(mask=False):
                pyro.sample("c", dist.Normal(0.0, 1.0))

    return _trace(poutine, model)


@program
def mask_python_bool(pyro, dist, poutine):
    return _trace(poutine, poutine.mask(_three_site_model(pyro, dist), mask=True))


@program
def scale_and_mask_combined(pyro, dist, poutine):
    def model():
        with poutine.scale(scale=4.0), poutine.mask(mask=torch.tensor([False, True])):
            with pyro.plate("p", 2):
                pyro.sample("x", dist.Normal(0.0, 1.0))

    return _trace(poutine, model)


# ------------------------------------------------ seed, infer_config, escape, lift, broadcast


@program
def seed_handler_reproducible(pyro, dist, poutine):
    def model():
        return pyro.sample("x", dist.Normal(torch.zeros(3), 1.0))

    first = poutine.seed(model, rng_seed=7)()
    second = poutine.seed(model, rng_seed=7)()
    with poutine.seed(rng_seed=7):
        third = model()
    return first, second, third


@program
def infer_config_fn(pyro, dist, poutine):
    def config(msg):
        return {"tag": msg["name"].upper()} if msg["type"] == "sample" else {}

    return _trace(poutine, poutine.infer_config(_three_site_model(pyro, dist), config_fn=config))


@program
def escape_nonlocal_exit(pyro, dist, poutine):
    model = _three_site_model(pyro, dist)
    escaping = poutine.escape(model, escape_fn=lambda msg: msg["name"] == "y")
    with poutine.trace() as tracer:
        try:
            escaping()
        except poutine.NonlocalExit as exit_:
            site = exit_.site["name"]
    return site, list(tracer.trace.nodes)


@program
def nonlocal_exit_reset_stack(pyro, dist, poutine):
    model = _three_site_model(pyro, dist)
    escaping = poutine.escape(model, escape_fn=lambda msg: msg["name"] == "x")
    try:
        poutine.trace(escaping).get_trace()
    except poutine.NonlocalExit as exit_:
        exit_.reset_stack()
        return exit_.site["name"], type(exit_).__name__
    return None


@program
def lift_params_to_samples(pyro, dist, poutine):
    def model():
        loc = pyro.param("loc", torch.tensor(0.0))
        scale = pyro.param("scale", torch.tensor(1.0), constraint=dist.constraints.positive)
        return pyro.sample("x", dist.Normal(loc, scale))

    priors = {"loc": dist.Normal(0.0, 1.0), "scale": dist.HalfNormal(1.0)}
    return _trace(poutine, poutine.lift(model, prior=priors))


@program
def lift_single_prior(pyro, dist, poutine):
    def model():
        return pyro.param("w", torch.tensor(0.0)) * 2

    return _trace(poutine, poutine.lift(model, prior=dist.Normal(0.0, 1.0)))


@program
def broadcast_in_plates(pyro, dist, poutine):
    def model():
        with poutine.broadcast(), pyro.plate("a", 2, dim=-2), pyro.plate("b", 3, dim=-1):
            return pyro.sample("x", dist.Normal(0.0, 1.0))

    return _trace(poutine, model)


# ------------------------------------------------ queue, equalize


@program
def queue_enumerates_discrete_traces(pyro, dist, poutine):
    def model():
        a = pyro.sample("a", dist.Bernoulli(0.3))
        b = pyro.sample("b", dist.Bernoulli(0.6))
        return a, b

    q = queue.Queue()
    q.put(poutine.Trace())
    results = []
    while not q.empty():
        results.append(poutine.queue(model, queue=q)())
    return results


@program
def queue_traces_with_max_tries(pyro, dist, poutine):
    def model():
        return pyro.sample("c", dist.Categorical(torch.tensor([0.2, 0.3, 0.5])))

    q = queue.LifoQueue()
    q.put(poutine.Trace())
    traces = []
    while not q.empty():
        traces.append(poutine.trace(poutine.queue(model, queue=q, max_tries=5)).get_trace())
    return traces


@program
def equalize_samples(pyro, dist, poutine):
    def model():
        x = pyro.sample("x", dist.Normal(0.0, 1.0))
        y = pyro.sample("y", dist.Normal(5.0, 3.0))
        return x, y

    return _trace(poutine, poutine.equalize(model, ["x", "y"]))


@program
def equalize_keep_dist_regex(pyro, dist, poutine):
    def model():
        return [pyro.sample(f"{c}_std", dist.LogNormal(0.0, 1.0)) for c in "abc"]

    return _trace(poutine, poutine.equalize(model, ".+_std", keep_dist=True))


@program
def equalize_params(pyro, dist, poutine):
    def model():
        return [pyro.param(f"{c}_shift", torch.tensor(float(i))) for i, c in enumerate("ab")]

    return _trace(poutine, poutine.equalize(model, ".+_shift", "param"))


# ------------------------------------------------ nested handlers


@program
def nested_replay_condition_block(pyro, dist, poutine):
    model = _three_site_model(pyro, dist)

    def guide():
        pyro.sample("x", dist.Normal(1.0, 0.5))

    guide_tr = _trace(poutine, guide)
    conditioned = poutine.condition(model, data={"y": torch.tensor(0.5)})
    handled = poutine.block(poutine.replay(conditioned, trace=guide_tr), hide=["a"])
    return _trace(poutine, handled)


@program
def nested_trace_twice(pyro, dist, poutine):
    model = _three_site_model(pyro, dist)
    with poutine.trace() as outer:
        inner = poutine.trace(model).get_trace()
    return outer.trace, inner


@program
def nested_scale_mask_plate_condition(pyro, dist, poutine):
    def model():
        with pyro.plate("p", 4, subsample_size=2), poutine.scale(scale=3.0):
            x = pyro.sample("x", dist.Normal(0.0, 1.0))
            with poutine.mask(mask=torch.tensor([True, False])):
                pyro.sample("y", dist.Normal(x, 1.0))

    data = {"y": torch.tensor([0.5, -0.5])}
    return _trace(poutine, poutine.condition(model, data=data))


@program
def nested_uncondition_then_condition(pyro, dist, poutine):
    model = _two_site_model(pyro, dist)
    handled = poutine.condition(poutine.uncondition(model), data={"x": torch.tensor(0.0)})
    return _trace(poutine, handled)


@program
def nested_seed_inside_trace(pyro, dist, poutine):
    model = _three_site_model(pyro, dist)
    return _trace(poutine, poutine.seed(model, rng_seed=3))


# ------------------------------------------------ custom messengers and effects


@program
def custom_messenger_hooks(pyro, dist, poutine):
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
        tr_context = _trace(poutine, model)
    tr_decorated = _trace(poutine, Tagger()(model))
    return tr_context, tr_decorated


@program
def custom_messenger_process_message(pyro, dist, poutine):
    class Doubler(poutine.messenger.Messenger):
        def _process_message(self, msg):
            if msg["type"] == "sample":
                msg["scale"] = 2.0 * msg["scale"]

        def _postprocess_message(self, msg):
            if msg["type"] == "sample":
                msg["infer"]["post"] = True

    return _trace(poutine, Doubler()(_three_site_model(pyro, dist)))


@program
def custom_messenger_sets_value(pyro, dist, poutine):
    class Fixer(poutine.messenger.Messenger):
        def _pyro_sample(self, msg):
            if msg["name"] == "x" and msg["value"] is None:
                msg["value"] = torch.tensor(4.0)

    return _trace(poutine, Fixer()(_three_site_model(pyro, dist)))


@program
def custom_messenger_stop(pyro, dist, poutine):
    # A handler that sets msg["stop"] hides the site from outer handlers.
    class Stopper(poutine.messenger.Messenger):
        def _pyro_sample(self, msg):
            if msg["name"] == "y":
                msg["stop"] = True

    return _trace(poutine, Stopper()(_three_site_model(pyro, dist)))


@program
def effectful_custom_effect(pyro, dist, poutine):
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
def am_i_wrapped_inside_handler(pyro, dist, poutine):
    inside = []

    def model():
        inside.append(poutine.runtime.am_i_wrapped())

    model()
    poutine.trace(model).get_trace()
    return inside


@program
def block_messengers_mutes_outer_trace(pyro, dist, poutine):
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
def unwrap_handled_function(pyro, dist, poutine):
    model = _three_site_model(pyro, dist)
    handled = poutine.block(poutine.scale(model, scale=2.0), hide=["x"])
    return poutine.messenger.unwrap(handled) is model


# ------------------------------------------------ invalid programs and edge cases


@program
def error_duplicate_sample_site(pyro, dist, poutine):
    def model():
        pyro.sample("x", dist.Normal(0.0, 1.0))
        pyro.sample("x", dist.Normal(0.0, 1.0))

    return _trace(poutine, model)


@program
def lenient_duplicate_sample_site_no_trace(pyro, dist, poutine):
    # Without a trace handler Pyro does not notice the duplicate.
    pyro.sample("x", dist.Normal(0.0, 1.0))
    return pyro.sample("x", dist.Normal(0.0, 1.0))


@program
def error_duplicate_plate_name(pyro, dist, poutine):
    def model():
        with pyro.plate("p", 3), pyro.plate("p", 3):
            pyro.sample("x", dist.Normal(0.0, 1.0))

    return _trace(poutine, model)


@program
def error_plate_dim_collision(pyro, dist, poutine):
    def model():
        with pyro.plate("p", 3, dim=-1), pyro.plate("q", 2, dim=-1):
            pyro.sample("x", dist.Normal(0.0, 1.0))

    return _trace(poutine, model)


@program
def error_plate_shape_mismatch(pyro, dist, poutine):
    def model():
        with pyro.plate("p", 3):
            pyro.sample("x", dist.Normal(torch.zeros(4), 1.0))

    return _trace(poutine, model)


@program
def error_plate_subsample_size_too_large(pyro, dist, poutine):
    def model():
        with pyro.plate("p", 3, subsample_size=5):
            pyro.sample("x", dist.Normal(0.0, 1.0))

    return _trace(poutine, model)


@program
def error_plate_positive_dim(pyro, dist, poutine):
    def model():
        with pyro.plate("p", 3, dim=1):
            pyro.sample("x", dist.Normal(0.0, 1.0))

    return _trace(poutine, model)


@program
def lenient_observed_shape_mismatch(pyro, dist, poutine):
    # Pyro records the site; the mismatch surfaces in log_prob_sum.
    def model():
        with pyro.plate("p", 3):
            pyro.sample("x", dist.Normal(0.0, 1.0), obs=torch.zeros(4))

    return _trace(poutine, model)


@program
def lenient_observed_event_shape_mismatch(pyro, dist, poutine):
    def model():
        pyro.sample("x", dist.Normal(torch.zeros(3), 1.0).to_event(1), obs=torch.zeros(4))

    return _trace(poutine, model)


@program
def lenient_observed_shape_mismatch_no_trace(pyro, dist, poutine):
    return pyro.sample("x", dist.Normal(torch.zeros(3), 1.0).to_event(1), obs=torch.zeros(4))


@program
def lenient_observed_outside_support(pyro, dist, poutine):
    def model():
        pyro.sample("x", dist.Exponential(1.0), obs=torch.tensor(-1.0))

    return _trace(poutine, model)


@program
def lenient_observed_python_list(pyro, dist, poutine):
    def model():
        pyro.sample("x", dist.Normal(0.0, 1.0), obs=[1.0])

    return _trace(poutine, model)


@program
def error_sample_fn_not_distribution(pyro, dist, poutine):
    def model():
        pyro.sample("x", torch.tensor(1.0))

    return _trace(poutine, model)


@program
def lenient_sample_name_not_str(pyro, dist, poutine):
    def model():
        return pyro.sample(1, dist.Normal(0.0, 1.0))

    return _trace(poutine, model)


@program
def error_scale_negative(pyro, dist, poutine):
    return _trace(poutine, poutine.scale(_three_site_model(pyro, dist), scale=-1.0))


@program
def error_mask_float_tensor(pyro, dist, poutine):
    return _trace(poutine, poutine.mask(_three_site_model(pyro, dist), mask=torch.tensor(1.0)))


@program
def error_handler_fn_not_callable(pyro, dist, poutine):
    return poutine.trace(5)


@program
def lenient_param_init_outside_support(pyro, dist, poutine):
    def model():
        return pyro.param("p", torch.tensor(-1.0), constraint=dist.constraints.positive)

    return _trace(poutine, model)


@program
def error_param_missing_without_init(pyro, dist, poutine):
    def model():
        return pyro.param("never_initialised")

    return _trace(poutine, model)


@program
def error_sequential_plate_duplicate_sites(pyro, dist, poutine):
    def model():
        for _ in pyro.plate("seq", 2):
            pyro.sample("x", dist.Normal(0.0, 1.0))

    return _trace(poutine, model)


@program
def condition_unknown_site_is_ignored(pyro, dist, poutine):
    model = _two_site_model(pyro, dist)
    return _trace(poutine, poutine.condition(model, data={"nope": torch.tensor(1.0)}))


@program
def handlers_cleaned_up_after_model_raises(pyro, dist, poutine):
    def model():
        with pyro.plate("p", 2), poutine.scale(scale=2.0):
            pyro.sample("x", dist.Normal(0.0, 1.0))
            raise KeyError("boom")

    try:
        _trace(poutine, model)
    except KeyError:
        pass
    # The stack must be clean again: a fresh trace sees no leftover plate or scale.
    return _trace(poutine, _three_site_model(pyro, dist))
