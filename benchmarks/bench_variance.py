"""Gradient variance of the ELBO estimators: tr(Cov) of the gradient w.r.t. the
guide's params, on a zoo of models with non-reparameterized sites.

Run ``python benchmarks/bench_variance.py [--draws M]``.

Each estimator draws ``M`` independent gradient estimates at the same (fixed,
not optimal) params; the table reports the trace of their sample covariance,
i.e. the summed per-coordinate variance, which is what slows SGD down.  A
variance estimated from ``M`` normal draws is good to about ``sqrt(2 / M)``
relative (7 % at the default ``M = 400``, 10 % for a ratio of two); score-function
gradients are heavier-tailed than normal, so read small differences with care.

Estimators (``K`` = particles per estimate):

* ``Trace`` and ``TraceGraph`` (``K = 1``): every score times every cost, vs the
  provenance-selected downstream costs;
* ``TG+decay``: a decaying average baseline (beta 0.9), warmed up by 200 steps;
* ``TG+nn``: ``nn_baseline`` modules (a learned per-element constant per site),
  trained for 300 steps on their squared-error loss first;
* ``TG+value``: ``baseline_value`` = the site's mean downstream cost over 200
  pilot draws (a tensor, per element of the site's plates);
* ``TG K=4`` and ``RLOO K=4`` (and ``K=16``): batched particles without and
  with the leave-one-out baseline (compare each pair with each other).

The zoo: ten independent sites, the speed benchmark's models (a 20-site chain, a
sigmoid belief net with 8 pixels, a Gaussian mixture) and the same belief net
with 64 pixels (``sbn64``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import torch
from bench_elbo_speed import make_models, sbn_models

import tracegraph
import tracegraph.distributions as dist
from tracegraph.infer import Trace_ELBO, TraceGraph_ELBO
from tracegraph.poutine import handlers

Program = Callable[..., Any]


def independent_models() -> tuple[Program, Program, tuple]:
    """Ten independent Bernoulli latents, each with its own observation."""
    n = 10
    data = torch.linspace(-1.0, 2.0, n)

    def model(data: torch.Tensor) -> None:
        for i in range(n):
            z = tracegraph.sample(f"z_{i}", dist.Bernoulli(0.5))
            tracegraph.sample(f"x_{i}", dist.Normal(2.0 * z - 0.5, 1.0), obs=data[i])

    def guide(data: torch.Tensor) -> None:
        q = tracegraph.param(
            "ind_q", torch.full((n,), 0.4), constraint=dist.constraints.unit_interval
        )
        for i in range(n):
            tracegraph.sample(f"z_{i}", dist.Bernoulli(q[i]))

    return model, guide, (data,)


class PerElementBaseline(torch.nn.Module):
    """An ``nn_baseline``: a learned constant per element of the site's plates."""

    def __init__(self, shape: torch.Size) -> None:
        super().__init__()
        self.value = torch.nn.Parameter(torch.zeros(shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.value + 0.0 * x.sum()


def _nonreparam_shapes(guide: Program, args: tuple) -> dict[str, torch.Size]:
    trace = handlers.trace(guide).get_trace(*args)
    trace.compute_log_prob()
    return {
        name: site["log_prob"].shape
        for name, site in trace.nodes.items()
        if site["type"] == "sample"
        and not site["is_observed"]
        and not getattr(site["fn"], "has_rsample", False)
    }


def _with_configs(guide: Program, configs: dict[str, dict[str, Any]]) -> Program:
    def config_fn(msg: Any) -> dict[str, Any]:
        config = configs.get(msg["name"]) if msg["type"] == "sample" else None
        return {"baseline": config} if config else {}

    return handlers.infer_config(guide, config_fn=config_fn)


def _guide_params(guide: Program, args: tuple) -> list[torch.Tensor]:
    trace = handlers.trace(guide).get_trace(*args)
    store = dict(tracegraph.get_param_store().named_parameters())
    return [store[name] for name, site in trace.nodes.items() if site["type"] == "param"]


def _grad_draws(
    elbo: Any, model: Program, guide: Program, args: tuple, params: list, m: int
) -> torch.Tensor:
    rows = []
    for _ in range(m):
        loss = elbo.differentiable_loss(model, guide, *args)
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        rows.append(
            torch.cat(
                [
                    (torch.zeros_like(p) if g is None else g).reshape(-1)
                    for g, p in zip(grads, params)
                ]
            )
        )
    return torch.stack(rows).double()


def _mean_downstream_costs(
    model: Program, guide: Program, args: tuple, draws: int
) -> dict[str, torch.Tensor]:
    """Per site and element, the pilot mean of its downstream cost (read from the
    estimator's per-run terms: a benchmark may look inside its own library)."""
    elbo = TraceGraph_ELBO()
    sums: dict[str, torch.Tensor] = {}
    for _ in range(draws):
        for terms, _trace in elbo._terms(model, guide, args, {}):
            for name in terms.scores:
                cost = terms.downstream_cost(name).detach()
                sums[name] = sums.get(name, torch.zeros(())) + cost
    return {name: total / draws for name, total in sums.items()}


def _estimators(model: Program, guide: Program, args: tuple) -> dict[str, tuple[Any, Program]]:
    shapes = _nonreparam_shapes(guide, args)
    means = _mean_downstream_costs(model, guide, args, 200)

    decaying = TraceGraph_ELBO()
    decay_guide = _with_configs(
        guide, {n: {"use_decaying_avg_baseline": True, "baseline_beta": 0.9} for n in shapes}
    )
    for _ in range(200):  # warm the averages up without moving the guide
        decaying.differentiable_loss(model, decay_guide, *args)

    nets = {n: PerElementBaseline(s) for n, s in shapes.items()}
    nn_guide = _with_configs(
        guide, {n: {"nn_baseline": nets[n], "nn_baseline_input": torch.ones(1)} for n in shapes}
    )
    nn_elbo = TraceGraph_ELBO()
    net_params = [p for net in nets.values() for p in net.parameters()]
    opt = torch.optim.Adam(net_params, lr=0.1)
    for _ in range(300):  # train only the baselines (their loss is (cost - b)^2)
        opt.zero_grad()
        grads = torch.autograd.grad(nn_elbo.differentiable_loss(model, nn_guide, *args), net_params)
        for p, g in zip(net_params, grads):
            p.grad = g
        opt.step()

    value_guide = _with_configs(guide, {n: {"baseline_value": means[n]} for n in shapes})
    return {
        "Trace": (Trace_ELBO(), guide),
        "TraceGraph": (TraceGraph_ELBO(), guide),
        "TG+decay": (decaying, decay_guide),
        "TG+nn": (nn_elbo, nn_guide),
        "TG+value": (TraceGraph_ELBO(), value_guide),
        "TG K=4": (TraceGraph_ELBO(num_particles=4, vectorize_particles=True), guide),
        "RLOO K=4": (
            TraceGraph_ELBO(num_particles=4, vectorize_particles=True, leave_one_out=True),
            guide,
        ),
        "TG K=16": (TraceGraph_ELBO(num_particles=16, vectorize_particles=True), guide),
        "RLOO K=16": (
            TraceGraph_ELBO(num_particles=16, vectorize_particles=True, leave_one_out=True),
            guide,
        ),
    }


def measure(draws: int) -> dict[str, dict[str, float]]:
    """``{model: {estimator: tr(Cov) of the guide-param gradient}}``."""
    torch.set_num_threads(1)
    tracegraph.enable_validation(False)
    zoo = {"independent": independent_models()}
    zoo.update(make_models(tracegraph, dist))
    # The same belief net with 64 pixels: the downstream costs then have a large
    # common part, which is what baselines remove.
    zoo["sbn64"] = sbn_models(tracegraph, dist, torch.Generator().manual_seed(1), 64, "wide")
    results: dict[str, dict[str, float]] = {}
    for name, (model, guide, args) in zoo.items():
        tracegraph.clear_param_store()
        tracegraph.set_rng_seed(0)
        params = _guide_params(guide, args)
        handlers.trace(model).get_trace(*args)  # creates the model's params too
        row = {}
        for label, (elbo, g) in _estimators(model, guide, args).items():
            samples = _grad_draws(elbo, model, g, args, params, draws)
            row[label] = float(samples.var(0).sum())
        results[name] = row
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=400, help="gradient draws per estimator")
    args = parser.parse_args(argv)
    results = measure(args.draws)
    labels = list(next(iter(results.values())))
    print(f"tr(Cov) of the guide-param gradient, {args.draws} draws each")
    print(f"{'model':12}" + "".join(f"{label:>12}" for label in labels))
    for name, row in results.items():
        print(f"{name:12}" + "".join(f"{row[label]:>12.4g}" for label in labels))
    print()
    print("relative to Trace (K=1 rows) and RLOO relative to TG at the same K")
    print(
        f"{'model':12}"
        + "".join(f"{label:>12}" for label in labels[1:5])
        + f"{'RLOO/TG K4':>12}{'RLOO/TG K16':>12}"
    )
    for name, row in results.items():
        rel = "".join(f"{row[label] / row['Trace']:>12.3f}" for label in labels[1:5])
        loo = row["RLOO K=4"] / row["TG K=4"], row["RLOO K=16"] / row["TG K=16"]
        print(f"{name:12}" + rel + f"{loo[0]:>12.4f}{loo[1]:>12.4f}")


if __name__ == "__main__":
    main()
