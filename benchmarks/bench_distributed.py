"""Data-parallel SVI: steps/s and samples/s on 1 rank and on N ranks, the scaling
efficiency, and the share of each step spent exchanging with the other ranks.

Run from the repository root::

    python benchmarks/bench_distributed.py [--nproc 2] [--steps 200] [--backend gloo]
    python benchmarks/bench_distributed.py --backend nccl --nproc 2 --batch 65536  # GPUs

It launches ``torchrun --standalone`` itself, once per configuration, and prints
one table.  A configuration is ``ranks x threads`` with a *batch per rank*:

* weak scaling: every rank keeps the batch of the 1-rank run, so N ranks process
  N times the samples per step; efficiency = samples/s(N) / (N * samples/s(1));
* strong scaling: the global batch of the 1-rank run is split over the ranks;
  efficiency = steps/s(N) / (N * steps/s(1));
* ``1 x N`` threads: one rank using N intra-op threads, the other way to spend N
  cores (not run with NCCL).

The gradients of this model (``2 * features * classes`` numbers) fit in
``DistributedSVI``'s ``inline_bytes``, so they travel with the ranks' agreement:
one exchange per step.  The ``all-reduce`` row turns that off
(``inline_bytes=0``): agreement, then a bucketed all-reduce.

The model is dominated by its likelihood: softmax regression with a global
weight matrix ``W`` (``--features`` x ``--classes``, reparameterized Normal guide)
and a subsampled data plate of ``Categorical(logits = x @ W)`` observations, so
the work per step grows with the batch while the gradient exchanged per step is
``2 * features * classes`` numbers.  ``Trace_ELBO``; Adam.

*comm* is ``DistributedSVI.timings``' share of the step spent in exchanges with
the other ranks; *wait* the part of it spent in the agreement before the
all-reduce, which is mostly waiting for the slowest rank to finish its
computation (on a loaded machine, for the scheduler to run it); the rest is the
all-reduce itself.  ``SVI``'s
own steps/s (one process, no ``torch.distributed`` at all) is reported beside the
1-rank run: the difference is what the data-parallel layer costs without peers.

On a shared machine the numbers move with the neighbours' load; each
configuration is run ``--repeats`` times and the median is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]


def _args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nproc", type=int, default=2, help="ranks of the scaled runs")
    parser.add_argument("--steps", type=int, default=200, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--batch", type=int, default=4096, help="batch of the 1-rank run")
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--classes", type=int, default=16)
    parser.add_argument("--size", type=int, default=200_000, help="data points")
    parser.add_argument("--backend", default="gloo", choices=["gloo", "nccl"])
    parser.add_argument("--repeats", type=int, default=3)
    # Worker mode (set by the launcher).
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--local-batch", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--out", default="", help=argparse.SUPPRESS)
    parser.add_argument("--inline-bytes", type=int, default=65536, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# -- one rank of a run ----------------------------------------------------------------


def worker(args: argparse.Namespace) -> None:
    import tracegraph
    import tracegraph.distributions as dist
    from tracegraph.infer import SVI, Trace_ELBO
    from tracegraph.infer.distributed import (
        DataPlateSampler,
        DistributedSVI,
        init_distributed,
        shutdown_distributed,
    )
    from tracegraph.optim import Adam

    torch.set_num_threads(args.threads)
    tracegraph.enable_validation(False)
    info = init_distributed(backend=args.backend)
    device = info.device
    g = torch.Generator().manual_seed(0)
    x = torch.randn(args.size, args.features, generator=g).to(device)
    w_true = torch.randn(args.features, args.classes, generator=g).to(device)
    y = torch.distributions.Categorical(logits=x @ w_true).sample()
    shape = (args.features, args.classes)

    def model(idx: torch.Tensor) -> None:
        w = tracegraph.sample("W", dist.Normal(x.new_zeros(shape), 1.0).to_event(2))
        with tracegraph.plate("data", args.size, subsample=idx):
            tracegraph.sample("y", dist.Categorical(logits=x[idx] @ w), obs=y[idx])

    def guide(idx: torch.Tensor) -> None:
        loc = tracegraph.param("W_loc", x.new_zeros(shape))
        scale = tracegraph.param(
            "W_scale", x.new_full(shape, 0.1), constraint=dist.constraints.positive
        )
        tracegraph.sample("W", dist.Normal(loc, scale).to_event(2))

    batch = args.local_batch * info.world_size
    sampler = DataPlateSampler(args.size, batch, device=device)

    def timed(svi: Any) -> tuple[float, float, float]:
        """Seconds for the timed steps, the share of them in exchanges, and the
        share in agreeing (waiting for the slowest rank, mostly)."""
        for step in range(args.warmup):
            svi.step(sampler.indices(step))
        if device.type == "cuda":
            torch.cuda.synchronize()
        before = dict(getattr(svi, "timings", {}))
        start = time.perf_counter()
        for step in range(args.warmup, args.warmup + args.steps):
            svi.step(sampler.indices(step))
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        after = getattr(svi, "timings", {})
        if not after:
            return seconds, 0.0, 0.0
        total = after["total"] - before["total"]
        comm = (after["communication"] - before["communication"]) / total
        return seconds, comm, (after["agreement"] - before["agreement"]) / total

    result: dict[str, Any] = {"world_size": info.world_size, "threads": args.threads}
    tracegraph.clear_param_store()
    distributed = DistributedSVI(
        model, guide, Adam({"lr": 0.01}), Trace_ELBO(), inline_bytes=args.inline_bytes
    )
    mine = timed(distributed)
    # Every rank's figures reach rank 0 (outside the timed loop).
    gathered: list[Any] = [None] * info.world_size
    torch.distributed.all_gather_object(gathered, mine)
    result["seconds"] = max(s for s, _, _ in gathered)
    result["comm"] = statistics.mean(c for _, c, _ in gathered)
    result["wait"] = statistics.mean(w for _, _, w in gathered)
    if info.world_size == 1:
        tracegraph.clear_param_store()
        svi = SVI(model, guide, Adam({"lr": 0.01}), Trace_ELBO())
        result["svi_seconds"] = timed(svi)[0]
    if info.rank == 0:
        Path(args.out).write_text(json.dumps(result))
    shutdown_distributed()


# -- the launcher ---------------------------------------------------------------------


def run(
    args: argparse.Namespace, nproc: int, local_batch: int, threads: int, inline: int
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
        env["OMP_NUM_THREADS"] = str(threads)
        command = [
            sys.executable, "-m", "torch.distributed.run", "--standalone",
            f"--nproc_per_node={nproc}", __file__, "--worker",
            f"--local-batch={local_batch}", f"--threads={threads}", f"--out={out}",
            f"--steps={args.steps}", f"--warmup={args.warmup}", f"--size={args.size}",
            f"--features={args.features}", f"--classes={args.classes}",
            f"--backend={args.backend}", f"--inline-bytes={inline}",
        ]  # fmt: skip
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
        return dict(json.loads(out.read_text()))


def main(argv: list[str] | None = None) -> None:
    args = _args(argv)
    if args.worker:
        worker(args)
        return
    n, b = args.nproc, args.batch
    if b % n:
        raise SystemExit(f"--batch {b} must be divisible by --nproc {n}")
    inline = 65536
    configs = [
        ("1 rank", 1, b, 1, inline),
        (f"{n} ranks, weak", n, b, 1, inline),
        (f"{n} ranks, weak, all-reduce", n, b, 1, 0),
        (f"{n} ranks, strong", n, b // n, 1, inline),
    ]
    if args.backend == "gloo":
        configs.append((f"1 rank, {n} threads", 1, b, n, inline))
    print(
        f"softmax regression: {args.features} features x {args.classes} classes, "
        f"{args.size} data points, {args.backend}, {args.steps} timed steps, "
        f"median of {args.repeats} runs; torch {torch.__version__}, {os.cpu_count()} CPUs"
    )
    rows = []
    for name, nproc, local, threads, inline in configs:
        runs = [run(args, nproc, local, threads, inline) for _ in range(args.repeats)]
        seconds = statistics.median(r["seconds"] for r in runs)
        comm = statistics.median(r["comm"] for r in runs)
        wait = statistics.median(r["wait"] for r in runs)
        steps = args.steps / seconds
        row = {"name": name, "ranks": nproc, "threads": threads, "batch": local * nproc,
               "steps/s": steps, "samples/s": steps * local * nproc, "comm": comm,
               "wait": wait}  # fmt: skip
        if "svi_seconds" in runs[0]:
            row["svi steps/s"] = args.steps / statistics.median(r["svi_seconds"] for r in runs)
        rows.append(row)
    base = rows[0]
    print(
        f"{'configuration':<28}{'batch':>7}{'steps/s':>9}{'samples/s':>11}{'eff.':>7}"
        f"{'comm':>7}{'wait':>7}"
    )
    for row in rows:
        cores = row["ranks"] * row["threads"]
        if row is base:
            eff = 1.0
        elif row["batch"] == base["batch"]:  # the same work per step on more cores
            eff = row["steps/s"] / base["steps/s"] / cores
        else:  # weak scaling: each rank the 1-rank batch
            eff = row["samples/s"] / base["samples/s"] / cores
        print(
            f"{row['name']:<28}{row['batch']:>7}{row['steps/s']:>9.1f}{row['samples/s']:>11.0f}"
            f"{eff:>7.0%}{row['comm']:>7.0%}{row['wait']:>7.0%}"
        )
    if "svi steps/s" in base:
        print(f"SVI (no torch.distributed) on 1 rank: {base['svi steps/s']:.1f} steps/s")


if __name__ == "__main__":
    main()
