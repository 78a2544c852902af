"""Params shared from rank 0: each new param at its first site, params made
between steps at the next step's start, never the baselines' averages."""

from __future__ import annotations

import pytest
import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph import poutine
from tracegraph.distributions import constraints
from tracegraph.infer.distributed.param_sync import ParamRegistry, StepWatcher, is_baseline_state
from tracegraph.infer.distributed.protocol import Channel


def _registry() -> ParamRegistry:
    return ParamRegistry(Channel(10.0))


def test_param_sync_new_param_is_shared_once_and_value_recomputed(one_rank, monkeypatch):
    registry = _registry()
    shared = []
    real = registry.sync_new

    def sync_new(name, leaf, step):
        shared.append(name)
        real(name, leaf, step)
        with torch.no_grad():
            leaf.fill_(0.0)  # stands for rank 0's value arriving: log(1) = 0

    monkeypatch.setattr(registry, "sync_new", sync_new)
    with StepWatcher(registry, 1) as watcher:
        s1 = tracegraph.param("s", torch.tensor(5.0), constraint=constraints.positive)
        s2 = tracegraph.param("s")
    assert shared == ["s"]
    # The model computes with the shared value, not with its own init.
    assert s1.item() == 1.0 and s2.item() == 1.0 and watcher.last == "s"


def test_param_sync_store_shares_params_made_between_steps(one_rank):
    registry = _registry()
    tracegraph.param("a", torch.zeros(2))
    tracegraph.get_param_store()["__baseline_avg_downstream_cost_z"] = torch.tensor(1.0)
    baselines = registry.sync_store(1)
    assert sorted(registry.synced) == ["a"]
    assert sorted(baselines) == ["__baseline_avg_downstream_cost_z"]
    # A replaced param is a new leaf: shared again.
    tracegraph.get_param_store()["a"] = torch.ones(2)
    leaf = tracegraph.get_param_store()["a"].unconstrained()
    registry.sync_store(2)
    assert registry.synced["a"] is leaf
    # A removed param is forgotten.
    del tracegraph.get_param_store()["a"]
    registry.sync_store(3)
    assert registry.synced == {}


def test_param_sync_watcher_leaves_substituted_values_alone(one_rank):
    registry = _registry()
    value = torch.tensor(3.0)
    with StepWatcher(registry, 1), poutine.substitute(data={"w": value}):
        got = tracegraph.param("w", torch.tensor(0.0))
    assert got is value and registry.synced == {}


class _BrokenSampler(dist.Normal):
    def sample(self, sample_shape=torch.Size()):
        raise ValueError("broken sampler")

    rsample = sample


def test_param_sync_watcher_records_current_and_last_site(one_rank):
    registry = _registry()
    with pytest.raises(ValueError, match="parameter scale"):
        with StepWatcher(registry, 1) as watcher:
            tracegraph.sample("a", dist.Normal(0.0, 1.0))
            tracegraph.sample("b", dist.Normal(0.0, -1.0))  # the constructor raises
    assert (watcher.current, watcher.last) == (None, "a")
    with pytest.raises(ValueError, match="broken sampler"):
        with StepWatcher(registry, 1) as watcher:
            tracegraph.sample("a", dist.Normal(0.0, 1.0))
            tracegraph.sample("c", _BrokenSampler(0.0, 1.0))  # the site's own action raises
    assert (watcher.current, watcher.last) == ("c", "a")


def test_param_sync_module_params_shared_in_place(one_rank):
    registry = _registry()
    net = torch.nn.Linear(2, 1)
    with StepWatcher(registry, 1):
        tracegraph.module("net", net)
    assert registry.synced["net$$$weight"] is net.weight


def test_param_sync_baseline_names():
    assert is_baseline_state("__baseline_avg_downstream_cost_z")
    assert not is_baseline_state("z")
