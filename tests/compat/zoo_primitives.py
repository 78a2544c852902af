"""Sample, param, factor, deterministic, obs_mask, module, subsample and barrier sites.

Programs of the differential zoo (see ``differential.py``).
"""

from __future__ import annotations

from typing import Any

import torch
from differential import Lib, program, traced, with_log_probs

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
