"""DistributedSVI on 2 gloo ranks against one process on the concatenated batches:
equal gradients, identical params on every rank, checkpoints, rank-0 printing.

One launch of both ranks (``workers.scenario_equivalence``) serves every test of
this module; each test computes its single-process reference here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import torch

import tracegraph
from tracegraph.errors import DistributedError
from tracegraph.infer import Trace_ELBO, TraceGraph_ELBO
from tracegraph.infer.distributed import (
    DataPlateSampler,
    DistributedSVI,
    init_distributed,
    shutdown_distributed,
)
from tracegraph.optim import Adam

from .launcher import launch_once
from .workers import BATCH, ELBOS, N, data, make_guide, model, run


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, Any]], list[str]]:
    out, job = launch_once("equivalence", tmp_path_factory, deadline=120.0)
    assert job.returncodes == [0, 0], "\n".join(job.outputs)
    results = [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(2)]
    return results, job.outputs


@pytest.fixture(scope="module")
def ranks(job: tuple[list[dict[str, Any]], list[str]]) -> list[dict[str, Any]]:
    return job[0]


@pytest.fixture(scope="module")
def outputs(job: tuple[list[dict[str, Any]], list[str]]) -> list[str]:
    return job[1]


@pytest.fixture
def float64() -> Iterator[None]:
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def _reference(elbo: str, steps: int, optim: str) -> dict[str, Any]:
    return run(elbo, steps, optim, rank=0, world_size=1, distributed=False)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


@pytest.mark.parametrize("elbo", list(ELBOS))
def test_distributed_svi_gradient_equals_single_process_on_whole_batch(ranks, elbo, float64):
    # Steps 1-3: step 1 uses params broadcast from rank 0 (rank 1's init differs),
    # steps 2-3 the baseline averaged over the ranks (the decaying average's state,
    # or the network's weights).
    reference = _reference(elbo, 3, "record")["grads"]
    expected = ["c_p", "w_loc", "w_scale"]
    if elbo == "tracegraph_nn":
        expected = ["baseline$$$bias", "baseline$$$weight", *expected]
    for rank in ranks:
        grads = rank[f"{elbo}/record"]["grads"]
        assert sorted(grads) == sorted(reference) == expected
        for name, g in reference.items():
            assert g.dtype == torch.float64 and g.shape[0] == 3
            # float64 sums in another order: rounding only, ~1e-16 relative.
            assert _rel(grads[name], g) < 1e-10, (name, grads[name], g)


@pytest.mark.parametrize("elbo", list(ELBOS))
def test_distributed_svi_params_identical_across_ranks_after_50_steps(ranks, elbo):
    a, b = (rank[f"{elbo}/adam"] for rank in ranks)
    assert sorted(a["params"]) == sorted(b["params"])
    for name in a["params"]:
        assert torch.equal(a["params"][name], b["params"][name]), name
    assert torch.equal(a["losses"], b["losses"])
    # The optimizer state (Adam's moments and step counts) is identical too.
    for name, state in a["optim"].items():
        for key, value in state["state"][0].items():
            assert torch.equal(
                torch.as_tensor(value), torch.as_tensor(b["optim"][name]["state"][0][key])
            )


@pytest.mark.parametrize("elbo", list(ELBOS))
def test_distributed_svi_50_steps_match_single_process(ranks, elbo, float64):
    reference = _reference(elbo, 50, "adam")
    mine = ranks[0][f"{elbo}/adam"]
    names = sorted(reference["params"])
    if elbo == "tracegraph":
        assert "__baseline_avg_downstream_cost_c" in names
    if elbo == "tracegraph_nn":
        assert "baseline$$$weight" in names
    assert sorted(mine["params"]) == names
    for name in names:
        torch.testing.assert_close(
            mine["params"][name], reference["params"][name], rtol=0, atol=1e-6
        )
    # The returned losses are the ranks' means: the single process's losses.
    torch.testing.assert_close(mine["losses"], reference["losses"], rtol=1e-9, atol=0)
    torch.testing.assert_close(mine["eval"], reference["eval"], rtol=1e-9, atol=0)


@pytest.mark.parametrize("inline", [65536, 0])
def test_distributed_svi_layouts_that_differ_are_reconciled(ranks, inline):
    # Only rank 1 touches param u after step 0 (and has site u_site): the union
    # of the layouts is averaged, so u keeps moving, identically on both ranks.
    a, b = (rank["partial"][inline] for rank in ranks)
    assert sorted(a) == sorted(b) and "u" in a
    for name in a:
        assert torch.equal(a[name], b[name]), name
    assert not torch.equal(a["u"], torch.zeros(3, dtype=torch.float64))


def test_distributed_svi_checkpoint_written_by_rank_0_restores_every_rank(ranks):
    assert [rank["wrote"] for rank in ranks] == [True, False]
    assert all(rank["restored"] for rank in ranks)
    assert [rank["extra"] for rank in ranks] == [{"step": 50}, {"step": 50}]


def test_distributed_svi_fit_prints_on_rank_0_only(ranks, outputs):
    assert len(outputs) == 2
    assert "FITBAR" in outputs[0] and "FITBAR" not in outputs[1]


def test_distributed_svi_timings_count_steps_and_communication(ranks):
    for rank in ranks:
        t = rank["timings"]
        assert t["steps"] == 3 and 0 < t["agreement"] <= t["communication"] < t["total"]


def test_distributed_svi_without_process_group_raises():
    def guide():
        pass

    with pytest.raises(DistributedError, match="init_distributed"):
        DistributedSVI(lambda: None, guide, Adam({"lr": 0.1}), Trace_ELBO())


def test_distributed_svi_one_rank_equals_svi(float64):
    # A job of one rank steps exactly as SVI does.
    reference = _reference("tracegraph", 5, "adam")
    init_distributed()
    try:
        tracegraph.clear_param_store()
        x, y = data()
        sampler = DataPlateSampler(N, BATCH, rank=0, world_size=1, seed=5)
        svi = DistributedSVI(model, make_guide(7), Adam({"lr": 0.05}), TraceGraph_ELBO())
        torch.manual_seed(123)
        losses = [svi.step(x, y, sampler.indices(s)) for s in range(5)]
    finally:
        shutdown_distributed()
    assert losses == reference["losses"][:5].tolist()
    for name, value in reference["params"].items():
        assert torch.equal(tracegraph.get_param_store()[name].unconstrained().detach(), value), name
