"""Data-parallel SVI: robust regression on several processes with torch.distributed.

Linear regression where a few data points are outliers.  The model has global
weights ``w`` and, per data point, a discrete latent ``outlier`` that switches its
noise from 0.1 to 3.  The guide learns ``w`` (reparameterized) and a logit per data
point for ``outlier`` (scored, with a decaying-average baseline), so the estimator
is ``TraceGraph_ELBO``.

Each rank takes its own slice of every global batch (``DataPlateSampler``) and
gives it to the plate as ``subsample=``; ``DistributedSVI`` averages the ranks'
gradients, baselines and losses, so every rank keeps the same params.  Rank 0
alone prints and writes the checkpoint; ``--resume`` restores every rank from it.

    torchrun --nproc_per_node 2 examples/distributed_svi.py [--steps 300] [--backend gloo]
    python examples/distributed_svi.py            # the same on one process

Under torchrun each rank is one process with one torch thread (``OMP_NUM_THREADS``
is set to 1 by torchrun); ``--backend nccl`` puts each rank on its own GPU.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph.infer import TraceGraph_ELBO
from tracegraph.infer.distributed import (
    DataPlateSampler,
    DistributedSVI,
    init_distributed,
    is_main_process,
    load_checkpoint,
    save_checkpoint,
    shutdown_distributed,
)
from tracegraph.optim import Adam

TRUE_W = torch.tensor([2.0, -1.0, 0.5, 0.0])


def make_data(n: int, seed: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    """Features, targets and which points are outliers (the same on every rank)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, len(TRUE_W), generator=g)
    outlier = torch.rand(n, generator=g) < 0.05
    noise = torch.where(outlier, 3.0, 0.1) * torch.randn(n, generator=g)
    y = x @ TRUE_W + noise
    return x.to(device), y.to(device), outlier.to(device)


def model(x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor) -> None:
    w = tracegraph.sample("w", dist.Normal(x.new_zeros(x.shape[1]), 1.0).to_event(1))
    with tracegraph.plate("data", len(x), subsample=idx):
        outlier = tracegraph.sample("outlier", dist.Bernoulli(x.new_tensor(0.05)))
        scale = 0.1 + 2.9 * outlier
        tracegraph.sample("y", dist.Normal(x[idx] @ w, scale), obs=y[idx])


def guide(x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor) -> None:
    loc = tracegraph.param("w_loc", x.new_zeros(x.shape[1]))
    scale = tracegraph.param(
        "w_scale", x.new_full((x.shape[1],), 0.1), constraint=dist.constraints.positive
    )
    tracegraph.sample("w", dist.Normal(loc, scale).to_event(1))
    # One logit per data point, sized by the whole data set on every rank (a param
    # sized by a rank's slice would differ between ranks); the plate picks the slice.
    logits = tracegraph.param("outlier_logits", x.new_full((len(x),), -3.0))
    with tracegraph.plate("data", len(x), subsample=idx):
        tracegraph.sample(
            "outlier",
            dist.Bernoulli(logits=logits[idx]),
            infer={"baseline": {"use_decaying_avg_baseline": True, "baseline_beta": 0.9}},
        )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--size", type=int, default=4000, help="data points")
    parser.add_argument("--batch-size", type=int, default=256, help="global batch")
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--backend", default=None, help="gloo or nccl (default: by device)")
    parser.add_argument("--checkpoint", default=None, help="write a checkpoint here at the end")
    parser.add_argument("--resume", action="store_true", help="start from --checkpoint")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    info = init_distributed(backend=args.backend)
    try:
        tracegraph.clear_param_store()
        # Different draws on each rank: the ranks' gradients are independent
        # estimates, and their mean has less variance than one of them.
        torch.manual_seed(args.seed + info.rank)
        x, y, outlier = make_data(args.size, seed=args.seed, device=info.device)
        # Each logit sees its data point once per epoch: it gets a larger step.
        optim = Adam(lambda name: {"lr": args.lr * (10 if name == "outlier_logits" else 1)})
        svi = DistributedSVI(model, guide, optim, TraceGraph_ELBO())
        first = 0
        if args.resume and args.checkpoint and os.path.exists(args.checkpoint):
            first = int(load_checkpoint(args.checkpoint, optim)["step"])
        # The sampler's seed is shared: the ranks' slices of a batch are disjoint.
        sampler = DataPlateSampler(args.size, args.batch_size, seed=args.seed, device=info.device)
        losses = []
        for step in range(first, first + args.steps):
            losses.append(svi.step(x, y, sampler.indices(step)))
            if is_main_process() and (step + 1) % 50 == 0:
                mean = f"mean over {info.world_size} ranks"
                print(f"step {step + 1:4d}  loss ({mean}) {losses[-1]:9.1f}")
        if args.checkpoint:
            save_checkpoint(args.checkpoint, optim, extra={"step": first + args.steps})
        if "w_loc" not in tracegraph.get_param_store():
            return {"losses": losses, "world_size": info.world_size}
        w = tracegraph.param("w_loc").detach().cpu()
        found = tracegraph.param("outlier_logits").detach().cpu() > 0
        recall = (found & outlier.cpu()).sum().item() / max(1, int(outlier.sum()))
        if is_main_process():
            print(f"ranks: {info.world_size} ({info.backend}), global batch {args.batch_size}")
            print(f"w learned: {[round(v, 2) for v in w.tolist()]}  true: {TRUE_W.tolist()}")
            print(f"outliers found: {recall:.0%} of {int(outlier.sum())}")
            timings = svi.timings
            share = timings["communication"] / max(timings["total"], 1e-12)
            print(f"time in exchanges with other ranks: {share:.0%} of the steps")
        return {"losses": losses, "w": w, "recall": recall, "world_size": info.world_size}
    finally:
        shutdown_distributed()


if __name__ == "__main__":
    main()
