"""Our compiled step against NumPyro's jitted TraceGraph_ELBO step, alternating.

Run from the repository root with the torch environment's Python (it runs the
NumPyro side with ``--numpyro-python``, the environment of
``bash scripts/bench_env.sh numpyro``)::

    python benchmarks/bench_vs_numpyro.py [--rounds 5] [--core 0] [--steps 300]

Each round runs ``bench_compiled.py`` (variants ``--variants``, default our
compiled step and the hand-written floor) and ``bench_numpyro.py`` as
subprocesses, one after the other, each pinned to the same core with
``taskset`` (the order alternates between rounds, so neither always runs first
on a warming machine).  Every subprocess reports per-model medians; the table
gives, per model, the median over rounds of each side's median, the ratio
ours/NumPyro as the median of the per-round ratios, and its spread (lowest and
highest round).  NumPyro's compile times are printed too.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _run(cmd: list[str], core: int | None) -> None:
    if core is not None and shutil.which("taskset"):
        cmd = ["taskset", "-c", str(core), *cmd]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def print_table(
    labels: list[str], ours: list[dict], theirs: list[dict], rounds: int, core: int
) -> None:
    """Per model: each side's median µs (median over rounds) and ours/NumPyro (the
    median of the per-round ratios, [lowest-highest round])."""
    print(f"{rounds} rounds, each side pinned to core {core}; µs per step, median of rounds")
    ratio_heads = "".join(f"{label + ' / NumPyro':>28}" for label in labels)
    value_heads = "".join(f"{label:>12}" for label in labels)
    print(f"{'model':16}{value_heads}{'NumPyro':>12}{ratio_heads}{'NumPyro compile s':>20}")
    for name in theirs[0]:
        values, ratios = "", ""
        for label in labels:
            values += f"{statistics.median(o[name][label]['median'] for o in ours):>12.0f}"
            per_round = [o[name][label]["median"] / t[name]["median"] for o, t in zip(ours, theirs)]
            spread = (
                f"{statistics.median(per_round):.2f} [{min(per_round):.2f}-{max(per_round):.2f}]"
            )
            ratios += f"{spread:>28}"
        numpyro = statistics.median(t[name]["median"] for t in theirs)
        compile_s = statistics.median(t[name]["compile_s"] for t in theirs)
        print(f"{name:16}{values}{numpyro:>12.0f}{ratios}{compile_s:>20.2f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=300, help="measured steps per run")
    parser.add_argument("--core", type=int, default=0, help="CPU core to pin both sides to")
    parser.add_argument("--models", default=None, help="comma-separated (default: all six)")
    parser.add_argument("--variants", default="ours Jit,hand", help="torch-side variants")
    parser.add_argument("--numpyro-python", default=".venv-numpyro/bin/python")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-vs-numpyro-"))
    data = work / "data.json"
    subprocess.run(
        [sys.executable, str(HERE / "bench_compiled.py"), "--export-data", str(data)], check=True
    )
    models = ["--models", args.models] if args.models else []
    ours: list[dict[str, Any]] = []
    theirs: list[dict[str, Any]] = []
    for r in range(args.rounds):
        torch_json, numpyro_json = work / f"torch{r}.json", work / f"numpyro{r}.json"
        torch_cmd = [
            sys.executable,
            str(HERE / "bench_compiled.py"),
            "--variants",
            args.variants,
            "--steps",
            str(args.steps),
            "--json",
            str(torch_json),
            *models,
        ]
        numpyro_cmd = [
            args.numpyro_python,
            str(HERE / "bench_numpyro.py"),
            "--data",
            str(data),
            "--steps",
            str(args.steps),
            "--json",
            str(numpyro_json),
            *models,
        ]
        pair = [torch_cmd, numpyro_cmd] if r % 2 == 0 else [numpyro_cmd, torch_cmd]
        for cmd in pair:
            _run(cmd, args.core)
        ours.append(json.loads(torch_json.read_text()))
        theirs.append(json.loads(numpyro_json.read_text()))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    print_table(args.variants.split(","), ours, theirs, args.rounds, args.core)
    print(f"(raw results in {work})")


if __name__ == "__main__":
    main()
