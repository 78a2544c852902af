"""Starting the process group and asking who this rank is."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist

from tracegraph.errors import DistributedError
from tracegraph.infer.distributed import group
from tracegraph.infer.distributed.group import (
    comm_device,
    init_distributed,
    is_main_process,
    rank_info,
    shutdown_distributed,
)


def test_group_without_torchrun_variables_is_one_rank(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    info = init_distributed()
    try:
        assert (info.rank, info.world_size, info.local_rank, info.backend) == (0, 1, 0, "gloo")
        assert info.device == torch.device("cpu") == comm_device()
        assert init_distributed() == info  # a running group is kept
        assert is_main_process()
    finally:
        shutdown_distributed()
    assert not dist.is_initialized()


def test_group_rank_info_without_group_raises():
    with pytest.raises(DistributedError, match="init_distributed"):
        rank_info()


def test_group_main_process_without_group():
    assert is_main_process()


def test_group_init_method_needs_rank_and_world_size():
    with pytest.raises(DistributedError, match="rank= and world_size="):
        init_distributed(init_method="file:///tmp/nowhere")


def test_group_init_method_with_file_rendezvous(tmp_path):
    info = init_distributed(init_method=f"file://{tmp_path / 'rdv'}", rank=0, world_size=1)
    try:
        assert (info.rank, info.world_size) == (0, 1)
    finally:
        shutdown_distributed()


def test_group_nccl_without_cuda_raises(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DistributedError, match="needs CUDA"):
        init_distributed(backend="nccl")
    assert not dist.is_initialized()


def test_group_bad_environment_variable_raises(monkeypatch):
    monkeypatch.setenv("RANK", "zero")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(DistributedError, match="RANK='zero'"):
        init_distributed()


def test_group_default_timeout_is_minutes():
    assert group.DEFAULT_TIMEOUT == 300.0


def test_group_nccl_selects_the_rank_gpu_before_the_group_exists(monkeypatch):
    # No GPU here: record what init_distributed asks of torch.cuda and of
    # init_process_group, in order.
    calls = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)  # one visible GPU each
    monkeypatch.setattr(torch.cuda, "set_device", lambda d: calls.append(("set_device", d)))
    monkeypatch.setattr(
        dist, "init_process_group", lambda backend, **kw: calls.append(("init", backend))
    )
    monkeypatch.setattr(group, "rank_info", lambda: "info")
    for name, value in {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}.items():
        monkeypatch.setenv(name, value)
    assert init_distributed() == "info"
    assert calls == [("set_device", 0), ("init", "nccl")]  # NCCL by default with CUDA
