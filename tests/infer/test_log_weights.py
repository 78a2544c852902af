"""LogWeightsMixin: ESS, log normalizer and normalized weights from any log_weights."""

import math

import pytest
import torch

from tracegraph.errors import TracegraphWarning
from tracegraph.infer.log_weights import LogWeightsMixin


class Weighted(LogWeightsMixin):
    def __init__(self, log_weights):
        self.log_weights = log_weights


@pytest.mark.parametrize(
    "log_weights",
    [
        torch.tensor([0.0, 1.0, 2.0]),
        [0.0, 1.0, 2.0],
        [torch.tensor(0.0), torch.tensor(1.0), torch.tensor(2.0)],
    ],
)
def test_log_weights_summaries_from_tensor_or_list(log_weights):
    w = Weighted(log_weights)
    e = [math.exp(a) for a in (0.0, 1.0, 2.0)]
    assert float(w.get_ESS()) == pytest.approx(sum(e) ** 2 / sum(a * a for a in e), rel=1e-6)
    assert float(w.get_log_normalizer()) == pytest.approx(math.log(sum(e) / 3), rel=1e-6)
    normalized = w.get_normalized_weights()
    assert torch.allclose(normalized, torch.tensor(e) / sum(e))
    assert torch.allclose(w.get_normalized_weights(log_scale=True), normalized.log())


def test_log_weights_two_dimensional_work_along_dim_zero():
    w = Weighted(torch.tensor([[0.0, 1.0], [2.0, 3.0]]))
    assert w.get_ESS().shape == (2,)
    assert torch.allclose(w.get_normalized_weights().sum(0), torch.ones(2))


def test_log_weights_empty_warn_and_return_nothing():
    w = Weighted([])
    with pytest.warns(TracegraphWarning):
        assert w.get_ESS() == 0
    with pytest.warns(TracegraphWarning):
        assert w.get_log_normalizer() is None
    with pytest.warns(TracegraphWarning):
        assert w.get_normalized_weights() is None
