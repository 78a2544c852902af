"""The command line, run as a user runs it: ``python -m tracegraph ...`` in a
subprocess.  Every command's normal output and an error path of each (one line
on stderr, non-zero exit, no traceback) are checked here; each subprocess pays
for importing torch, so the other error paths are tested in-process in
``tests/cli/``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MIXTURE = ROOT / "examples" / "mixture.py"
DATA = "[[-2.1, -1.5, 2.2, 1.9, 2.5, -2.4]]"

USER_FILE = """
import torch
import tracegraph
import tracegraph.distributions as dist

scale = 2.0

def model(data):
    raise ValueError("the model is broken")

def guide(data):
    tracegraph.param("p", torch.tensor(0.5))
"""


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    # One thread: the subprocess shares the cores with the test runner's workers.
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-m", "tracegraph", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], command: str, text: str):
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"tracegraph {command}: error: ")
    assert text in lines[0]
    assert "Traceback" not in proc.stderr


@pytest.fixture
def user_file(tmp_path: Path) -> Path:
    path = tmp_path / "user_model.py"
    path.write_text(USER_FILE)
    return path


def test_cli_demo_prints_four_parts_and_writes_files(tmp_path):
    out = tmp_path / "demo"
    proc = run("demo", "--steps", "6", "--draws", "3", "--seed", "1", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    for heading in (
        "== 1. The execution trace of one run",
        "== 2. The dependency graph",
        "== 3. Training with three gradient estimators",
        "== 4. Results",
    ):
        assert heading in text
    assert "Trace Shapes:" in text and "log-prob's provenance" in text  # part 1
    assert "x depends on {a}" in text  # control-flow provenance
    assert "digraph {" in text and "z_top -> z_mid" in text  # part 2
    for estimator in ("Trace_ELBO", "TraceGraph_ELBO", "TraceGraph_ELBO + leave-one-out"):
        assert f"\n{estimator} " in text  # a row of the results table
    assert "exact log p(data)" in text
    assert str(out.resolve()) in text  # it names its output folder
    assert (out / "model.dot").read_text().startswith("digraph")
    assert (out / "elbo.png").read_bytes()[:4] == b"\x89PNG"
    # The progress bars (stderr) show the step and the ELBO.
    assert "6/6" in proc.stderr and "elbo=" in proc.stderr


def test_cli_demo_unwritable_out_is_one_line_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    proc = run("demo", "--steps", "2", "--out", str(blocker / "sub"))
    assert "Trace Shapes" not in proc.stdout  # it stopped before doing any work
    assert_one_line_error(proc, "demo", "cannot create the output folder")


def test_cli_graph_writes_dot_and_prints_shapes(tmp_path):
    proc = run("graph", f"{MIXTURE}:model", "--args", DATA, "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "Trace Shapes of model:" in proc.stdout
    assert any(line.split() == ["value", "6", "|"] for line in proc.stdout.splitlines())
    assert "x <- z" in proc.stdout and "z ~ x" in proc.stdout
    prior = (tmp_path / "model.dot").read_text()
    assert "subgraph cluster_data" in prior and "z -> x" in prior
    assert "z -> x [dir=none]" in (tmp_path / "model-posterior.dot").read_text()


def test_cli_graph_model_that_raises_is_one_line_error(user_file):
    proc = run("graph", f"{user_file}:model", "--args", "[1.0]")
    assert_one_line_error(proc, "graph", "the model 'model' raised ValueError: the model is broken")


def test_cli_variance_reports_each_estimator():
    proc = run(
        "variance",
        f"{MIXTURE}:model",
        f"{MIXTURE}:guide",
        "--args",
        DATA,
        "--draws",
        "5",
        "--warmup",
        "2",
        "--particles",
        "3",
    )
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    for label, runs in (
        ("Trace_ELBO", 1),
        ("TraceGraph_ELBO", 1),
        ("TraceGraph_ELBO + decaying average (0.9)", 1),
        ("Trace_ELBO", 3),
        ("TraceGraph_ELBO + leave-one-out", 3),
        ("VIMCO (K-sample bound)", 3),
    ):
        assert re.search(rf"^{re.escape(label)} +{runs} ", text, re.MULTILINE), label
    assert "ms/step" in text and "assignment_probs" in text


def test_cli_variance_name_that_is_not_a_function_is_one_line_error(user_file):
    proc = run("variance", f"{user_file}:scale", f"{user_file}:guide", "--args", "[1.0]")
    assert_one_line_error(proc, "variance", "'scale' in")
    assert "is a float, not a function" in proc.stderr


def test_cli_help_lists_every_command():
    # The console script when it is installed next to this python, else -m.
    script = Path(sys.executable).parent / "tracegraph"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "tracegraph"]
    proc = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for name in ("demo", "graph", "variance"):
        assert name in proc.stdout
