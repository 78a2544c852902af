"""The compiled SVI step (issue 12): time per step, first steps, memory, profile.

Run from the repository root with a Python that has tracegraph importable and,
for the side-by-side, ``pyro-ppl`` (``benchmarks/README.md``)::

    python benchmarks/bench_compiled.py [--steps 200] [--warmup 30] [--models a,b]
    python benchmarks/bench_compiled.py --first-step      # fresh process per (model, library)
    python benchmarks/bench_compiled.py --memory          # RSS over 5,000 compiled steps
    python benchmarks/bench_compiled.py --profile sbn     # where a compiled step's time goes

A *step* is one ``loss_and_grads`` call plus clearing the params' gradients:
``SVI.step`` without the optimizer.  The six models (``bench_models.py``) are
written once against a Pyro-like module, so both libraries run the same code.
Variants:

* ``ours Jit``: our ``JitTraceGraph_ELBO``, measured after its background
  inductor compilation finished (``elbo._plans[0].wait_compiled()``);
* ``ours Jit graph``: the same with ``jit_options={"inductor": False}`` (the
  recorded FX graph replayed, not compiled);
* ``ours TraceGraph``, ``ours Trace``: our eager estimators;
* ``pyro Jit``, ``pyro TraceGraph``: Pyro's ``JitTraceGraph_ELBO`` and
  ``TraceGraph_ELBO`` (when ``pyro`` is importable);
* ``hand``: the same estimator written by hand in plain PyTorch
  (``handwritten.py``), the floor.

After the warm-up the variants run interleaved, one step each per round, in an
order shuffled every round (a step runs slower after some variants' garbage; a
fixed order would bill the same variant for it), and the median per variant is
reported with the interquartile range.  Validation is off and torch runs one
thread (the tensors are tiny).  On a shared machine the figures are indicative.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import random
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from bench_models import MODEL_NAMES, make_models
from handwritten import HANDWRITTEN

import tracegraph
import tracegraph.distributions as tg_dist
from tracegraph.infer import JitTraceGraph_ELBO, Trace_ELBO, TraceGraph_ELBO
from tracegraph.infer.compiled import prepare

VARIANTS = (
    "ours Jit",
    "ours Jit graph",
    "ours TraceGraph",
    "ours Trace",
    "pyro Jit",
    "pyro TraceGraph",
    "hand",
)
HERE = Path(__file__).resolve().parent


def have_pyro() -> bool:
    return importlib.util.find_spec("pyro") is not None


def _pyro() -> tuple[ModuleType, ModuleType]:
    import pyro
    import pyro.distributions as pyro_dist

    pyro.enable_validation(False)
    return pyro, pyro_dist


@dataclass
class Runner:
    """One variant on one model: ``step()`` runs one step; ``warm()`` runs one
    warm-up step; ``ready()`` is called after the warm-up; ``check()`` says, after
    the measurement, whether every measured step took the path the label claims
    (an empty string when it did)."""

    step: Callable[[], None]
    warm: Callable[[], None] | None = None
    ready: Callable[[], None] = lambda: None
    check: Callable[[int], str] = lambda steps: ""
    info: dict[str, Any] = field(default_factory=dict)
    elbo: Any = None


def _ppl_runner(elbo: Any, lib: ModuleType, dist: ModuleType, name: str) -> Runner:
    model, guide, args = make_models(lib, dist)[name]
    store = lib.get_param_store()

    def step() -> None:
        elbo.loss_and_grads(model, guide, *args)
        for _, p in store.named_parameters():
            p.grad = None

    return Runner(step, elbo=elbo)


def _ours_jit_runner(name: str, inductor: bool) -> Runner:
    # The steady state is measured here, not the first steps: load the machinery
    # first, so that the warm-up records (else its steps run eagerly meanwhile).
    prepare(wait=True)
    elbo = JitTraceGraph_ELBO(jit_options=None if inductor else {"inductor": False})
    runner = _ppl_runner(elbo, tracegraph, tg_dist, name)
    start: dict[str, int] = {}

    def warm() -> None:
        runner.step()
        # Wait as soon as a compilation starts: steps taken while inductor compiles
        # a plan replay the graph, slowed by the compilation (see the README).
        for plan in elbo._plans:
            if plan._thread is not None and plan.compiled is None:
                t0 = time.perf_counter()
                plan.wait_compiled()
                runner.info["compile_s"] = time.perf_counter() - t0

    def ready() -> None:
        if not elbo._plans:
            return
        plan = elbo._plans[0]
        if inductor:
            runner.info["compiled"] = plan.wait_compiled()
        start["replays"] = plan.replays

    def check(steps: int) -> str:
        if len(elbo._plans) != 1:
            return f"{len(elbo._plans)} plans (expected 1)"
        plan = elbo._plans[0]
        done = plan.replays - start.get("replays", 0)
        if done != steps:
            return f"{steps - done} of {steps} steps did not replay the plan"
        if inductor and plan.compiled is None:
            return "no compiled step: the replays ran the FX graph"
        return ""

    runner.warm, runner.ready, runner.check = warm, ready, check
    return runner


def _hand_runner(name: str) -> Runner:
    _, _, args = make_models(tracegraph, tg_dist)[name]
    hand = HANDWRITTEN[name](*args)

    def step() -> None:
        hand.loss_and_grads()
        hand.zero_grad()

    return Runner(step)


def runners(name: str, labels: tuple[str, ...]) -> dict[str, Runner]:
    """The variants ``labels`` on model ``name``."""
    out: dict[str, Runner] = {}
    for label in labels:
        if label == "ours Jit":
            out[label] = _ours_jit_runner(name, inductor=True)
        elif label == "ours Jit graph":
            out[label] = _ours_jit_runner(name, inductor=False)
        elif label == "ours TraceGraph":
            out[label] = _ppl_runner(TraceGraph_ELBO(), tracegraph, tg_dist, name)
        elif label == "ours Trace":
            out[label] = _ppl_runner(Trace_ELBO(), tracegraph, tg_dist, name)
        elif label == "pyro Jit":
            pyro, pyro_dist = _pyro()
            elbo = pyro.infer.JitTraceGraph_ELBO(ignore_jit_warnings=True)
            out[label] = _ppl_runner(elbo, pyro, pyro_dist, name)
        elif label == "pyro TraceGraph":
            pyro, pyro_dist = _pyro()
            out[label] = _ppl_runner(pyro.infer.TraceGraph_ELBO(), pyro, pyro_dist, name)
        elif label == "hand":
            out[label] = _hand_runner(name)
        else:
            raise ValueError(f"unknown variant {label!r}; known: {', '.join(VARIANTS)}")
    return out


def _quiet() -> None:
    # torch.jit.trace (Pyro's Jit) is deprecated in torch 2.13 and warns on every
    # trace; the tracer's own warnings are what ignore_jit_warnings silences.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)


def _setup() -> None:
    torch.set_num_threads(1)
    tracegraph.enable_validation(False)
    _quiet()


def measure(
    names: tuple[str, ...], labels: tuple[str, ...], steps: int, warmup: int
) -> dict[str, dict[str, dict[str, float]]]:
    """``{model: {variant: {"median", "q1", "q3" (µs), "check"}}}``."""
    _setup()
    results: dict[str, dict[str, dict[str, Any]]] = {}
    for name in names:
        tracegraph.clear_param_store()
        if have_pyro():
            _pyro()[0].clear_param_store()
        found = runners(name, labels)
        for runner in found.values():
            torch.manual_seed(0)
            for _ in range(warmup):
                (runner.warm or runner.step)()
            runner.ready()
        times: dict[str, list[float]] = {label: [] for label in found}
        order = list(found.items())
        shuffler = random.Random(0)
        gc.collect()
        for _ in range(steps):
            shuffler.shuffle(order)
            for label, runner in order:
                t0 = time.perf_counter()
                runner.step()
                times[label].append(time.perf_counter() - t0)
        row: dict[str, dict[str, Any]] = {}
        for label, t in times.items():
            q1, median, q3 = statistics.quantiles(t, n=4)
            row[label] = {
                "median": 1e6 * median,
                "q1": 1e6 * q1,
                "q3": 1e6 * q3,
                "check": found[label].check(steps),
                **found[label].info,
            }
        results[name] = row
    return results


# The ratios the targets name, as (label, numerator, denominator, target).
RATIOS = (
    ("ours Jit / pyro Jit", "ours Jit", "pyro Jit", "<= 0.7"),
    ("ours Jit / hand", "ours Jit", "hand", "<= 1.5 (bb, mix, sbn, wide)"),
    ("ours Jit graph / pyro Jit", "ours Jit graph", "pyro Jit", ""),
    ("ours Jit / Jit graph", "ours Jit", "ours Jit graph", ""),
    ("ours TraceGraph / Trace", "ours TraceGraph", "ours Trace", "<= 1.3"),
    ("ours TraceGraph / hand", "ours TraceGraph", "hand", ""),
    ("ours Trace / hand", "ours Trace", "hand", ""),
    ("pyro TraceGraph / hand", "pyro TraceGraph", "hand", ""),
    ("pyro Jit / hand", "pyro Jit", "hand", ""),
    ("ours TraceGraph / pyro TG", "ours TraceGraph", "pyro TraceGraph", ""),
)


def print_table(results: dict[str, dict[str, dict[str, Any]]]) -> None:
    names = list(results)
    labels = [label for label in VARIANTS if label in results[names[0]]]
    print("median µs per step [interquartile range]")
    print(f"{'variant':17}" + "".join(f"{n:>22}" for n in names))
    for label in labels:
        cells = []
        for n in names:
            r = results[n][label]
            cells.append(f"{r['median']:>9.0f} [{r['q1']:.0f}-{r['q3']:.0f}]")
        print(f"{label:17}" + "".join(f"{c:>22}" for c in cells))
    print()
    print(f"{'ratio (of medians)':28}" + "".join(f"{n:>15}" for n in names) + "  target")
    for text, num, den, target in RATIOS:
        if num in labels and den in labels:
            values = "".join(
                f"{results[n][num]['median'] / results[n][den]['median']:>15.2f}" for n in names
            )
            print(f"{text:28}{values}  {target}")
    problems = [
        f"{n} / {label}: {r['check']}"
        for n, row in results.items()
        for label, r in row.items()
        if r.get("check")
    ]
    for problem in problems:
        print("CHECK FAILED:", problem)


# -- first steps ------------------------------------------------------------------


def first_steps_child(name: str, library: str, count: int) -> dict[str, Any]:
    """In a fresh process: the time of each step on the calling thread.

    Ours runs until its compiled (inductor) step has replayed, without ever
    waiting for the background work (at most :data:`FIRST_STEP_LIMIT_S`), then
    times ``count`` eager steps of the same estimator (dependency tables cached,
    recording off): a step's *stall* is what it took beyond that eager median.
    Pyro runs ``count`` steps (its first is the ``torch.jit.trace``)."""
    _setup()
    if library == "ours":
        elbo = JitTraceGraph_ELBO()
        runner = _ppl_runner(elbo, tracegraph, tg_dist, name)
    else:
        pyro, pyro_dist = _pyro()
        elbo = pyro.infer.JitTraceGraph_ELBO(ignore_jit_warnings=True)
        runner = _ppl_runner(elbo, pyro, pyro_dist, name)
    torch.manual_seed(0)
    out: dict[str, Any] = {"steps_ms": []}
    start = time.perf_counter()
    for i in range(10**6):
        if library != "ours" and i >= count:
            break
        plans = elbo._plans if library == "ours" else []
        compiled_before = bool(plans) and plans[0].compiled is not None
        replays_before = plans[0].replays if plans else 0
        t0 = time.perf_counter()
        runner.step()
        out["steps_ms"].append(1e3 * (time.perf_counter() - t0))
        if library != "ours":
            continue
        plans = elbo._plans
        if plans and "recorded_at" not in out:
            out["recorded_at"] = i
        if plans and plans[0]._thread is not None and "compile_started_at" not in out:
            out["compile_started_at"] = i
        if compiled_before and plans[0].replays > replays_before:
            out["compiled_at"] = i  # this step ran the inductor build
            break
        if time.perf_counter() - start > FIRST_STEP_LIMIT_S:
            break
    out["wall_s"] = time.perf_counter() - start
    if library == "ours":
        out["plans"] = len(elbo._plans)
        # The reference: the same estimator's eager step (dependency tables
        # cached, untracked), with recording switched off.
        reference = JitTraceGraph_ELBO()
        reference._not_compilable = "the eager reference of --first-step"
        eager = _ppl_runner(reference, tracegraph, tg_dist, name)
        eager.step()  # the tracked first step
        times = []
        for _ in range(count):
            t0 = time.perf_counter()
            eager.step()
            times.append(1e3 * (time.perf_counter() - t0))
        out["eager_ms"] = statistics.median(times)
    else:
        out["steady_ms"] = statistics.median(out["steps_ms"][count // 2 :])
    return out


#: How long ``--first-step`` lets our estimator run before giving up on the
#: compiled step.
FIRST_STEP_LIMIT_S = 300.0


def first_steps(names: tuple[str, ...], count: int) -> dict[str, dict[str, Any]]:
    libraries = ["ours"] + (["pyro"] if have_pyro() else [])
    results: dict[str, dict[str, Any]] = {}
    for name in names:
        for library in libraries:
            cmd = [sys.executable, __file__, "--first-step-child", name, library, str(count)]
            done = subprocess.run(cmd, capture_output=True, text=True, check=True)
            results[f"{name}/{library}"] = json.loads(done.stdout.strip().splitlines()[-1])
    return results


def stalls(r: dict[str, Any]) -> tuple[float, float]:
    """``(sum, largest)`` of our steps' times beyond the eager step's median, ms."""
    over = [max(0.0, t - r["eager_ms"]) for t in r["steps_ms"]]
    return sum(over), max(over)


def print_first_steps(results: dict[str, dict[str, Any]]) -> None:
    print(
        "first steps, each (model, library) in a fresh process, ms on the calling thread; "
        "ours: stall = time beyond the median eager step (tables cached), summed over "
        "every step until the compiled step ran"
    )
    for key, r in results.items():
        ms = r["steps_ms"]
        if key.endswith("/ours"):
            total, largest = stalls(r)
            rec, comp, done = (
                r.get(k) for k in ("recorded_at", "compile_started_at", "compiled_at")
            )
            pyro = results.get(key[: -len("ours")] + "pyro")
            ratio = f"  stalls / pyro step 1 {total / pyro['steps_ms'][0]:.2f}" if pyro else ""
            print(
                f"{key:22} step 1 {ms[0]:7.1f}  stalls {total:7.1f} (largest {largest:6.1f})  "
                f"recording #{'-' if rec is None else rec + 1} "
                f"{'-' if rec is None else f'{ms[rec]:.1f}'}  "
                f"compile started #{'-' if comp is None else comp + 1}  "
                f"compiled step #{'-' if done is None else done + 1} after {r['wall_s']:.1f} s  "
                f"eager {r['eager_ms']:.2f}  plans {r['plans']}{ratio}"
            )
        else:
            print(
                f"{key:22} step 1 {ms[0]:7.1f}  step 2 {ms[1]:7.1f}  step 3 {ms[2]:7.1f}  "
                f"steady {r['steady_ms']:.2f}  "
                f"beyond steady {sum(max(0.0, t - r['steady_ms']) for t in ms):.1f}"
            )


# -- memory -----------------------------------------------------------------------


def rss_bytes() -> int:
    """This process's resident set size (``/proc/self/statm``)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def memory_child(name: str, steps: int, marks: tuple[int, ...]) -> dict[str, Any]:
    """RSS of our compiled step after ``marks`` steps (counted after the compile)."""
    _setup()
    runner = _ours_jit_runner(name, inductor=True)
    torch.manual_seed(0)
    for _ in range(30):
        (runner.warm or runner.step)()
    runner.ready()
    out: dict[str, Any] = {"rss_mb": {}}
    for i in range(1, steps + 1):
        runner.step()
        if i in marks:
            out["rss_mb"][i] = rss_bytes() / 2**20
    out["check"] = runner.check(steps)
    return out


