"""Sample, param, factor, deterministic, obs_mask, module, subsample and barrier sites.

Programs of the differential zoo (see ``differential.py``).
"""

from __future__ import annotations

from typing import Any

import torch
from differential import Lib, program, traced, with_log_probs

# -- primitives --------------------------------------------------------------------------


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


# -- sample (second zoo) -----------------------------------------------------------------


@program
def sample_without_handler(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    # No handler installed: the primitive just draws (or returns obs).
    x = pyro.sample("x", dist.Normal(torch.zeros(2), 1.0))
    y = pyro.sample("y", dist.Normal(0.0, 1.0), obs=torch.tensor(0.25))
    return x, y


@program
def sample_observed(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    def model(data):
        loc = pyro.sample("loc", dist.Normal(0.0, 1.0))
        return pyro.sample("obs", dist.Normal(loc, 1.0), obs=data)

    return traced(lib, model, torch.tensor(0.5))


@program
def sample_obs_mask(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    def model():
        data = torch.tensor([1.0, 2.0, 3.0])
        mask = torch.tensor([True, False, True])
        return pyro.sample("x", dist.Normal(torch.zeros(3), 1.0), obs=data, obs_mask=mask)

    return traced(lib, model)


@program
def sample_obs_mask_event_dim(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    def model():
        data = torch.ones(2, 3)
        mask = torch.tensor([True, False])
        d = dist.Normal(torch.zeros(2, 3), 1.0).to_event(1)
        return pyro.sample("x", d, obs=data, obs_mask=mask)

    return traced(lib, model)


@program
def sample_infer_dict(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    def model():
        a = pyro.sample(
            "a", dist.Bernoulli(0.5), infer={"baseline": {"use_decaying_avg_baseline": True}}
        )
        b = pyro.sample("b", dist.Normal(0.0, 1.0), infer={"is_auxiliary": True})
        return a, b

    return traced(lib, model)


@program
def sample_to_event_expand_and_expand_by(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    def model():
        x = pyro.sample("x", dist.Normal(torch.zeros(3), 1.0).to_event(1))
        y = pyro.sample("y", dist.Normal(0.0, 1.0).expand([2, 3]).to_event(2))
        z = pyro.sample("z", dist.Normal(0.0, 1.0).expand_by([4]))
        return x, y, z

    return traced(lib, model)


@program
def sample_sample_shape_kwarg(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    def model():
        return pyro.sample("x", dist.Normal(0.0, 1.0), sample_shape=torch.Size([3]))

    return traced(lib, model)


@program
def sample_discrete_sites(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    def model():
        b = pyro.sample("b", dist.Bernoulli(0.3))
        c = pyro.sample("c", dist.Categorical(torch.tensor([0.2, 0.3, 0.5])))
        p = pyro.sample("p", dist.Poisson(2.0))
        o = pyro.sample("o", dist.OneHotCategorical(torch.tensor([0.5, 0.5])))
        return b, c, p, o

    return traced(lib, model)


@program
def sample_many_distributions(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
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

    return traced(lib, model)


@program
def sample_masked_distribution(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    def model():
        d = dist.Normal(torch.zeros(3), 1.0).mask(torch.tensor([True, False, True]))
        return pyro.sample("x", d)

    return traced(lib, model)


@program
def sample_distribution_mask_with_sampled_float(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    # Pyro programs write ``.mask(z_pres)`` with a sampled 0/1 float tensor.
    def model():
        z_pres = pyro.sample("z_pres", dist.Bernoulli(0.5 * torch.ones(4)).to_event(1))
        return pyro.sample("z", dist.Normal(torch.zeros(4), 1.0).mask(z_pres).to_event(1))

    return traced(lib, model)


# -- param -------------------------------------------------------------------------------


@program
def param_plain_and_repeated(lib: Lib) -> Any:
    pyro = lib.pyro
    def model():
        a = pyro.param("a", torch.tensor([1.0, 2.0]))
        again = pyro.param("a")
        return a, again

    tr = traced(lib, model)
    return tr, sorted(pyro.get_param_store().keys())


@program
def param_constraints(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    constraints = dist.constraints

    def model():
        return [
            pyro.param("pos", torch.tensor(2.0), constraint=constraints.positive),
            pyro.param("unit", torch.tensor(0.3), constraint=constraints.unit_interval),
            pyro.param("interval", torch.tensor(1.5), constraint=constraints.interval(1.0, 4.0)),
            pyro.param("gt", torch.tensor(3.0), constraint=constraints.greater_than(2.0)),
            pyro.param("chol", torch.eye(2), constraint=constraints.lower_cholesky),
        ]

    return traced(lib, model)


@program
def param_simplex_unnormalised_init(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    def model():
        return pyro.param(
            "probs", torch.tensor([1.0, 2.0, 1.0]), constraint=dist.constraints.simplex
        )

    return traced(lib, model)


@program
def param_lazy_init(lib: Lib) -> Any:
    pyro = lib.pyro
    calls = []

    def init():
        calls.append(1)
        return torch.ones(3)

    def model():
        return pyro.param("lazy", init)

    tr1 = traced(lib, model)
    tr2 = traced(lib, model)
    return tr1, tr2, len(calls)


@program
def param_event_dim_in_subsampled_plate(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    def model():
        with pyro.plate("data", 5, subsample=torch.tensor([1, 3])):
            loc = pyro.param("loc", torch.arange(5.0), event_dim=0)
            scale = pyro.param(
                "scale", torch.ones(5, 2), constraint=dist.constraints.positive, event_dim=1
            )
            return loc, scale

    return traced(lib, model)


@program
def param_store_contents(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    def model():
        pyro.param("a", torch.tensor(0.5), constraint=dist.constraints.positive)
        pyro.param("b", torch.zeros(2))

    model()
    store = pyro.get_param_store()
    return sorted(store.keys()), store["a"], sorted(store.get_all_param_names())


# -- factor, deterministic, module -------------------------------------------------------


@program
def factor_plain(lib: Lib) -> Any:
    pyro = lib.pyro
    def model():
        pyro.factor("f", torch.tensor(-1.5))

    return traced(lib, model)


@program
def factor_in_plate_has_rsample(lib: Lib) -> Any:
    pyro = lib.pyro
    def model():
        with pyro.plate("p", 3):
            pyro.factor("f", torch.ones(3), has_rsample=True)
            pyro.factor("g", torch.zeros(3), has_rsample=False)

    tr = traced(lib, model)
    return tr, [tr.nodes[n]["fn"].has_rsample for n in ("f", "g")]


@program
def deterministic_sites_with_event_dims(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    def model():
        x = pyro.sample("x", dist.Normal(torch.zeros(2), 1.0).to_event(1))
        pyro.deterministic("double", 2 * x, event_dim=1)
        return pyro.deterministic("sum", x.sum())

    return traced(lib, model)


@program
def module_registered_in_model(lib: Lib) -> Any:
    pyro = lib.pyro
    def model():
        net = torch.nn.Linear(2, 1)
        registered = pyro.module("net", net)
        return type(registered).__name__, registered(torch.ones(2))

    tr = traced(lib, model)
    return tr, sorted(pyro.get_param_store().keys())


@program
def module_nested_submodules(lib: Lib) -> Any:
    pyro = lib.pyro
    def model():
        net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1))
        pyro.module("seq", net)
        return net(torch.ones(2))

    tr = traced(lib, model)
    return tr, sorted(pyro.get_param_store().keys())
