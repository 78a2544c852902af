"""Faults on 2 gloo ranks -- a param on one rank only, a rank that raises, a rank
that dies -- stop every rank with an error naming what happened, within the
timeout; plus the protocol's parts in one process.

One launch (``workers.scenario_faults``) runs the faults one after another: a
reported fault leaves the ranks in step, so the job goes on to the next one.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

from tracegraph.errors import DistributedError
from tracegraph.infer.distributed import init_distributed, shutdown_distributed
from tracegraph.infer.distributed.protocol import Channel, Kind, digest, failure_site

from .launcher import launch_once


@pytest.fixture(scope="module")
def faults(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, Any]], Any]:
    out, job = launch_once("faults", tmp_path_factory, deadline=90.0)
    assert not job.timed_out, "\n".join(job.outputs)
    # Rank 0 survives every fault; rank 1 ends by exiting with code 3.
    assert job.returncodes == [0, 3], "\n".join(job.outputs)
    results = [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(2)]
    return results, job


def test_protocol_param_on_one_rank_stops_every_rank_with_clear_error(faults):
    (rank0, rank1), _ = faults
    for rank in (rank0, rank1):
        got = rank["param_one_rank"]
        assert got["type"] == "DistributedError"
        assert (
            "rank 1: creates param 'extra' (shape (2,), torch.float64) during step 1"
            in (got["message"])
        )
        assert "rank 0: finished step 1" in got["message"]


def test_protocol_rank_that_raises_stops_every_rank_naming_rank_and_site(faults):
    (rank0, rank1), _ = faults
    theirs, own = rank0["raise"], rank1["raise"]
    assert theirs["type"] == "DistributedError"
    assert theirs["message"].startswith(
        "rank 0 stops because rank 1 raised ValueError at site 'y' in step 4"
    )
    # The failing rank raises its own error, told that it stopped the others.
    assert own["type"] == "ValueError"
    assert "while computing log_prob at site 'y'" in own["notes"]
    assert "rank 1 told the other ranks to stop" in own["notes"]
    # At once, not after the 20 s timeout: steps 1-3 take milliseconds.
    assert theirs["seconds"] < 15.0


def test_protocol_ranks_go_on_after_a_reported_fault(faults):
    (rank0, rank1), _ = faults
    assert rank0["after"]["type"] is None and rank1["after"]["type"] is None


def test_protocol_dead_rank_stops_survivors_within_timeout(faults):
    (rank0, _), job = faults
    died = rank0["die"]
    assert died["type"] == "DistributedError"
    assert "no answer from the other ranks" in died["message"]
    assert "finished step 2" in died["message"] or "finished step 3" in died["message"]
    # The exchange's timeout is 5 s (gloo may notice the closed socket sooner).
    assert died["seconds"] < 5.0 + 5.0
    assert job.seconds < 60.0


def test_protocol_digest_is_stable_and_discriminates():
    # blake2b, not hash(): equal in every process whatever PYTHONHASHSEED is.
    assert digest("w|(3,)|torch.float64") == 1318640588288664605
    assert digest("a") != digest("b") and 0 <= digest("a") < 2**63


@pytest.mark.parametrize(
    "notes,current,last,expected",
    [
        (["while computing log_prob at site 'y'"], "z", "w", "at site 'y'"),
        ([], "z", "w", "at site 'z'"),
        ([], None, "w", "after site 'w'"),
        ([], None, None, "before its first site"),
    ],
)
def test_protocol_failure_site_prefers_note_then_current_then_last(notes, current, last, expected):
    exc = ValueError("bad")
    for note in notes:
        exc.add_note(note)
    assert failure_site(exc, current, last) == expected


def test_protocol_channel_of_one_rank_agrees_and_reports():
    init_distributed()
    try:
        channel = Channel(timeout=5.0)
        assert channel.agree(Kind.STEP, 1, "k", lambda: "steps") is True
        assert channel.gather("x", lambda: "gathers") == ["x"]
        assert channel.broadcast(3, lambda: "broadcasts") == 3
        exc = ValueError("boom")
        channel.report(1, exc, "at site 'z'")
        assert exc.__notes__ == ["rank 0 told the other ranks to stop"]
    finally:
        shutdown_distributed()


def test_protocol_kind_names():
    assert [k.name for k in Kind] == ["STEP", "NEW_PARAM", "PARAMS", "EVALUATE", "FAILED"]


def test_protocol_distributed_error_is_runtime_error():
    assert issubclass(DistributedError, RuntimeError)
