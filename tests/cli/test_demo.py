"""Tests of tracegraph.cli.demo, run in-process (the subprocess run is in
tests/test_cli.py), and of the claim the demo makes."""

from __future__ import annotations

import pytest
import torch

import tracegraph
from tracegraph import poutine
from tracegraph.cli import main, models
from tracegraph.cli.demo import _estimators
from tracegraph.cli.measure import gradient_variance


def test_demo_no_plot_runs_and_restores_threads(tmp_path, capsys):
    threads = torch.get_num_threads()
    status = main(["demo", "--steps", "3", "--draws", "3", "--no-plot", "--out", str(tmp_path)])
    assert status == 0
    assert torch.get_num_threads() == threads
    assert (tmp_path / "model.dot").exists() and not (tmp_path / "elbo.png").exists()
    out = capsys.readouterr().out
    assert "score of z_top  Trace_ELBO:       all 5 terms" in out
    assert "TraceGraph_ELBO:  log p(z_top), log p(z_mid), -log q(z_top)" in out
    assert "What this shows:" in out


@pytest.fixture
def one_thread():
    # As the demo does: tiny tensors, and cores shared with other test workers.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_demo_claim_tracegraph_and_leave_one_out_reduce_variance(one_thread):
    # The demo's results table: at the initial guide, TraceGraph_ELBO cuts the
    # variance of q(z_top)'s gradient (measured ~17x), and leave-one-out cuts the
    # total (measured ~5x below TraceGraph_ELBO).  A variance estimate from 100
    # draws is within ~30% (its relative standard error is about sqrt(2/99) for
    # Gaussian gradients, more for heavier tails), so factors of 4 and 2 are safe.
    x = models.make_data(20, seed=0)
    guide_params = poutine.trace(models.guide).get_trace(x).param_nodes
    reports = []
    for label, elbo in _estimators():
        tracegraph.set_rng_seed(0)
        reports.append(
            gradient_variance(label, elbo, models.model, models.guide, (x,), {}, guide_params, 100)
        )
    trace, graph, loo = reports
    top = [sum(v for k, v in r.per_param.items() if k.startswith("top_")) for r in reports]
    assert top[1] < top[0] / 4
    assert loo.total < graph.total / 2 < trace.total / 2
