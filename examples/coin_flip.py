"""Is the coin fair?  Beta-Bernoulli inference with TraceGraph_ELBO.

Ten flips, six heads.  With a uniform Beta(1, 1) prior on the coin's weight the
posterior is Beta(7, 5) exactly, so we can check what SVI learns: the guide is a
Beta with learnable concentrations, trained with ``TraceGraph_ELBO`` (the Beta is
reparameterized, so this is the pathwise gradient; see ``mixture.py`` for the
discrete case).

    python examples/coin_flip.py [--steps 1500] [--seed 0]
"""

from __future__ import annotations

import argparse

import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph.infer import SVI, TraceGraph_ELBO
from tracegraph.infer.fit import fit
from tracegraph.optim import Adam

DATA = torch.tensor([1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0])


def model(data: torch.Tensor) -> None:
    weight = tracegraph.sample("weight", dist.Beta(1.0, 1.0))
    with tracegraph.plate("data", len(data)):
        tracegraph.sample("obs", dist.Bernoulli(weight), obs=data)


def guide(data: torch.Tensor) -> None:
    alpha = tracegraph.param("alpha_q", torch.tensor(1.0), constraint=dist.constraints.positive)
    beta = tracegraph.param("beta_q", torch.tensor(1.0), constraint=dist.constraints.positive)
    tracegraph.sample("weight", dist.Beta(alpha, beta))


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    tracegraph.set_rng_seed(args.seed)
    tracegraph.clear_param_store()
    svi = SVI(model, guide, Adam({"lr": 0.02}), TraceGraph_ELBO())
    fit(svi, args.steps, DATA, desc="coin flip")

    alpha = tracegraph.param("alpha_q").item()
    beta = tracegraph.param("beta_q").item()
    heads = float(DATA.sum())
    exact_alpha, exact_beta = 1.0 + heads, 1.0 + len(DATA) - heads
    print(f"learned posterior: Beta({alpha:.2f}, {beta:.2f}), mean {alpha / (alpha + beta):.3f}")
    print(
        f"exact posterior:   Beta({exact_alpha:.0f}, {exact_beta:.0f}), "
        f"mean {exact_alpha / (exact_alpha + exact_beta):.3f}"
    )
    return {"alpha": alpha, "beta": beta}


if __name__ == "__main__":
    main()
