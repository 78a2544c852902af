"""The end-of-step average: gradients over all ranks, baselines over the ranks
that updated them, layouts reconciled or refused with the culprit named."""

from __future__ import annotations

import pytest
import torch

import tracegraph
from tracegraph.errors import DistributedError
from tracegraph.infer.distributed import buckets
from tracegraph.infer.distributed.averaging import _union, average_losses, average_step
from tracegraph.infer.distributed.protocol import Channel


def _store_params():
    store = tracegraph.get_param_store()
    store["w"] = torch.zeros(2)
    store["v"] = torch.zeros(1)
    w, v = store["w"].unconstrained(), store["v"].unconstrained()
    w.grad = torch.tensor([1.0, -2.0])
    return store, w, v


def test_averaging_one_rank_leaves_everything_as_it_is(one_rank):
    store, w, v = _store_params()
    losses, stepped = average_step(Channel(10.0), 1, {"w": w, "v": v}, {}, [2.5, 1.0])
    assert losses == [2.5, 1.0] and w.grad.tolist() == [1.0, -2.0] and v.grad is None
    assert len(stepped) == 1 and stepped[0] is w


def test_averaging_arithmetic_as_one_of_two_ranks(one_rank, monkeypatch):
    # The collective runs on the one real rank (its sum is this rank's values);
    # the arithmetic after it is that of a rank of two whose peer sent zeros.
    monkeypatch.setattr(buckets, "_world_size", lambda group: 2)
    channel = Channel(10.0)
    channel.world_size = 2
    monkeypatch.setattr(channel, "agree", lambda *args: True)
    store, w, v = _store_params()
    key = "__baseline_avg_downstream_cost_z"
    baselines = {key: torch.tensor(4.0)}
    losses, stepped = average_step(channel, 1, {"w": w, "v": v}, baselines, [2.5, 1.0])
    assert losses == [1.25, 0.5] and len(stepped) == 1 and stepped[0] is w
    assert w.grad.tolist() == [0.5, -1.0]  # the sum over ranks over 2 ranks
    assert v.grad is None  # no rank had one: no optimizer state will be made
    assert store[key].item() == 4.0  # the sum over the 1 rank that updated it


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


def test_averaging_inline_payload_of_one_rank(one_rank, monkeypatch):
    # The numbers ride in the header: the rows' sum comes back into the tensors.
    monkeypatch.setattr(buckets, "_world_size", lambda group: 2)
    channel = Channel(10.0, inline_bytes=1024)
    store, w, v = _store_params()
    real_agree = channel.agree

    def as_one_of_two(*args):
        channel.world_size = 1  # the real exchange, of one rank
        same = real_agree(*args)
        channel.world_size = 2  # then the arithmetic of two, the peer sending zeros
        channel.payloads = [channel.payloads[0], torch.zeros_like(channel.payloads[0])]
        return same

    monkeypatch.setattr(channel, "agree", as_one_of_two)
    channel.world_size = 2
    losses, stepped = average_step(channel, 1, {"w": w, "v": v}, {}, [3.0])
    assert losses == [1.5] and w.grad.tolist() == [0.5, -1.0] and v.grad is None
