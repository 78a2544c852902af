"""Smoke test of ``benchmarks/bench_estimators.py --quick`` on random images (the
benchmark's figures come from the real run; this checks that the script runs,
measures every estimator and writes its table, curves and plot)."""

from __future__ import annotations

import csv
import gzip
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import bench_estimators  # noqa: E402

ROWS = ["REINFORCE", "RB score + avg", "leave-one-out", "DisARM", "VIMCO (K=4)", "Pyro TraceGraph"]


def test_bench_estimators_quick_writes_table_curves_and_plot(tmp_path, capsys):
    pyro = pytest.importorskip("pyro")  # the dev environment has it: the Pyro row is checked
    before = pyro.distributions.is_validation_enabled()
    bench_estimators.main(["--quick", "--synthetic", "--out", str(tmp_path)])
    # Validation was off for the measurement only (other tests read Pyro's flag).
    assert pyro.distributions.is_validation_enabled() == before
    out = capsys.readouterr().out
    table = out.split("4 model evaluations per step\n")[1]
    for name in ROWS:
        assert any(line.startswith(name) for line in table.splitlines()), name
    assert "Pyro TraceGraph_ELBO's final test bound" in out
    with (tmp_path / "bench_estimators.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert {r["estimator"] for r in rows} == set(ROWS)
    # 40 training steps and 5 test checkpoints (0, 10, ..., 40) per estimator.
    assert sum(r["kind"] == "train" for r in rows) == 40 * len(ROWS)
    assert sum(r["kind"] == "test" for r in rows) == 5 * len(ROWS)
    assert (tmp_path / "bench_estimators.png").stat().st_size > 10_000


def test_bench_estimators_digits_file_is_checked(tmp_path):
    bad = tmp_path / "digits.csv.gz"
    with gzip.open(bad, "wt") as f:
        f.write("1,2,3\n")
    with pytest.raises(SystemExit, match="expected 1797 rows"):
        bench_estimators.digits(bad)
