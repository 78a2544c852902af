"""Bucketed collectives: the plan groups by device and dtype under a size cap,
and values come back where they were (one rank: the sum is the value)."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist

from tracegraph.infer.distributed import buckets
from tracegraph.infer.distributed.buckets import all_reduce_sum, broadcast_from_zero, plan_buckets


def test_buckets_plan_by_dtype_and_cap():
    f32, f64 = torch.float32, torch.float64
    tensors = [
        torch.zeros(4, dtype=f32),
        torch.zeros(4, dtype=f64),
        torch.zeros(2, dtype=f32),
        torch.zeros(100, dtype=f32),
        torch.zeros(1, dtype=f32),
    ]
    # f32: 16 + 8 bytes fit 32; the 400-byte tensor gets its own bucket; then 4 bytes.
    assert plan_buckets(tensors, 32) == [[0, 2], [3], [4], [1]]
    assert plan_buckets(tensors, 10**6) == [[0, 2, 3, 4], [1]]
    assert plan_buckets([], 32) == []


def test_buckets_calls_one_collective_per_bucket(one_rank, monkeypatch):
    calls = []
    real = dist.all_reduce

    def counting(tensor, *args, **kwargs):
        calls.append(tensor.numel())
        return real(tensor, *args, **kwargs)

    monkeypatch.setattr(dist, "all_reduce", counting)
    # One rank skips the collectives: pretend to be one of two to count them.
    monkeypatch.setattr(buckets, "_world_size", lambda group: 2)
    tensors = [torch.full((3,), float(i)) for i in range(50)]
    all_reduce_sum(tensors)  # 50 tensors, one bucket: one call
    assert calls == [150]
    all_reduce_sum(tensors, cap_bytes=12 * 10)  # ten tensors of 12 bytes per bucket
    assert calls[1:] == [30] * 5


@pytest.mark.parametrize("fn", [all_reduce_sum, broadcast_from_zero])
def test_buckets_values_come_back_in_place(one_rank, fn, monkeypatch):
    # Through flatten, collective (of one real rank) and unflatten.
    monkeypatch.setattr(buckets, "_world_size", lambda group: 2)
    a = torch.arange(6.0).reshape(2, 3)
    b = torch.tensor([1.5], dtype=torch.float64)
    c = torch.arange(4.0).reshape(2, 2).t()  # not contiguous
    leaf = torch.ones(2, requires_grad=True)
    before = [t.detach().clone() for t in (a, b, c, leaf)]
    fn([a, b, c, leaf], cap_bytes=8)
    for t, old in zip((a, b, c, leaf), before):
        assert torch.equal(t.detach(), old) and t.dtype == old.dtype
    assert leaf.is_leaf and leaf.requires_grad


def test_buckets_empty_list_is_a_no_op(one_rank):
    all_reduce_sum([])
    broadcast_from_zero([])


def test_buckets_one_rank_makes_no_collective(one_rank, monkeypatch):
    monkeypatch.setattr(dist, "all_reduce", lambda *a, **k: pytest.fail("collective called"))
    all_reduce_sum([torch.ones(2)])


def test_buckets_cpu_tensors_travel_through_the_gpu_under_nccl(monkeypatch):
    monkeypatch.setattr(dist, "get_backend", lambda group=None: "nccl")
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
    assert buckets._wire_device(torch.device("cpu"), None) == torch.device("cuda", 1)
    monkeypatch.setattr(dist, "get_backend", lambda group=None: "cpu:gloo,cuda:nccl")
    assert buckets._wire_device(torch.device("cpu"), None) == torch.device("cpu")
