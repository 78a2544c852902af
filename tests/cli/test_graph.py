"""Tests of tracegraph.cli.graph, in-process."""

from __future__ import annotations

import shutil

import pytest

from tracegraph.cli import main
from tracegraph.cli.graph import check_call, posterior_graph
from tracegraph.cli.loading import CliError

PLATED = """
import torch
import tracegraph
import tracegraph.distributions as dist

def model(n):
    with tracegraph.plate("p", n):
        a = tracegraph.sample("a", dist.Normal(0.0, 1.0))
    tracegraph.sample("b", dist.Normal(a.sum(), 1.0), obs=torch.tensor(0.0))
"""


def test_graph_plated_model_posterior_coupling_in_plate(tmp_path, capsys):
    path = tmp_path / "m.py"
    path.write_text(PLATED)
    assert main(["graph", str(path), "--args", "[3]", "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "b <- a" in out and "a ~ a [all-to-all in p], b" in out
    posterior = (tmp_path / "out" / "model-posterior.dot").read_text()
    assert "a -> a [dir=none label=p]" in posterior and "subgraph cluster_p" in posterior


def test_graph_missing_args_names_the_signature(tmp_path, capsys):
    path = tmp_path / "m.py"
    path.write_text(PLATED)
    assert main(["graph", str(path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("tracegraph graph: error: model(n) cannot be called with no --args")
    assert len(err.splitlines()) == 1


def test_check_call_accepts_matching_arguments():
    def model(a, b=1, *, c):
        pass

    check_call(model, "model", (1,), {"c": 2})
    with pytest.raises(CliError, match=r"model\(a, b=1, \*, c\) cannot be called with the --args"):
        check_call(model, "model", (1, 2, 3), {})


def test_posterior_graph_quotes_odd_site_names():
    relations = {"sample_sample": {"a:b": [], "c d": ["a:b"]}, "plate_sample": {}, "observed": []}
    source = posterior_graph(relations, {"a:b": {"a:b": set(), "c d": set()}}).source
    assert '"a:b" -> "c d" [dir=none]' in source


def test_graph_without_dot_writes_dot_only_and_says_so(tmp_path, capsys, monkeypatch):
    path = tmp_path / "m.py"
    path.write_text(PLATED)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert main(["graph", str(path), "--args", "[2]", "--out", str(tmp_path / "out")]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "model-posterior.dot",
        "model.dot",
    ]
    assert "Graphviz's `dot` program is not installed" in capsys.readouterr().out
