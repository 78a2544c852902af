"""TracePredictive: deprecated posterior-predictive traces, resampled to new data."""

import warnings

import pytest
import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph.infer import Importance
from tracegraph.infer.trace_predictive import TracePredictive


def _plated_model(data):
    z = tracegraph.sample("z", dist.Normal(0.0, 1.0))
    with tracegraph.plate("data", len(data)):
        loc = tracegraph.sample("loc", dist.Normal(z, 1.0))
        tracegraph.sample("x", dist.Normal(loc, 1.0), obs=data)
    return loc


def test_trace_predictive_is_deprecated_and_resamples_plated_values():
    posterior = Importance(_plated_model, num_samples=3).run(torch.tensor([0.3, 0.8, 1.1]))
    with pytest.warns(FutureWarning, match="deprecated"):
        predictive = TracePredictive(_plated_model, posterior, num_samples=4)
    predictive.run(torch.zeros(5))
    assert len(predictive.exec_traces) == 4
    for tr in predictive.exec_traces:
        z = tr.nodes["z"]["value"]
        source = next(t for t in posterior.exec_traces if t.nodes["z"]["value"] is z)
        # Each of the 5 new loc values is one of the 3 posterior values.
        old = source.nodes["loc"]["value"]
        assert all(bool((v == old).any()) for v in tr.nodes["loc"]["value"])
        assert torch.equal(tr.nodes["x"]["value"], torch.zeros(5))
    assert predictive.marginal().support()["_RETURN"].shape == (4, 5)


def test_trace_predictive_keep_sites_resamples_the_others():
    posterior = Importance(_plated_model, num_samples=2).run(torch.tensor([0.3]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        predictive = TracePredictive(_plated_model, posterior, num_samples=3, keep_sites=["z"])
    predictive.run(torch.tensor([0.3]))
    olds = [t.nodes["loc"]["value"] for t in posterior.exec_traces]
    for tr in predictive.exec_traces:
        assert not any(tr.nodes["loc"]["value"] is o for o in olds)
        assert any(tr.nodes["z"]["value"] is t.nodes["z"]["value"] for t in posterior.exec_traces)