def memory(names: tuple[str, ...], steps: int) -> dict[str, dict[str, Any]]:
    results = {}
    for name in names:
        cmd = [sys.executable, __file__, "--memory-child", name, str(steps)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        results[name] = json.loads(done.stdout.strip().splitlines()[-1])
    return results


# -- data for the NumPyro ports ------------------------------------------------------


def export_data(path: Path) -> None:
    """Write every model's data and the belief net's initial weights as JSON
    (``bench_numpyro.py`` runs without torch)."""
    from bench_models import sbn_weights

    found: dict[str, Any] = {
        name: args[0].tolist() for name, (_, _, args) in make_models(tracegraph, tg_dist).items()
    }
    found["sbn_weights"] = {name: w.tolist() for name, w in sbn_weights().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(found))


def mean_loss(names: tuple[str, ...], n: int) -> dict[str, tuple[float, float]]:
    """``{model: (mean, standard error)}`` of ``n`` losses of our ``TraceGraph_ELBO`` at
    the initial params: a port (``bench_numpyro.py --mean-loss``) that computes the
    same ELBO agrees within a few standard errors."""
    _setup()
    torch.manual_seed(0)
    out = {}
    for name in names:
        model, guide, args = make_models(tracegraph, tg_dist)[name]
        elbo = TraceGraph_ELBO()
        with torch.no_grad():
            losses = [elbo.loss(model, guide, *args) for _ in range(n)]
        out[name] = (statistics.fmean(losses), statistics.stdev(losses) / n**0.5)
    return out


# -- profile ------------------------------------------------------------------------


def _median_us(fn: Callable[[], Any], n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e6 * statistics.median(times)


def profile(name: str, n: int) -> None:
    """Where one compiled step's time goes: each part timed alone (median of
    ``n``), the rest is the Python of ``loss_and_grads`` around them."""
    from profile_compiled import print_profile

    _setup()
    print_profile(name, n, _ours_jit_runner, _hand_runner, _median_us)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="measured steps per variant")
    parser.add_argument("--warmup", type=int, default=30, help="unmeasured steps first (>= 12)")
    parser.add_argument("--models", default=",".join(MODEL_NAMES), help="comma-separated")
    parser.add_argument("--variants", default=None, help="comma-separated (default: all)")
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--first-step", action="store_true", help="first-step figures")
    parser.add_argument("--memory", action="store_true", help="RSS over 5,000 compiled steps")
    parser.add_argument("--profile", metavar="MODEL", help="profile one model's compiled step")
    parser.add_argument("--export-data", metavar="PATH", help="write data for bench_numpyro.py")
    parser.add_argument("--mean-loss", type=int, metavar="N", help="mean and SE of N losses")
    parser.add_argument("--first-step-child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--memory-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    names = tuple(args.models.split(","))
    if args.first_step_child:
        name, library, count = args.first_step_child
        print(json.dumps(first_steps_child(name, library, int(count))))
        return
    if args.memory_child:
        name, steps = args.memory_child
        print(json.dumps(memory_child(name, int(steps), (1, 1000, 2000, 3000, 4000, 5000))))
        return
    if args.profile:
        profile(args.profile, args.steps)
        return
    if args.export_data:
        export_data(Path(args.export_data))
        return
    if args.mean_loss:
        print(json.dumps(mean_loss(names, args.mean_loss)))
        return
    if args.first_step:
        results = first_steps(names, 20)
        print_first_steps(results)
    elif args.memory:
        results = memory(names, 5000)
        print("RSS (MB) of our compiled step after N steps (fresh process per model)")
        for name, r in results.items():
            marks = r["rss_mb"]
            grow = marks["5000"] - marks["1000"]
            print(
                f"{name:15}"
                + "".join(f"  {k:>5}: {v:7.1f}" for k, v in marks.items())
                + f"  5000-1000: {grow:+.2f} MB ({1e6 * grow / 4000:+.0f} B/step) {r['check']}"
            )
    else:
        if args.warmup < 12:
            parser.error("--warmup must be at least 12 (the compile starts after 10 replays)")
        labels = tuple(args.variants.split(",")) if args.variants else VARIANTS
        if not have_pyro():
            labels = tuple(label for label in labels if not label.startswith("pyro"))
        results = measure(names, labels, args.steps, args.warmup)
        print(
            f"torch {torch.__version__}, 1 thread; {args.steps} interleaved steps "
            f"after {args.warmup} warm-up steps"
        )
        print_table(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
