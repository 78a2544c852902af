"""Per-op cost of provenance tracking: plain vs tracked (vs Pyro's, if installed).

Run ``python benchmarks/bench_provenance.py [--number N] [--repeat R]``.

Each op is timed with :mod:`timeit` on a plain tensor, on a tracegraph
``ProvenanceTensor`` and, when ``pyro`` is importable, on Pyro's
``ProvenanceTensor``.  The measurements are interleaved (one repeat of each
variant in turn) so that all of them see the same machine load, and the
minimum over repeats is reported (the least disturbed run).
"""

from __future__ import annotations

import argparse
import importlib.util
import timeit
from collections.abc import Callable
from typing import Any

import torch

from tracegraph.ops.provenance import track_provenance

# (label, statement, operands): ``a``/``b`` are size-10 vectors, ``m`` a 4x4 matrix.
OPS = [
    ("add      a + b", "a + b"),
    ("mul      a * b", "a * b"),
    ("exp      a.exp()", "a.exp()"),
    ("index    a[0]", "a[0]"),
    ("matmul   m @ m (4x4)", "m @ m"),
    (".shape   a.shape", "a.shape"),
    # not in the fast-method list: through PyTorch's __torch_function__ protocol
    ("torch.add(a, b)", "torch.add(a, b)"),
    ("a.sum(dim=0)", "a.sum(dim=0)"),
]


def _variants() -> dict[str, Callable[[torch.Tensor, str], Any]]:
    variants: dict[str, Callable[[torch.Tensor, str], Any]] = {
        "plain": lambda t, name: t,
        "tracegraph": lambda t, name: track_provenance(t, frozenset({name})),
    }
    if importlib.util.find_spec("pyro") is not None:
        from pyro.ops.provenance import ProvenanceTensor as PyroProvenanceTensor

        variants["pyro"] = lambda t, name: PyroProvenanceTensor(t, frozenset({name}))
    return variants


def measure(number: int, repeat: int) -> dict[str, dict[str, float]]:
    """Return ``{op label: {variant: seconds per call}}`` (min over repeats)."""
    torch.manual_seed(0)
    a0, b0, m0 = torch.randn(10), torch.randn(10), torch.randn(4, 4)
    variants = _variants()
    namespaces = {
        name: {"a": make(a0, "a"), "b": make(b0, "b"), "m": make(m0, "m"), "torch": torch}
        for name, make in variants.items()
    }
    results: dict[str, dict[str, float]] = {}
    for label, stmt in OPS:
        timers = {name: timeit.Timer(stmt, globals=ns) for name, ns in namespaces.items()}
        for timer in timers.values():
            timer.timeit(number // 10 + 1)  # warm up caches and lazy attributes
        best = {name: float("inf") for name in timers}
        for _ in range(repeat):
            for name, timer in timers.items():  # interleaved: same load for all
                best[name] = min(best[name], timer.timeit(number) / number)
        results[label] = best
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=20000, help="calls per repeat")
    parser.add_argument("--repeat", type=int, default=15, help="repeats (min is reported)")
    args = parser.parse_args(argv)
    results = measure(args.number, args.repeat)
    has_pyro = "pyro" in next(iter(results.values()))
    header = f"{'op':24} {'plain us':>9} {'tracked us':>10} {'ratio':>6}"
    if has_pyro:
        header += f" {'pyro us':>9} {'pyro ratio':>10}"
    print(f"torch {torch.__version__}; min of {args.repeat} repeats x {args.number} calls")
    print(header)
    print("-" * len(header))
    for label, times in results.items():
        plain, tracked = times["plain"], times["tracegraph"]
        line = f"{label:24} {plain * 1e6:9.3f} {tracked * 1e6:10.3f} {tracked / plain:5.1f}x"
        if has_pyro:
            line += f" {times['pyro'] * 1e6:9.3f} {times['pyro'] / plain:9.1f}x"
        print(line)
    if not has_pyro:
        print("pyro is not installed: Pyro's ProvenanceTensor was not measured")


if __name__ == "__main__":
    main()
