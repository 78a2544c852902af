"""The end-of-step average: gradients over all ranks, baselines over the ranks
that updated them, layouts reconciled or refused with the culprit named."""

from __future__ import annotations

import pytest
import torch

import tracegraph
from tracegraph.errors import DistributedError
from tracegraph.infer.distributed.averaging import _union, average_losses, average_step
from tracegraph.infer.distributed.protocol import Channel


def test_averaging_one_rank_keeps_gradients_and_installs_baselines(one_rank):
    store = tracegraph.get_param_store()
    store["w"] = torch.zeros(2)
    store["v"] = torch.zeros(1)
    w, v = store["w"].unconstrained(), store["v"].unconstrained()
    w.grad = torch.tensor([1.0, -2.0])
    avg = torch.tensor(4.0)
    losses = average_step(
        Channel(10.0), 1, {"w": w, "v": v}, {"__baseline_avg_downstream_cost_z": avg}, [2.5, 1.0]
    )
    assert losses == [2.5, 1.0]
    assert w.grad.tolist() == [1.0, -2.0]
    assert v.grad is None  # no rank had one: no optimizer state will be made
    assert store["__baseline_avg_downstream_cost_z"].item() == 4.0


def test_averaging_losses_of_one_rank(one_rank):
    assert average_losses(Channel(10.0), 3, [1.25]) == [1.25]


def test_averaging_union_of_layouts_keeps_every_entry_once():
    a = ([("grad", "w", (2,), "torch.float32")], 1)
    b = (
        [
            ("grad", "w", (2,), "torch.float32"),
            ("grad", "u", (), "torch.float32"),
            ("avg", "__baseline_avg_downstream_cost_z", (), "torch.float32"),
        ],
        1,
    )
    assert _union([a, b]) == [
        ("grad", "u", (), "torch.float32"),
        ("grad", "w", (2,), "torch.float32"),
        ("avg", "__baseline_avg_downstream_cost_z", (), "torch.float32"),
    ]


def test_averaging_union_refuses_two_shapes_naming_param_and_ranks():
    a = ([("grad", "w", (2,), "torch.float32")], 1)
    b = ([("grad", "w", (3,), "torch.float32")], 1)
    with pytest.raises(
        DistributedError, match=r"param 'w' has shape \(2,\).*rank 0 but \(3,\).*rank 1"
    ):
        _union([a, b])


def test_averaging_union_refuses_different_loss_arity():
    with pytest.raises(DistributedError, match="different numbers of terms"):
        _union([([], 1), ([], 2)])
