"""The programs the ranks of the distributed tests run, and the single-process
references they are compared with.

Run as a script by each rank (``python workers.py SCENARIO OUTDIR`` with
torchrun's environment variables set by :mod:`launcher`), a scenario writes what
it measured to ``OUTDIR/rank<r>.pt``; the tests import the same model, guide and
runs to compute the reference in their own process.

The model has a global latent (``w``, reparameterized), a global discrete latent
(``c``, scored, with a decaying-average baseline) and a subsampled data plate.
Both ranks draw from the same seed, so they draw the same ``w`` and ``c`` as one
process on the whole batch: the averaged gradient must then equal that process's
gradient up to rounding.  Param inits come from a per-rank generator, so a rank
computing with its own init instead of rank 0's would show.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import torch

if __name__ == "__main__":  # a rank: import this worktree's tracegraph
    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

import tracegraph
import tracegraph.distributions as dist
from tracegraph.distributions import constraints
from tracegraph.infer import SVI, Trace_ELBO, TraceGraph_ELBO
from tracegraph.infer.distributed import (
    DataPlateSampler,
    DistributedSVI,
    init_distributed,
    load_checkpoint,
    save_checkpoint,
    shutdown_distributed,
)
from tracegraph.infer.fit import fit
from tracegraph.optim import Adam, PyroOptim

N, D, BATCH, SEED = 40, 3, 8, 123
BASELINE = {"use_decaying_avg_baseline": True, "baseline_beta": 0.8}


def data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, D, generator=g, dtype=torch.float64)
    w = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    y = x @ w + 0.3 + 0.5 * torch.randn(N, generator=g, dtype=torch.float64)
    return x, y


def model(x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor) -> None:
    w = tracegraph.sample("w", dist.Normal(torch.zeros(D), 1.0).to_event(1))
    c = tracegraph.sample("c", dist.Bernoulli(torch.tensor(0.5)))
    with tracegraph.plate("data", N, subsample=idx):
        tracegraph.sample("y", dist.Normal(x[idx] @ w + 0.3 * c, 0.5), obs=y[idx])


def make_guide(init_seed: int, extra_param: bool = False, baseline: str = "avg") -> Any:
    """The guide; ``baseline`` is ``"avg"`` (decaying average) or ``"nn"`` (a
    network registered with ``module``, so its weights are params)."""
    init = torch.Generator().manual_seed(init_seed)
    with torch.random.fork_rng():
        torch.manual_seed(init_seed)
        net = torch.nn.Linear(1, 1)

    def guide(x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor) -> None:
        loc = tracegraph.param("w_loc", lambda: torch.randn(D, generator=init))
        scale = tracegraph.param("w_scale", torch.full((D,), 0.5), constraint=constraints.positive)
        tracegraph.sample("w", dist.Normal(loc, scale).to_event(1))
        p = tracegraph.param("c_p", torch.tensor(0.3), constraint=constraints.unit_interval)
        if extra_param:
            tracegraph.param("extra", torch.zeros(2))
        if baseline == "nn":
            tracegraph.module("baseline", net)
            config: dict[str, Any] = {"nn_baseline": net, "nn_baseline_input": torch.ones(1)}
        else:
            config = dict(BASELINE)
        tracegraph.sample("c", dist.Bernoulli(p), infer={"baseline": config})

    return guide


class RecordingSGD(torch.optim.SGD):
    """SGD that keeps a copy of every gradient it steps with, by param name."""

    seen: dict[str, list[torch.Tensor]] = {}

    def step(self, closure: Any = None) -> Any:
        for group in self.param_groups:
            for p in group["params"]:
                name = tracegraph.get_param_store().param_name(p)
                RecordingSGD.seen.setdefault(str(name), []).append(p.grad.detach().clone())
        return super().step(closure)


#: name -> (estimator, baseline of site c, DistributedSVI's inline_bytes): the
#: small gradients travel with the agreement by default, through the bucketed
#: all-reduce with inline_bytes=0.
ELBOS: dict[str, tuple[Any, str, int]] = {
    "trace": (Trace_ELBO, "avg", 65536),
    "tracegraph": (TraceGraph_ELBO, "avg", 65536),
    "tracegraph_nn": (TraceGraph_ELBO, "nn", 65536),
    "tracegraph_allreduce": (TraceGraph_ELBO, "avg", 0),
}


def _state() -> dict[str, torch.Tensor]:
    return {
        name: leaf.detach().clone()
        for name, leaf in tracegraph.get_param_store().named_parameters()
    }


def run(
    elbo: str, steps: int, optim: str, rank: int, world_size: int, distributed: bool
) -> dict[str, Any]:
    """``steps`` steps from a fresh store: the rank's part of each global batch
    (the whole batch with ``world_size == 1``).  Returns params, baseline state,
    losses, recorded gradients and optimizer state."""
    tracegraph.clear_param_store()
    RecordingSGD.seen = {}
    x, y = data()
    sampler = DataPlateSampler(N, BATCH, rank=rank, world_size=world_size, seed=5)
    pyro_optim = PyroOptim(RecordingSGD, {"lr": 0.01}) if optim == "record" else Adam({"lr": 0.05})
    estimator, baseline, inline = ELBOS[elbo]
    if distributed:
        # Rank 1's own inits (w_loc, the network) must be replaced by rank 0's.
        guide = make_guide(7 + rank, baseline=baseline)
        svi: SVI = DistributedSVI(
            model, guide, pyro_optim, estimator(), timeout=30.0, inline_bytes=inline
        )
    else:
        svi = SVI(model, make_guide(7, baseline=baseline), pyro_optim, estimator())
    torch.manual_seed(SEED)
    losses = [svi.step(x, y, sampler.indices(step)) for step in range(steps)]
    return {
        "params": _state(),
        "losses": torch.tensor(losses),
        "grads": {k: torch.stack(v) for k, v in RecordingSGD.seen.items()},
        "optim": pyro_optim.get_state(),
        "eval": torch.tensor(svi.evaluate_loss(x, y, sampler.indices(0))),
    }


def partial(rank: int, world_size: int, inline: int) -> dict[str, torch.Tensor]:
    """After step 0, only rank 1's guide uses param ``u``: the ranks' layouts
    differ and are reconciled; ``u`` gets rank 1's gradient over 2 on both."""
    tracegraph.clear_param_store()
    x, y = data()
    sampler = DataPlateSampler(N, BATCH, rank=rank, world_size=world_size, seed=5)
    base = make_guide(7)
    step = 0

    def guide(x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor) -> None:
        if step == 0 or rank == 1:
            u = tracegraph.param("u", torch.zeros(D))
            tracegraph.sample("u_site", dist.Normal(u, 1.0).to_event(1))
        base(x, y, idx)

    def model_u(x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor) -> None:
        if step == 0 or rank == 1:
            tracegraph.sample("u_site", dist.Normal(torch.ones(D), 1.0).to_event(1))
        model(x, y, idx)

    svi = DistributedSVI(model_u, guide, Adam({"lr": 0.05}), TraceGraph_ELBO(), inline_bytes=inline)
    torch.manual_seed(SEED + rank)
    for step in range(5):
        svi.step(x, y, sampler.indices(step))
    return _state()


