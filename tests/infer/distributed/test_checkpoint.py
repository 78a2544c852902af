"""Checkpoints: rank 0 writes atomically (a failed write leaves the old file
whole), every rank restores params and optimizer state from the same bytes."""

from __future__ import annotations

import os

import pytest
import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph.errors import DistributedError
from tracegraph.infer import SVI, Trace_ELBO
from tracegraph.infer.distributed import checkpoint
from tracegraph.infer.distributed.checkpoint import atomic_write, load_checkpoint, save_checkpoint
from tracegraph.optim import Adam


def _model():
    tracegraph.sample("z", dist.Normal(1.0, 1.0))


def _guide():
    loc = tracegraph.param("loc", torch.tensor(0.0))
    scale = tracegraph.param("scale", torch.tensor(1.0), constraint=dist.constraints.positive)
    tracegraph.sample("z", dist.Normal(loc, scale))


def _train(svi: SVI, steps: int) -> list[float]:
    return [svi.step() for _ in range(steps)]


def test_checkpoint_resume_equals_uninterrupted_training(tmp_path):
    # 10 steps straight vs 5 steps, save, wipe, load, 5 steps: the same params,
    # Adam's moments included (the same draws: the RNG is re-seeded alike).
    torch.manual_seed(0)
    straight = SVI(_model, _guide, Adam({"lr": 0.1}), Trace_ELBO())
    _train(straight, 5)
    torch.manual_seed(1)
    _train(straight, 5)
    expected = {k: v.detach().clone() for k, v in tracegraph.get_param_store().named_parameters()}

    tracegraph.clear_param_store()
    torch.manual_seed(0)
    optim = Adam({"lr": 0.1})
    _train(SVI(_model, _guide, optim, Trace_ELBO()), 5)
    assert save_checkpoint(tmp_path / "ckpt.pt", optim, extra={"step": 5})
    tracegraph.clear_param_store()
    resumed_optim = Adam({"lr": 0.1})
    assert load_checkpoint(tmp_path / "ckpt.pt", resumed_optim) == {"step": 5}
    torch.manual_seed(1)
    _train(SVI(_model, _guide, resumed_optim, Trace_ELBO()), 5)
    for name, value in expected.items():
        assert torch.equal(tracegraph.get_param_store()[name].unconstrained().detach(), value)


def test_checkpoint_failed_write_leaves_previous_file_whole(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    atomic_write(b"old checkpoint", path)

    def crash(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(b"new checkpoint, half", path)
    assert path.read_bytes() == b"old checkpoint"
    assert os.listdir(tmp_path) == ["ckpt.pt"]  # no temporary file left behind


def test_checkpoint_only_main_process_writes(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoint, "is_main_process", lambda: False)
    tracegraph.param("w", torch.ones(1))
    assert save_checkpoint(tmp_path / "ckpt.pt") is False
    assert not (tmp_path / "ckpt.pt").exists()


def test_checkpoint_refuses_extra_that_would_not_load_safely(tmp_path):
    with pytest.raises(DistributedError, match="would not load back safely"):
        save_checkpoint(tmp_path / "ckpt.pt", extra={"fn": print})
    assert not (tmp_path / "ckpt.pt").exists()


def test_checkpoint_load_refuses_other_files(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(1)}, path)
    with pytest.raises(DistributedError, match="not a tracegraph checkpoint"):
        load_checkpoint(path)
    path.write_bytes(b"garbage")
    with pytest.raises(DistributedError, match="not a safe checkpoint"):
        load_checkpoint(path)


def test_checkpoint_in_a_group_of_one_rank(one_rank, tmp_path):
    tracegraph.param("w", torch.full((2,), 3.0))
    assert save_checkpoint(tmp_path / "c.pt")
    tracegraph.clear_param_store()
    assert load_checkpoint(tmp_path / "c.pt") == {}
    assert tracegraph.param("w").tolist() == [3.0, 3.0]
