"""Smoke test of benchmarks/bench_provenance.py (the numbers themselves are not tested)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_provenance.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_provenance", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_prints_a_row_per_op_with_ratios(capsys: pytest.CaptureFixture[str]) -> None:
    bench = load_bench()
    bench.main(["--number", "20", "--repeat", "2"])
    out = capsys.readouterr().out
    for label, _ in bench.OPS:
        line = next(row for row in out.splitlines() if row.startswith(label))
        assert line.rstrip().endswith("x")
    assert "pyro" in out


def test_bench_measures_plain_and_tracked_side_by_side() -> None:
    results = load_bench().measure(number=10, repeat=1)
    for times in results.values():
        assert {"plain", "tracegraph"} <= set(times)
        assert all(0 < t < 1 for t in times.values())