def scenario_equivalence(rank: int, world_size: int, out: Path) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for elbo in ELBOS:
        result[f"{elbo}/record"] = run(elbo, 3, "record", rank, world_size, True)
        result[f"{elbo}/adam"] = run(elbo, 50, "adam", rank, world_size, True)
    result["partial"] = {inline: partial(rank, world_size, inline) for inline in (65536, 0)}
    # Checkpoint: rank 0 writes; every rank overwrites its params, then loads.
    saved = _state()
    path = out / "ckpt.pt"
    result["wrote"] = save_checkpoint(path, extra={"step": 50})
    with torch.no_grad():
        for _, leaf in tracegraph.get_param_store().named_parameters():
            leaf.add_(1.0 + rank)
    result["extra"] = load_checkpoint(path)
    result["restored"] = all(torch.equal(saved[n], t) for n, t in _state().items())
    # fit: only rank 0 draws a progress bar.
    x, y = data()
    svi = DistributedSVI(model, make_guide(7 + rank), Adam({"lr": 0.05}), Trace_ELBO())
    sampler = DataPlateSampler(N, BATCH, rank=rank, world_size=world_size)
    fit(svi, 3, x, y, sampler.indices(0), desc="FITBAR")
    result["timings"] = dict(svi.timings)
    return result


def _attempt(fn: Any) -> dict[str, Any]:
    start = time.perf_counter()
    try:
        fn()
    except BaseException as exc:  # noqa: BLE001 - recorded for the test to judge
        return {
            "type": type(exc).__name__,
            "message": str(exc),
            "notes": "\n".join(getattr(exc, "__notes__", [])),
            "seconds": time.perf_counter() - start,
        }
    return {"type": None, "seconds": time.perf_counter() - start}


def _steps(rank: int, world_size: int, steps: int, **options: Any) -> None:
    """``steps`` steps of a fresh DistributedSVI; options: ``extra_param`` (rank 1's
    guide makes one more param), ``nan_at`` (rank 1 observes NaNs at that step),
    ``exit_at`` (rank 1 exits at that step), ``timeout``."""
    tracegraph.clear_param_store()
    x, y = data()
    bad = torch.full_like(y, float("nan"))
    sampler = DataPlateSampler(N, BATCH, rank=rank, world_size=world_size)
    guide = make_guide(7, extra_param=options.get("extra_param", False) and rank == 1)
    timeout = options.get("timeout", 20.0)
    svi = DistributedSVI(model, guide, Adam({"lr": 0.05}), Trace_ELBO(), timeout=timeout)
    for step in range(steps):
        if rank == 1 and step == options.get("exit_at"):
            os._exit(3)  # no exception, no goodbye
        obs = bad if (rank == 1 and step == options.get("nan_at")) else y
        svi.step(x, obs, sampler.indices(step))


def scenario_faults(rank: int, world_size: int, out: Path) -> dict[str, Any]:
    """One fault after another in the same job: a reported fault leaves the ranks
    in step, so the next part starts cleanly; the last part kills rank 1."""
    result: dict[str, Any] = {}
    result["param_one_rank"] = _attempt(lambda: _steps(rank, world_size, 3, extra_param=True))
    result["raise"] = _attempt(lambda: _steps(rank, world_size, 6, nan_at=3))
    result["after"] = _attempt(lambda: _steps(rank, world_size, 3))
    torch.save(result, out / f"rank{rank}.pt")
    result["die"] = _attempt(lambda: _steps(rank, world_size, 5, exit_at=2, timeout=5.0))
    return result


SCENARIOS = {"equivalence": scenario_equivalence, "faults": scenario_faults}


def main() -> None:
    scenario, out = sys.argv[1], Path(sys.argv[2])
    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(1)
    tracegraph.enable_validation(True)
    info = init_distributed(timeout=60.0)
    start = time.perf_counter()
    try:
        result = SCENARIOS[scenario](info.rank, info.world_size, out)
        result["seconds"] = time.perf_counter() - start
        torch.save(result, out / f"rank{info.rank}.pt")
    finally:
        shutdown_distributed()


if __name__ == "__main__":
    main()
