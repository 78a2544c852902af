"""Gradient estimators for discrete latents, the DisARM paper's table scaled down.

Run ``python benchmarks/bench_estimators.py [--steps N] [--seeds S]`` from the
repository root (``--quick`` for a run of seconds that checks the script; the
figures of ``docs/choosing-an-estimator.md`` came from the command there).  Pyro's
row needs ``pyro-ppl`` (in the dev environment); the data set is scikit-learn's
``load_digits``, read with scikit-learn when it is importable, else from the
``digits.csv.gz`` file scikit-learn ships (``--digits PATH``).  ``--synthetic``
replaces the digits by random binary images, for the smoke test only.

Setting (Dong, Mnih & Tucker 2020, scaled down to minutes on 2 CPU cores): a
Bernoulli VAE with one layer of 32 binary latents and linear encoder and decoder,
trained on ``load_digits`` (1797 images of 8x8 pixels, binarized at half
intensity; a fixed split: 1497 to train, 300 to test), minibatches of 50, Adam
(learning rate 3e-3), ``--seeds`` seeds.  Every estimator runs model and guide
**four times per step** (equal model evaluations):

* ``REINFORCE``: ``Trace_ELBO``, 4 particles, no baseline;
* ``RB score + avg``: ``TraceGraph_ELBO``, 4 particles, a decaying-average
  baseline (``use_decaying_avg_baseline``, beta 0.9);
* ``leave-one-out``: ``TraceGraph_ELBO(estimator="leave_one_out")``, 4 particles;
* ``DisARM``: ``TraceGraph_ELBO(estimator="disarm")``, 2 particles of 2 runs;
* ``VIMCO (K=4)``: ``VIMCO(num_particles=4)``: the 4-sample bound per data point
  (the data plate holds every site, so its elements are kept apart, as in Pyro);
* ``Pyro TraceGraph``: Pyro's ``TraceGraph_ELBO``, 4 particles, its
  decaying-average baseline (beta 0.9), in the same process on the same batches.

Particles are vectorized.  Reported per estimator (mean and spread over seeds):
the training objective (a curve, plotted; a CSV of the curves next to the plot),
the 100-sample importance-weighted bound on the test set at ``--checkpoints``
points, the variance of the encoder's gradient (``tr Cov`` over ``--draws``
estimates on one fixed batch) at three checkpoints of a common trajectory (the
leave-one-out run of the first seed, so every estimator is measured at the same
params), and the median time per step.

The targets: the papers' orderings (DisARM's variance below leave-one-out's at
equal evaluations; VIMCO's 100-sample test bound above the single-sample
estimators'), and the number of steps our best estimator needs to reach the test
bound Pyro's ``TraceGraph_ELBO`` has after the whole budget (the target: at most
one fifth of the budget).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import csv
import gzip
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

import tracegraph
import tracegraph.distributions as tg_dist
from tracegraph.infer import VIMCO, Trace_ELBO, TraceGraph_ELBO

LATENTS = 32
PIXELS = 64
BATCH = 50
LR = 3e-3
DECAY = {"use_decaying_avg_baseline": True, "baseline_beta": 0.9}


def digits(path: Path | None) -> torch.Tensor:
    """The 1797 images of scikit-learn's ``load_digits`` as floats in [0, 16]."""
    if path is None:
        try:
            from sklearn.datasets import load_digits
        except ImportError:
            raise SystemExit(
                "scikit-learn is not importable: pass --digits PATH to the digits.csv.gz "
                "file it ships (sklearn/datasets/data/digits.csv.gz), or install the "
                "bench extra"
            ) from None
        return torch.as_tensor(load_digits().data, dtype=torch.float32)
    with gzip.open(path, "rt") as f:
        rows = [[float(v) for v in line.split(",")] for line in f if line.strip()]
    table = torch.tensor(rows)
    if table.shape != (1797, 65):
        raise SystemExit(
            f"{path}: expected 1797 rows of 64 pixels and a label, got {tuple(table.shape)}"
        )
    return table[:, :PIXELS]


def synthetic(seed: int = 0) -> torch.Tensor:
    """Random binary images (ten noisy prototypes), scaled as the digits: for the
    smoke test of the script, never for figures."""
    g = torch.Generator().manual_seed(seed)
    prototypes = (torch.rand(10, PIXELS, generator=g) < 0.4).float()
    labels = torch.randint(10, (1797,), generator=g)
    flips = (torch.rand(1797, PIXELS, generator=g) < 0.1).float()
    return 16.0 * (prototypes[labels] - flips).abs()


