"""get_importance_trace: replayed model, pruned subsample sites, scores, checks."""

import pytest
import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph.errors import ShapeError
from tracegraph.infer.importance_trace import get_importance_trace


def model():
    g = tracegraph.sample("g", dist.Normal(0.0, 1.0))
    with tracegraph.plate("p", 4, subsample_size=2):
        tracegraph.sample("x", dist.Normal(g, 1.0), obs=torch.zeros(2))


def guide():
    loc = tracegraph.param("loc", torch.tensor(0.0))
    tracegraph.sample("g", dist.Normal(loc, 1.0))


def test_get_importance_trace_replays_prunes_and_scores():
    model_trace, guide_trace = get_importance_trace("flat", 1, model, guide, (), {})
    assert list(model_trace.nodes) == ["_INPUT", "g", "x", "_RETURN"]  # "p" pruned
    assert model_trace.nodes["g"]["value"] is guide_trace.nodes["g"]["value"]
    assert "log_prob" in model_trace.nodes["x"] and "score_parts" in guide_trace.nodes["g"]
    assert guide_trace.nodes["g"]["value"].requires_grad


def test_get_importance_trace_detach_cuts_the_guide_values():
    model_trace, guide_trace = get_importance_trace("dense", 1, model, guide, (), {}, detach=True)
    assert not guide_trace.nodes["g"]["value"].requires_grad
    assert guide_trace.nodes["loc"]["value"].requires_grad  # params stay attached
    assert ("g", "x") in set(model_trace.edges)


def test_get_importance_trace_checks_log_prob_shapes_under_validation():
    def batched():
        tracegraph.sample("x", dist.Normal(torch.zeros(3), 1.0))

    with pytest.raises(ShapeError, match="site 'x'"):
        get_importance_trace("flat", 1, batched, batched, (), {})
    get_importance_trace("flat", 0, batched, batched, (), {})  # no plate dims checked
    tracegraph.enable_validation(False)
    get_importance_trace("flat", 1, batched, batched, (), {})
