"""A discrete mixture, and what baselines do for its score-function gradients.

One-dimensional data from two Gaussian clusters.  The model learns the two
cluster locations (params of the model); the guide learns, for each data point,
the probability that it belongs to each cluster.  The assignments are discrete,
so their gradient uses the score function, whose variance a *baseline* reduces
(Mnih & Gregor 2014) without biasing it.  Pick one with ``--baseline``:

* ``none``: TraceGraph_ELBO alone (Rao-Blackwellized by provenance);
* ``decaying``: ``infer={"baseline": {"use_decaying_avg_baseline": True}}``, a
  moving average of each point's past downstream cost;
* ``nn``: ``{"nn_baseline": net, "nn_baseline_input": data}``, a small network
  from the data point to its baseline, trained alongside;
* ``loo``: ``TraceGraph_ELBO(num_particles=4, leave_one_out=True)``, the mean cost
  of the other particles (Kool et al. 2019).

    python examples/mixture.py [--baseline decaying] [--steps 400] [--seed 0]
"""

from __future__ import annotations

import argparse
from typing import Any

import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph.infer import SVI, TraceGraph_ELBO
from tracegraph.infer.fit import fit
from tracegraph.optim import Adam

TRUE_LOCS = torch.tensor([-2.0, 2.0])


def make_data(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    clusters = torch.randint(0, 2, (n,), generator=g)
    return TRUE_LOCS[clusters] + torch.randn(n, generator=g)


def model(data: torch.Tensor) -> None:
    locs = tracegraph.param("locs", torch.tensor([-0.5, 0.5]))
    with tracegraph.plate("data", len(data)):
        z = tracegraph.sample("z", dist.Categorical(torch.tensor([0.5, 0.5])))
        tracegraph.sample("x", dist.Normal(locs[z], 1.0), obs=data)


class BaselineNet(torch.nn.Module):
    """Maps each data point to a baseline for its assignment's downstream cost."""

    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(1, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.unsqueeze(-1)).squeeze(-1)


def make_guide(baseline: str) -> Any:
    net = BaselineNet()

    def guide(data: torch.Tensor) -> None:
        probs = tracegraph.param(
            "assignment_probs",
            torch.full((len(data), 2), 0.5),
            constraint=dist.constraints.simplex,
        )
        if baseline == "decaying":
            config: dict[str, Any] = {"use_decaying_avg_baseline": True, "baseline_beta": 0.9}
        elif baseline == "nn":
            # Registering the net makes its weights params, trained by the same optimizer.
            tracegraph.module("baseline_net", net)
            config = {"nn_baseline": net, "nn_baseline_input": data}
        else:
            config = {}
        with tracegraph.plate("data", len(data)):
            tracegraph.sample("z", dist.Categorical(probs), infer={"baseline": config})

    return guide


# The guide without a baseline, for the command line:
#     tracegraph variance examples/mixture.py:model examples/mixture.py:guide --args "[[...]]"
guide = make_guide("none")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", choices=["none", "decaying", "nn", "loo"], default="decaying")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    tracegraph.set_rng_seed(args.seed)
    tracegraph.clear_param_store()
    data = make_data(100, seed=args.seed)
    if args.baseline == "loo":
        elbo = TraceGraph_ELBO(num_particles=4, vectorize_particles=True, leave_one_out=True)
    else:
        elbo = TraceGraph_ELBO()
    svi = SVI(model, make_guide(args.baseline), Adam({"lr": 0.05}), elbo)
    result = fit(svi, args.steps, data, desc=f"mixture, baseline={args.baseline}")

    locs = sorted(tracegraph.param("locs").tolist())
    tail = result.elbos[-max(1, result.num_steps // 10) :]
    print(f"baseline: {args.baseline}; learned cluster locations {locs[0]:.2f}, {locs[1]:.2f}")
    print(f"(true: -2, 2); ELBO over the last steps: {sum(tail) / len(tail):.1f}")
    return {"locs": locs, "losses": result.losses}


if __name__ == "__main__":
    main()
