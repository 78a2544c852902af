"""The handler stack is per thread and per asyncio task.

Two runs are forced to interleave site by site: each run waits for its turn
before every site and hands the turn over after it, so while one run is between
two sites (its handlers installed) the other one enters, uses and leaves its own.
The same site names are used in both runs, so any leak (a condition applied to
the wrong run, a site recorded in the wrong trace) fails the test.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph import poutine
from tracegraph.poutine.runtime import get_handler_stack

N_SITES = 4
TIMEOUT = 10.0  # seconds; only reached if the interleaving deadlocks
SITES = [f"x{i}" for i in range(N_SITES)]


def _interleaved_model(my_turn, their_turn, depths):
    for name in SITES:
        assert my_turn.wait(TIMEOUT), "the other run never handed over the turn"
        my_turn.clear()
        depths.append(len(get_handler_stack()))
        tracegraph.sample(name, dist.Normal(0.0, 1.0))
        their_turn.set()
    return len(depths)


def _two_threads(run_a, run_b):
    turn_a, turn_b = threading.Event(), threading.Event()
    turn_a.set()
    with ThreadPoolExecutor(max_workers=2) as pool:
        fut_a = pool.submit(run_a, turn_a, turn_b)
        fut_b = pool.submit(run_b, turn_b, turn_a)
        return fut_a.result(timeout=2 * TIMEOUT), fut_b.result(timeout=2 * TIMEOUT)


def test_threads_two_traces_interleaved_each_get_their_own():
    data = {"x1": torch.tensor(5.0)}
    depths_a: list[int] = []
    depths_b: list[int] = []

    def run_a(mine, theirs):
        model = poutine.condition(_interleaved_model, data=data)
        return poutine.trace(model).get_trace(mine, theirs, depths_a)

    def run_b(mine, theirs):
        return poutine.trace(_interleaved_model).get_trace(mine, theirs, depths_b)

    tr_a, tr_b = _two_threads(run_a, run_b)
    assert list(tr_a.nodes) == ["_INPUT", *SITES, "_RETURN"]
    assert list(tr_b.nodes) == ["_INPUT", *SITES, "_RETURN"]
    assert tr_a.observation_nodes == ["x1"] and tr_b.observation_nodes == []
    assert tr_a.nodes["x1"]["value"] == 5.0
    # trace + condition in thread a, trace alone in thread b, at every site.
    assert depths_a == [2] * N_SITES and depths_b == [1] * N_SITES
    assert get_handler_stack() == ()


def test_threads_shared_traced_function_gives_each_call_its_trace():
    traced = poutine.trace(_interleaved_model)

    def run(mine, theirs):
        depths: list[int] = []
        return traced.get_trace(mine, theirs, depths), depths

    (tr_a, _), (tr_b, _) = _two_threads(run, run)
    assert tr_a is not tr_b
    for tr in (tr_a, tr_b):
        assert list(tr.nodes) == ["_INPUT", *SITES, "_RETURN"]
    values_a = torch.stack([tr_a.nodes[n]["value"] for n in SITES])
    values_b = torch.stack([tr_b.nodes[n]["value"] for n in SITES])
    assert not torch.equal(values_a, values_b)


def test_threads_error_in_one_run_leaves_the_other_intact():
    # a: x0, then (after b's x0) raises while b is between its sites; b: x0, x1.
    def take_turn(mine):
        assert mine.wait(TIMEOUT), "the other run never handed over the turn"
        mine.clear()

    def failing(mine, theirs):
        def model():
            take_turn(mine)
            tracegraph.sample("x0", dist.Normal(0.0, 1.0))
            theirs.set()
            take_turn(mine)
            try:
                raise KeyError("failed mid-model")
            finally:
                theirs.set()

        try:
            poutine.trace(model).get_trace()
        except KeyError:
            return get_handler_stack()
        raise AssertionError("the model's error was swallowed")

    def healthy(mine, theirs):
        def model():
            take_turn(mine)
            tracegraph.sample("x0", dist.Normal(0.0, 1.0))
            theirs.set()
            take_turn(mine)
            tracegraph.sample("x1", dist.Normal(0.0, 1.0))

        return poutine.trace(model).get_trace()

    stack_after_error, tr = _two_threads(failing, healthy)
    assert stack_after_error == ()
    assert list(tr.nodes) == ["_INPUT", "x0", "x1", "_RETURN"]


def test_threads_handler_entered_in_main_thread_invisible_in_worker():
    seen = []
    with poutine.trace() as tm:
        worker = threading.Thread(target=lambda: seen.append(get_handler_stack()))
        worker.start()
        worker.join(TIMEOUT)
        tracegraph.sample("main_site", dist.Normal(0.0, 1.0))
    assert seen == [()]
    assert list(tm.trace.nodes) == ["main_site"]


async def _interleaved_task(mine, theirs, data):
    with poutine.condition(data=data), poutine.trace() as tm:
        for name in SITES:
            await asyncio.wait_for(mine.wait(), TIMEOUT)
            mine.clear()
            assert len(get_handler_stack()) == 2
            tracegraph.sample(name, dist.Normal(0.0, 1.0))
            theirs.set()
    return tm.trace


def test_asyncio_two_tasks_interleaved_each_get_their_own_trace():
    async def main():
        turn_a, turn_b = asyncio.Event(), asyncio.Event()
        turn_a.set()
        return await asyncio.gather(
            _interleaved_task(turn_a, turn_b, {"x0": torch.tensor(1.0)}),
            _interleaved_task(turn_b, turn_a, {"x3": torch.tensor(2.0)}),
        )

    tr_a, tr_b = asyncio.run(main())
    assert list(tr_a.nodes) == SITES and list(tr_b.nodes) == SITES
    assert tr_a.observation_nodes == ["x0"] and tr_b.observation_nodes == ["x3"]
    assert tr_a.nodes["x0"]["value"] == 1.0 and tr_b.nodes["x3"]["value"] == 2.0
    assert get_handler_stack() == ()


@pytest.mark.parametrize("n_threads", [8])
def test_threads_many_concurrent_traces_no_crosstalk(n_threads):
    # Less controlled than the alternating tests: a barrier releases all runs at
    # once and every site waits on it again, so the runs overlap site by site.
    barrier = threading.Barrier(n_threads, timeout=TIMEOUT)

    def run(k):
        def model():
            for i in range(3):
                barrier.wait()
                tracegraph.sample(f"t{k}_{i}", dist.Normal(0.0, 1.0))

        return k, poutine.trace(model).get_trace()

    with ThreadPoolExecutor(max_workers=n_threads) as pool:
        results = list(pool.map(run, range(n_threads)))
    for k, tr in results:
        assert list(tr.nodes) == ["_INPUT", f"t{k}_0", f"t{k}_1", f"t{k}_2", "_RETURN"]
