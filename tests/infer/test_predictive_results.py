"""CloneMixin and WeighedPredictiveResults."""

import dataclasses

import pytest
import torch

from tracegraph.infer.predictive_results import CloneMixin, WeighedPredictiveResults


def _results(samples):
    log_w = torch.tensor([0.0, 1.0])
    return WeighedPredictiveResults(samples, log_w, torch.zeros(2), torch.ones(2))


@pytest.mark.parametrize("samples", [{"x": torch.ones(2)}, (torch.ones(2), torch.zeros(2))])
def test_weighed_results_clone_copies_every_tensor(samples):
    r = _results(samples)
    c = r.clone()
    assert type(c) is WeighedPredictiveResults and c is not r
    first = c.samples["x"] if isinstance(samples, dict) else c.samples[0]
    first += 1
    assert torch.equal(r.samples["x"] if isinstance(samples, dict) else r.samples[0], torch.ones(2))
    assert torch.equal(c.log_weights, r.log_weights) and c.log_weights is not r.log_weights


def test_weighed_results_are_frozen_and_weighted():
    r = _results({"x": torch.ones(2)})
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.log_weights = torch.zeros(2)  # type: ignore[misc]
    assert torch.allclose(r.get_normalized_weights(), torch.softmax(torch.tensor([0.0, 1.0]), 0))
    assert [f.name for f in dataclasses.fields(r)] == [
        "samples", "log_weights", "guide_log_prob", "model_log_prob"
    ]


def test_clone_mixin_needs_a_dataclass():
    class Plain(CloneMixin):
        pass

    with pytest.raises(TypeError, match="dataclass"):
        Plain().clone()
