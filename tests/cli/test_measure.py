"""Tests of tracegraph.cli.measure: gradient variance against an analytic value."""

from __future__ import annotations

import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph.cli.measure import format_table, gradient_variance
from tracegraph.infer import Trace_ELBO

SCALE = 0.5


def model():
    tracegraph.sample("z", dist.Normal(0.0, 1.0))


def guide():
    loc = tracegraph.param("loc", torch.tensor(1.0))
    tracegraph.sample("z", dist.Normal(loc, SCALE))


def test_gradient_variance_matches_analytic_value():
    # z = loc + SCALE * eps; d(-ELBO)/dloc = z (log q is location-invariant), so the
    # gradient's variance is SCALE**2 = 0.25.  The sample variance of n Gaussian
    # draws has standard error 0.25 * sqrt(2 / (n - 1)) = 0.0125 at n = 801; 4 SE.
    guide()
    report = gradient_variance("t", Trace_ELBO(), model, guide, (), {}, ["loc"], 801)
    assert abs(report.per_param["loc"] - SCALE**2) < 4 * 0.0125
    assert report.total == report.per_param["loc"] and report.particles == 1
    assert report.seconds_per_step > 0
    # ELBO = E[log p - log q] = -KL(N(1, .5) || N(0, 1)) = -(log 2 + (.25 + 1) / 2 - .5)
    expected = -(torch.log(torch.tensor(2.0)).item() + 0.625 - 0.5)
    assert abs(report.mean_elbo - expected) < 0.1


def test_gradient_variance_leaves_params_alone_and_runs_warmup():
    guide()
    before = tracegraph.param("loc").item()
    losses: list[torch.Tensor] = []
    gradient_variance(
        "t", Trace_ELBO(), model, guide, (), {}, ["loc"], 3, warmup=4, before_draw=losses.append
    )
    assert tracegraph.param("loc").item() == before and len(losses) == 4
    assert all(p.grad is None for _, p in tracegraph.get_param_store().named_parameters())


def test_gradient_variance_param_without_gradient_is_zero():
    tracegraph.param("unused", torch.ones(3))
    guide()
    report = gradient_variance("t", Trace_ELBO(), model, guide, (), {}, ["unused", "loc"], 5)
    assert report.per_param["unused"] == 0.0 and report.per_param["loc"] > 0


def test_format_table_aligns_columns():
    text = format_table(["name", "value"], [["a", "1"], ["long name", "22.5"]])
    assert text.splitlines() == [
        "name       value",
        "---------  -----",
        "a              1",
        "long name   22.5",
    ]
