"""Autoguides side by side with Pyro's: the time of an ``AutoNormal`` SVI step, and
two routes to a Gaussian mixture with discrete assignments.

Run ``python benchmarks/bench_autoguide.py [--steps N] [--sites S] [--fit-steps F]``
with a Python that has ``pyro-ppl`` installed (see ``benchmarks/README.md``).

1. **Speed.**  A model of ``S`` scalar latent sites (100 by default) and one
   observation, guided by ``AutoNormal``; a step is ``SVI.step`` with
   ``Trace_ELBO`` and Adam.  The model is written once against a Pyro-like module,
   so both libraries run the same code, in one process.  After a warm-up the two
   are measured alternately (one step each, in an order shuffled every round, so
   both see the same machine load); medians and their ratio are printed.
   Validation is off in both; torch runs single-threaded.

2. **A mixture, two routes.**  Two unit-variance clusters with latent locations
   (``Normal(0, 10)`` priors) and an assignment per point.  Pyro's route
   enumerates the assignments (``TraceEnum_ELBO``, ``config_enumerate``) and
   guides the locations with ``AutoNormal``; ours samples them:
   ``AutoGuideList(AutoNormal, AutoDiscrete)`` with ``TraceGraph_ELBO`` over 4
   vectorized particles (AutoDiscrete picks the leave-one-out baseline).  Both
   train for ``F`` steps with Adam(0.05) from the same start; printed: wall time,
   the final ELBO (Pyro's: its enumerated bound, which marginalizes the
   assignments; ours: the ELBO with the assignments' guide, 10 x 200 particles;
   also ours evaluated with Pyro's bound, i.e. the locations' guide alone), and
   the learned locations.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import torch

import tracegraph
import tracegraph.distributions as tg_dist
import tracegraph.infer as tg_infer
import tracegraph.optim as tg_optim
from tracegraph import poutine as tg_poutine
from tracegraph.infer.autoguide import AutoDiscrete, AutoGuideList
from tracegraph.infer.autoguide import AutoNormal as TgAutoNormal


def chain_of_sites(pyro: ModuleType, dist: ModuleType, sites: int) -> Callable[..., None]:
    """``sites`` scalar latents feeding one observation."""

    def model(data: torch.Tensor) -> None:
        total: Any = 0.0
        for i in range(sites):
            total = total + pyro.sample(f"z{i}", dist.Normal(0.0, 1.0))
        pyro.sample("obs", dist.Normal(total / sites, 1.0), obs=data)

    return model


def speed(steps: int, warmup: int, sites: int) -> None:
    import pyro
    import pyro.distributions as pyro_dist
    import pyro.infer as pyro_infer
    import pyro.optim as pyro_optim
    from pyro.infer.autoguide import AutoNormal as PyroAutoNormal

    data = torch.tensor(0.5)
    runs: dict[str, Callable[[], float]] = {}
    for name, lib, dist, infer, optim, auto_normal in (
        ("pyro", pyro, pyro_dist, pyro_infer, pyro_optim, PyroAutoNormal),
        ("ours", tracegraph, tg_dist, tg_infer, tg_optim, TgAutoNormal),
    ):
        lib.enable_validation(False)
        lib.set_rng_seed(0)
        model = chain_of_sites(lib, dist, sites)
        svi = infer.SVI(model, auto_normal(model), optim.Adam({"lr": 0.01}), infer.Trace_ELBO())
        runs[name] = lambda svi=svi: svi.step(data)
    times: dict[str, list[float]] = {name: [] for name in runs}
    for i in range(warmup + steps):
        order = list(runs)
        random.shuffle(order)
        for name in order:
            start = time.perf_counter()
            runs[name]()
            if i >= warmup:
                times[name].append(time.perf_counter() - start)
    med = {name: statistics.median(t) for name, t in times.items()}
    print(f"AutoNormal SVI step, {sites} sites, median of {steps} steps:")
    print(f"  Pyro {1000 * med['pyro']:.2f} ms   ours {1000 * med['ours']:.2f} ms   "
          f"ours/Pyro {med['ours'] / med['pyro']:.2f}")


def mixture_data(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (n,), generator=g)
    return torch.tensor([-3.0, 3.0])[labels] + torch.randn(n, generator=g)


def mixture_model(pyro: ModuleType, dist: ModuleType) -> Callable[..., None]:
    def model(data: torch.Tensor) -> None:
        locs = pyro.sample("locs", dist.Normal(0.0, 10.0).expand([2]).to_event(1))
        with pyro.plate("data", len(data)):
            z = pyro.sample("z", dist.Categorical(torch.ones(2) / 2))
            # torch.where broadcasts over enumerated and over vectorized values.
            loc = torch.where(z == 1, locs[..., 1], locs[..., 0])
            pyro.sample("x", dist.Normal(loc, 1.0), obs=data)

    return model


def start(data: torch.Tensor) -> dict[str, torch.Tensor]:
    # Both routes start the locations at the data's quartiles (a symmetric start
    # is a saddle point for either).
    return {"locs": torch.quantile(data, torch.tensor([0.25, 0.75]))}


def pyro_route(data: torch.Tensor, steps: int) -> tuple[float, float, list[float]]:
    import pyro
    import pyro.distributions as dist
    from pyro import poutine
    from pyro.infer import SVI, TraceEnum_ELBO, config_enumerate
    from pyro.infer.autoguide import AutoNormal, init_to_value
    from pyro.optim import Adam

    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    model = config_enumerate(mixture_model(pyro, dist))
    guide = AutoNormal(
        poutine.block(model, hide=["z"]), init_loc_fn=init_to_value(values=start(data))
    )
    elbo = TraceEnum_ELBO(max_plate_nesting=1)
    svi = SVI(model, guide, Adam({"lr": 0.05}), elbo)
    t0 = time.perf_counter()
    for _ in range(steps):
        svi.step(data)
    seconds = time.perf_counter() - t0
    evaluate = TraceEnum_ELBO(max_plate_nesting=1, num_particles=200, vectorize_particles=True)
    with torch.no_grad():
        final = -statistics.mean(evaluate.loss(model, guide, data) for _ in range(10))
    return seconds, final, sorted(guide.median(data)["locs"].tolist())


def our_route(data: torch.Tensor, steps: int) -> tuple[float, float, float, list[float]]:
    from tracegraph.infer.autoguide import init_to_value

    tracegraph.clear_param_store()
    tracegraph.set_rng_seed(0)
    model = mixture_model(tracegraph, tg_dist)
    guide = AutoGuideList(model)
    locs_guide = TgAutoNormal(
        tg_poutine.block(model, hide=["z"]), init_loc_fn=init_to_value(values=start(data))
    )
    guide.append(locs_guide)
    guide.append(AutoDiscrete(tg_poutine.block(model, expose=["z"])))
    elbo = tg_infer.TraceGraph_ELBO(num_particles=4, vectorize_particles=True)
    svi = tg_infer.SVI(model, guide, tg_optim.Adam({"lr": 0.05}), elbo)
    t0 = time.perf_counter()
    for _ in range(steps):
        svi.step(data)
    seconds = time.perf_counter() - t0
    evaluate = tg_infer.Trace_ELBO(num_particles=200, vectorize_particles=True)
    with torch.no_grad():
        final = -statistics.mean(evaluate.loss(model, guide, data) for _ in range(10))
        # The same locations' guide under Pyro's bound (assignments summed out).
        marginal = -statistics.mean(
            enumerated_loss(model, locs_guide, data) for _ in range(10)
        )
    return seconds, final, marginal, sorted(guide.median(data)["locs"].tolist())


def enumerated_loss(model: Any, locs_guide: Any, data: torch.Tensor, n: int = 200) -> float:
    """-E_q[log p(x, locs) - log q(locs)] with the assignments summed out exactly."""
    total = 0.0
    for _ in range(n):
        tr = tg_poutine.trace(locs_guide).get_trace(data)
        locs = tr.nodes["locs"]["value"]
        log_q = tr.log_prob_sum()
        prior = tg_dist.Normal(0.0, 10.0).expand([2]).to_event(1).log_prob(locs)
        per_point = tg_dist.Normal(locs, 1.0).log_prob(data.unsqueeze(-1)) + torch.log(
            torch.tensor(0.5)
        )
        total += float(prior + per_point.logsumexp(-1).sum() - log_q)
    return -total / n


def mixture(steps: int) -> None:
    data = mixture_data(200, seed=0)
    p_time, p_elbo, p_locs = pyro_route(data, steps)
    o_time, o_elbo, o_marginal, o_locs = our_route(data, steps)
    print(f"\nMixture of 2 clusters, 200 points, {steps} steps:")
    print(f"  Pyro  TraceEnum_ELBO + AutoNormal:     {p_time:6.1f} s   ELBO (enumerated) "
          f"{p_elbo:8.2f}   locs {p_locs[0]:.2f}, {p_locs[1]:.2f}")
    print(f"  ours  TraceGraph_ELBO + AutoNormal + AutoDiscrete (K=4): {o_time:6.1f} s   "
          f"ELBO {o_elbo:8.2f} (enumerated bound of its locs guide {o_marginal:8.2f})   "
          f"locs {o_locs[0]:.2f}, {o_locs[1]:.2f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="timed steps (300)")
    parser.add_argument("--warmup", type=int, default=30, help="untimed steps first (30)")
    parser.add_argument("--sites", type=int, default=100, help="latent sites (100)")
    parser.add_argument("--fit-steps", type=int, default=500, help="mixture steps (500)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    speed(args.steps, args.warmup, args.sites)
    mixture(args.fit_steps)


if __name__ == "__main__":
    main()