def load_data(images: torch.Tensor, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Binarized at half intensity, split 1497 / 300 by a fixed permutation."""
    x = (images / 16.0 > 0.5).float()
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    x = x[perm]
    return x[300:], x[:300]


class Nets(torch.nn.Module):
    """Linear encoder (pixels -> latent logits) and decoder (latents -> pixel logits)."""

    def __init__(self, train: torch.Tensor) -> None:
        super().__init__()
        self.encoder = torch.nn.Linear(PIXELS, LATENTS)
        self.decoder = torch.nn.Linear(LATENTS, PIXELS)
        with torch.no_grad():
            # Start the decoder at the data's pixel means (as the DisARM setup does).
            mean = train.mean(0).clamp(1e-3, 1 - 1e-3)
            self.decoder.bias.copy_(torch.log(mean) - torch.log1p(-mean))


def programs(
    lib: Any, dist: Any, nets: Nets, baseline: dict[str, Any] | None, estimator: str | None
) -> tuple[Callable[[torch.Tensor], None], Callable[[torch.Tensor], None]]:
    """Model and guide written once against a Pyro-like module ``lib``."""
    infer: dict[str, Any] = {}
    if baseline is not None:
        infer["baseline"] = dict(baseline)
    if estimator is not None:
        infer["estimator"] = estimator

    def model(x: torch.Tensor) -> None:
        decoder = lib.module("decoder", nets.decoder)
        with lib.plate("data", x.shape[-2], dim=-1):
            prior = torch.full((LATENTS,), 0.5, dtype=x.dtype)
            z = lib.sample("z", dist.Bernoulli(prior).to_event(1))
            lib.sample("x", dist.Bernoulli(logits=decoder(z)).to_event(1), obs=x)

    def guide(x: torch.Tensor) -> None:
        encoder = lib.module("encoder", nets.encoder)
        with lib.plate("data", x.shape[-2], dim=-1):
            lib.sample("z", dist.Bernoulli(logits=encoder(x)).to_event(1), infer=dict(infer))

    return model, guide


@dataclass
class Spec:
    """One estimator of the table."""

    name: str
    lib: str  # "tracegraph" or "pyro"
    make: Callable[[], Any]
    baseline: dict[str, Any] | None = None
    estimator: str | None = None


def specs() -> list[Spec]:
    vec = {"vectorize_particles": True, "max_plate_nesting": 1}
    out = [
        Spec("REINFORCE", "tracegraph", lambda: Trace_ELBO(num_particles=4, **vec)),
        Spec(
            "RB score + avg", "tracegraph", lambda: TraceGraph_ELBO(num_particles=4, **vec), DECAY
        ),
        Spec(
            "leave-one-out",
            "tracegraph",
            lambda: TraceGraph_ELBO(num_particles=4, estimator="leave_one_out", **vec),
        ),
        Spec(
            "DisARM",
            "tracegraph",
            lambda: TraceGraph_ELBO(num_particles=2, estimator="disarm", **vec),
        ),
        Spec(
            "VIMCO (K=4)",
            "tracegraph",
            lambda: VIMCO(num_particles=4, **vec),
        ),
    ]
    try:
        import pyro.infer

        out.append(
            Spec(
                "Pyro TraceGraph",
                "pyro",
                lambda: pyro.infer.TraceGraph_ELBO(num_particles=4, **vec),
                DECAY,
            )
        )
    except ImportError:
        print("pyro is not installed: its row is left out (see benchmarks/README.md)")
    return out


def library(name: str) -> tuple[Any, Any]:
    if name == "pyro":
        import pyro
        import pyro.distributions

        return pyro, pyro.distributions
    return tracegraph, tg_dist


@torch.no_grad()
def iw_test_bound(nets: Nets, x: torch.Tensor, samples: int = 100) -> float:
    """The ``samples``-sample importance-weighted bound per test image (nats),
    computed directly (no PPL), in chunks."""
    total = 0.0
    for chunk in x.split(100):
        logits_q = nets.encoder(chunk)
        q = torch.distributions.Bernoulli(logits=logits_q)
        z = q.sample((samples,))
        log_q = q.log_prob(z).sum(-1)
        log_prior = LATENTS * math.log(0.5)
        log_lik = torch.distributions.Bernoulli(logits=nets.decoder(z)).log_prob(chunk).sum(-1)
        log_w = log_prior + log_lik - log_q
        total += float((torch.logsumexp(log_w, 0) - math.log(samples)).sum())
    return total / len(x)


@dataclass
class Result:
    steps: list[int] = field(default_factory=list)
    test: list[float] = field(default_factory=list)
    train: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    snapshots: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)


def train(
    spec: Spec,
    seed: int,
    data: tuple[torch.Tensor, torch.Tensor],
    steps: int,
    checkpoints: list[int],
    snapshot_at: list[int],
) -> Result:
    lib, dist = library(spec.lib)
    x_train, x_test = data
    lib.clear_param_store()
    torch.manual_seed(seed)
    nets = Nets(x_train)
    model, guide = programs(lib, dist, nets, spec.baseline, spec.estimator)
    elbo = spec.make()
    optim = torch.optim.Adam(nets.parameters(), lr=LR)
    batches = torch.Generator().manual_seed(1000 + seed)
    lib.set_rng_seed(seed)
    result = Result()
    n = len(x_train)
    for step in range(steps + 1):
        if step in checkpoints:
            result.steps.append(step)
            result.test.append(iw_test_bound(nets, x_test))
        if step in snapshot_at:
            result.snapshots[step] = copy.deepcopy(nets.state_dict())
        if step == steps:
            break
        batch = x_train[torch.randint(n, (BATCH,), generator=batches)]
        start = time.perf_counter()
        optim.zero_grad()
        loss = elbo.loss_and_grads(model, guide, batch)
        optim.step()
        result.seconds.append(time.perf_counter() - start)
        result.train.append(-loss / BATCH)
    return result


def gradient_variance(
    spec: Spec,
    state: dict[str, torch.Tensor],
    batch: torch.Tensor,
    draws: int,
    seed: int,
    warmup: int = 20,
) -> float:
    """``tr Cov`` of the encoder's gradient over ``draws`` estimates at ``state``."""
    lib, dist = library(spec.lib)
    lib.clear_param_store()
    nets = Nets(batch)
    nets.load_state_dict(state)
    model, guide = programs(lib, dist, nets, spec.baseline, spec.estimator)
    elbo = spec.make()
    lib.set_rng_seed(seed)
    params = list(nets.encoder.parameters())
    # Warm up stateful baselines (the decaying averages) on this batch first.
    for _ in range(warmup):
        for p in nets.parameters():
            p.grad = None
        elbo.loss_and_grads(model, guide, batch)
    rows = []
    for _ in range(draws):
        for p in nets.parameters():
            p.grad = None
        elbo.loss_and_grads(model, guide, batch)
        rows.append(torch.cat([p.grad.reshape(-1) for p in params]).double())
    grads = torch.stack(rows)
    return float(grads.var(0).sum())


def spread(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def plot(results: dict[str, list[Result]], path: Path, smooth: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, runs in results.items():
        curves = torch.tensor([r.train for r in runs])
        mean = curves.mean(0)
        # A moving average: one minibatch's objective is noisy.
        kernel = torch.ones(smooth) / smooth
        smoothed = torch.nn.functional.conv1d(mean.view(1, 1, -1), kernel.view(1, 1, -1)).view(-1)
        left.plot(range(smooth - 1, smooth - 1 + len(smoothed)), smoothed.tolist(), label=name)
        tests = torch.tensor([r.test for r in runs])
        right.plot(runs[0].steps, tests.mean(0).tolist(), marker="o", markersize=3, label=name)
    left.set_title("training objective per image (moving average)")
    left.set_xlabel("step")
    left.set_ylabel("nats")
    right.set_title("100-sample test bound per image")
    right.set_xlabel("step")
    right.legend(fontsize=8)
    lows = [min(min(r.test[1:] or r.test) for r in runs) for runs in results.values()]
    highs = [max(max(r.test) for r in runs) for runs in results.values()]
    right.set_ylim(min(lows) - 0.5, max(highs) + 0.5)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot written to {path}")


def write_csv(results: dict[str, list[Result]], path: Path) -> None:
    """The training curves (one row per step, seed and estimator) and the test
    bounds (step ``test@N``), long format."""
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["estimator", "seed", "kind", "step", "value"])
        for name, runs in results.items():
            for seed, r in enumerate(runs):
                out.writerows([name, seed, "train", i, f"{v:.5g}"] for i, v in enumerate(r.train))
                out.writerows([name, seed, "test", s, f"{v:.5g}"] for s, v in zip(r.steps, r.test))
    print(f"curves written to {path}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=3000, help="training steps (3000)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per estimator (3)")
    parser.add_argument("--checkpoints", type=int, default=20, help="test-bound evaluations (20)")
    parser.add_argument("--draws", type=int, default=100, help="gradient draws per variance (100)")
    parser.add_argument("--warmup", type=int, default=50, help="steps before each variance (50)")
    parser.add_argument("--out", type=Path, default=Path("docs"), help="plot and CSV folder")
    parser.add_argument("--digits", type=Path, default=None, help="scikit-learn's digits.csv.gz")
    parser.add_argument("--synthetic", action="store_true", help="random images (smoke test)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="seconds: 40 steps, 1 seed, 4 checkpoints, 10 draws, 20 warm-up steps",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.seeds, args.checkpoints, args.draws, args.warmup = 40, 1, 4, 10, 20
    torch.set_num_threads(1)
    # Validation off while measuring, restored after (the smoke test runs in the suite).
    with contextlib.ExitStack() as stack:
        stack.enter_context(tracegraph.validation_enabled(False))
        try:
            import pyro

            stack.enter_context(pyro.validation_enabled(False))
        except ImportError:
            pass
        run(args)


def run(args: argparse.Namespace) -> None:
    """The benchmark, with the parsed command line."""
    data = load_data(synthetic() if args.synthetic else digits(args.digits))
    every = max(1, args.steps // args.checkpoints)
    checkpoints = list(range(0, args.steps + 1, every))
    if checkpoints[-1] != args.steps:
        checkpoints.append(args.steps)
    snapshot_at = [0, args.steps // 2, args.steps]
    table = specs()
    results: dict[str, list[Result]] = {s.name: [] for s in table}
    wall = time.perf_counter()
    for seed in range(args.seeds):
        for spec in table:
            results[spec.name].append(train(spec, seed, data, args.steps, checkpoints, snapshot_at))
            r = results[spec.name][-1]
            print(
                f"seed {seed} {spec.name:18s} test bound {r.test[-1]:8.2f}  "
                f"{1000 * statistics.median(r.seconds):6.2f} ms/step",
                flush=True,
            )
    print(f"training: {time.perf_counter() - wall:.0f} s")

    # Gradient variance at the same params for every estimator.
    reference = results["leave-one-out"][0].snapshots
    pick = torch.randint(len(data[0]), (BATCH,), generator=torch.Generator().manual_seed(7))
    batch = data[0][pick]
    variances: dict[str, list[float]] = {s.name: [] for s in table}
    for step in snapshot_at:
        for spec in table:
            v = gradient_variance(spec, reference[step], batch, args.draws, 0, args.warmup)
            variances[spec.name].append(v)

    print(
        f"\nBernoulli VAE on binarized {'SYNTHETIC images' if args.synthetic else 'digits'}: "
        f"32 latents, batch {BATCH}, Adam {LR}, {args.steps} steps, {args.seeds} seed(s), "
        "4 model evaluations per step"
    )
    header = (
        f"{'estimator':18s} {'test bound (100)':>18s} {'train obj.':>16s} "
        + " ".join(f"{'var@' + str(s):>10s}" for s in snapshot_at)
        + f" {'ms/step':>8s}"
    )
    print(header)
    print("-" * len(header))
    for spec in table:
        runs = results[spec.name]
        final = [r.test[-1] for r in runs]
        last = [statistics.mean(r.train[-max(1, args.steps // 10) :]) for r in runs]
        ms = statistics.median([1000 * statistics.median(r.seconds) for r in runs])
        print(
            f"{spec.name:18s} {spread(final):>18s} {spread(last):>16s} "
            + " ".join(f"{v:10.4g}" for v in variances[spec.name])
            + f" {ms:8.2f}"
        )

    if "Pyro TraceGraph" in results:
        target = statistics.mean(r.test[-1] for r in results["Pyro TraceGraph"])
        print(f"\nPyro TraceGraph_ELBO's final test bound (mean over seeds): {target:.2f}")
        for spec in table:
            if spec.lib != "tracegraph":
                continue
            mean_curve = torch.tensor([r.test for r in results[spec.name]]).mean(0).tolist()
            steps = results[spec.name][0].steps
            reached = next((s for s, v in zip(steps, mean_curve) if v >= target), None)
            where = "never" if reached is None else f"step {reached} ({reached / args.steps:.0%})"
            print(f"  {spec.name:18s} reaches it at {where}")
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(results, args.out / "bench_estimators.csv")
    try:
        plot(results, args.out / "bench_estimators.png", smooth=max(1, args.steps // 50))
    except ImportError:
        print("matplotlib is not importable: no plot (the CSV holds the curves)")


if __name__ == "__main__":
    main()
