"""Tests of tracegraph.cli.variance, in-process."""

from __future__ import annotations

import re

from tracegraph.cli import main

WITH_BASELINE = """
import torch
import tracegraph
import tracegraph.distributions as dist

def model():
    tracegraph.sample("z", dist.Bernoulli(0.3))

def guide():
    p = tracegraph.param("p", torch.tensor(0.5), constraint=dist.constraints.unit_interval)
    tracegraph.sample("z", dist.Bernoulli(p), infer={"baseline": {"baseline_value": 0.5}})

def gaussian_model():
    tracegraph.sample("z", dist.Normal(0.0, 1.0))

def gaussian_guide():
    loc = tracegraph.param("loc", torch.tensor(0.0))
    tracegraph.sample("z", dist.Normal(loc, 1.0))

def other_guide():
    loc = tracegraph.param("loc", torch.tensor(0.0))
    tracegraph.sample("w", dist.Normal(loc, 1.0))

def no_params():
    tracegraph.sample("z", dist.Bernoulli(0.5))
"""


def test_variance_guide_with_own_baselines_gets_its_own_row(tmp_path, capsys):
    path = tmp_path / "m.py"
    path.write_text(WITH_BASELINE)
    assert main(["variance", str(path), str(path), "--draws", "4", "--warmup", "1"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^TraceGraph_ELBO \+ the guide's baselines +1 ", out, re.MULTILINE)
    assert "non-reparameterized guide sites (score-function gradients): z" in out


def test_variance_reparameterized_guide_says_estimators_agree(tmp_path, capsys):
    path = tmp_path / "m.py"
    path.write_text(WITH_BASELINE)
    spec = [f"{path}:gaussian_model", f"{path}:gaussian_guide", "--draws", "3", "--warmup", "0"]
    assert main(["variance", *spec]) == 0
    assert "the guide has no non-reparameterized sites" in capsys.readouterr().out


def test_variance_guide_without_params_is_an_error(tmp_path, capsys):
    path = tmp_path / "m.py"
    path.write_text(WITH_BASELINE)
    assert main(["variance", f"{path}:model", f"{path}:no_params"]) == 1
    assert "the guide 'no_params' has no params" in capsys.readouterr().err


def test_variance_mismatched_model_and_guide_is_an_error(tmp_path, capsys):
    path = tmp_path / "m.py"
    path.write_text(WITH_BASELINE)
    assert main(["variance", f"{path}:gaussian_model", f"{path}:other_guide"]) == 1
    err = capsys.readouterr().err
    assert "raised UserWarning: latent sites in the model but not in the guide: ['z']" in err
    assert len(err.strip().splitlines()) == 1


def test_variance_bernoulli_guide_lists_the_new_estimators(tmp_path, capsys):
    # A Bernoulli site gets the DisARM row (2 runs: the pair) and the biased
    # Gumbel-softmax row, and every guide the VIMCO row at K particles.
    path = tmp_path / "m.py"
    path.write_text(WITH_BASELINE)
    spec = [f"{path}:model", f"{path}:guide", "--draws", "4", "--warmup", "1"]
    assert main(["variance", *spec]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^TraceGraph_ELBO, DisARM +2 ", out, re.MULTILINE)
    assert re.search(r"^TraceGraph_ELBO, Gumbel straight-through \(BIASED\) +1 ", out, re.MULTILINE)
    assert re.search(r"^VIMCO \(K-sample bound\) +\d+ ", out, re.MULTILINE)
    assert "lowest per run:" in out and "BIASED) (" not in out.split("lowest per run:")[1]


def test_variance_gaussian_guide_has_no_disarm_row(tmp_path, capsys):
    path = tmp_path / "m.py"
    path.write_text(WITH_BASELINE)
    spec = [f"{path}:gaussian_model", f"{path}:gaussian_guide", "--draws", "3", "--warmup", "0"]
    assert main(["variance", *spec]) == 0
    out = capsys.readouterr().out
    assert "DisARM" not in out and "Gumbel" not in out
