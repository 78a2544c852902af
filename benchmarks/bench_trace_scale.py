"""Time and memory of tracing a long chain with ``graph_type="provenance"``.

Run ``python benchmarks/bench_trace_scale.py [--sizes 2000 5000 10000 20000]``.

The model is a chain ``z_i ~ Normal(z_{i-1}, 1)`` of ``n`` sample sites.  Each
size and mode runs in a fresh subprocess, which reports the wall time of
``poutine.trace(chain, graph_type=...).get_trace(n)``, the Python heap the
finished trace holds (``tracemalloc``, a second run) and the growth of the
process's peak resident memory (``ru_maxrss``) over the trace (the first run),
so that torch's own allocations count too.  Modes: ``flat`` (no edges: the
floor), ``provenance`` (direct edges, the default) and ``transitive`` (values
tagged transitively and one edge per transitive dependency, as before direct
edges: quadratic, so it only runs up to ``--transitive-max`` sites).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import tracemalloc
from typing import Any

import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph import poutine
from tracegraph.poutine.provenance_messenger import TrackProvenanceMessenger, site_dependencies


def chain(n: int) -> torch.Tensor:
    """``n`` sites, each drawn around the last."""
    z = torch.tensor(0.0)
    for i in range(n):
        z = tracegraph.sample(f"z{i}", dist.Normal(z, 1.0))
    return z


def _trace(n: int, mode: str) -> Any:
    if mode != "transitive":
        return poutine.trace(chain, graph_type=mode).get_trace(n)
    with TrackProvenanceMessenger("latent"):
        tr = poutine.trace(chain).get_trace(n)
    for name, site in tr.nodes.items():
        if site["type"] == "sample":
            for dep in site_dependencies(site):
                if dep != name:
                    tr.add_edge(dep, name)
    return tr


def measure_one(n: int, mode: str) -> dict[str, float]:
    """Measure one size and mode in this process (see the module docstring)."""
    torch.set_num_threads(1)
    _trace(10, mode)  # warm up lazy imports and caches
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    tr = _trace(n, mode)
    seconds = time.perf_counter() - start
    rss_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    edges = sum(1 for _ in tr.edges)
    del tr
    tracemalloc.start()
    held = _trace(n, mode)  # what the finished trace holds
    heap_mb = tracemalloc.get_traced_memory()[0] / 1e6
    tracemalloc.stop()
    del held
    return {"seconds": seconds, "rss_mb": rss_mb, "heap_mb": heap_mb, "edges": edges}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 5000, 10000, 20000])
    parser.add_argument("--transitive-max", type=int, default=2000)
    parser.add_argument("--one", nargs=2, metavar=("N", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure_one(int(args.one[0]), args.one[1])))
        return
    print(
        f"{'sites':>6} {'mode':>11} {'seconds':>8} {'us/site':>8} {'RSS MB':>7} "
        f"{'heap MB':>8} {'edges':>9}"
    )
    for n in args.sizes:
        for mode in ("flat", "provenance", "transitive"):
            if mode == "transitive" and n > args.transitive_max:
                continue
            out = subprocess.run(
                [sys.executable, __file__, "--one", str(n), mode],
                capture_output=True,
                text=True,
                check=True,
            )
            r = json.loads(out.stdout)
            print(
                f"{n:>6} {mode:>11} {r['seconds']:>8.2f} {1e6 * r['seconds'] / n:>8.0f} "
                f"{r['rss_mb']:>7.0f} {r['heap_mb']:>8.1f} {r['edges']:>9.0f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
