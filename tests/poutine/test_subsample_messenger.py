"""SubsampleMessenger and the plate's arguments: sizes, subsample indices, the index
site, counters, and sequential loops that end early (issue 16)."""

from __future__ import annotations

import asyncio
import gc
import sys
import threading

import pytest
import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph import poutine
from tracegraph.errors import PlateError
from tracegraph.poutine.runtime import CondIndepStackFrame, get_handler_stack
from tracegraph.poutine.subsample_messenger import SubsampleDistribution, SubsampleMessenger
from tracegraph.poutine.util import site_is_subsample

# -- sizes --------------------------------------------------------------------------


@pytest.mark.parametrize("size", [2.5, torch.tensor(2.5), "3"])
def test_plate_size_not_a_whole_number_raises_naming_plate(size):
    with pytest.raises(PlateError, match=r"plate\('d'\): size must be"):
        tracegraph.plate("d", size)


def test_plate_size_not_a_whole_number_raises_in_sequential_use_too():
    with pytest.raises(PlateError, match=r"plate\('d'\)"):
        [i for i in tracegraph.plate("d", 2.5)]


@pytest.mark.parametrize("size", [3, 3.0, torch.tensor(3)])
def test_plate_whole_number_sizes_accepted(size):
    p = tracegraph.plate("d", size)
    assert p.size == 3 and isinstance(p.size, int) and p.indices.tolist() == [0, 1, 2]


def test_plate_subsample_size_larger_than_size_raises_naming_plate():
    # Pyro raises ValueError here too (a confusing one about len(subsample)).
    with pytest.raises(PlateError, match=r"plate\('d'\): subsample_size=5 must be between 0"):
        tracegraph.plate("d", 3, subsample_size=5)
    assert issubclass(PlateError, ValueError)


def test_plate_subsample_size_not_a_whole_number_raises():
    with pytest.raises(PlateError, match="subsample_size must be a whole number"):
        tracegraph.plate("d", 5, subsample_size=2.5)


def test_plate_negative_size_raises():
    with pytest.raises(PlateError, match="size must be >= 0"):
        tracegraph.plate("d", -2)


def test_plate_explicit_subsample_may_exceed_size_as_pyro():
    # Repeated indices are a valid (if unusual) subsample: scale = size / n.
    def model():
        with tracegraph.plate("d", 2, subsample=[0, 1, 1, 0]):
            tracegraph.sample("x", dist.Normal(0.0, 1.0))

    tr = poutine.trace(model).get_trace()
    assert tr.nodes["x"]["scale"] == 0.5 and tr.nodes["x"]["value"].shape == (4,)


def test_plate_without_size_is_a_frame_without_broadcasting():
    def model():
        with tracegraph.plate("p") as idx:
            x = tracegraph.sample("x", dist.Normal(torch.zeros(4), 1.0))
        return idx, x

    tr = poutine.trace(model).get_trace()
    idx, x = tr.nodes["_RETURN"]["value"]
    assert idx is None and x.shape == (4,) and "p" not in tr.nodes
    assert tr.nodes["x"]["cond_indep_stack"] == (CondIndepStackFrame("p", -1, -1, 0, -1),)


# -- subsample indices -------------------------------------------------------------


def test_plate_list_subsample_returned_as_the_list():
    def model():
        with tracegraph.plate("d", 10, subsample=[1, 3, 5]) as idx:
            tracegraph.sample("x", dist.Normal(0.0, 1.0))
        return idx

    tr = poutine.trace(model).get_trace()
    assert tr.nodes["_RETURN"]["value"] == [1, 3, 5]
    assert tr.nodes["d"]["value"] == [1, 3, 5]
    assert tr.nodes["x"]["scale"] == pytest.approx(10 / 3)
    assert tr.nodes["x"]["cond_indep_stack"] == (CondIndepStackFrame("d", -1, 3, 0, 10),)


def test_plate_list_subsample_indexes_subsampled_data():
    def model():
        with tracegraph.plate("d", 5, subsample=[4, 0]):
            return tracegraph.subsample(torch.arange(5.0), event_dim=0)

    assert model().tolist() == [4.0, 0.0]


def test_plate_permutation_subsample_still_indexes_data():
    with tracegraph.plate("d", 3, subsample=torch.tensor([2, 0, 1])):
        assert tracegraph.subsample(torch.arange(3.0)).tolist() == [2.0, 0.0, 1.0]


def test_plate_index_site_recorded_at_construction_under_handlers_only():
    p = tracegraph.plate("outside", 4, subsample_size=2)
    with poutine.trace() as tm:
        with p:
            pass
        tracegraph.plate("inside", 3)
    assert list(tm.trace.nodes) == ["inside"]
    assert site_is_subsample(tm.trace.nodes["inside"])
    assert p.indices.shape == (2,)


def test_plate_full_index_site_may_repeat_in_one_trace():
    # Pyro raises on a plate built twice in one run; building a plate that does
    # not subsample twice is harmless here (docs/pyro-differences.md).
    def model():
        for _ in range(2):
            with tracegraph.plate("p", 2):
                pass

    assert list(poutine.trace(model).get_trace().nodes) == ["_INPUT", "p", "_RETURN"]


def test_plate_subsampled_twice_in_one_trace_raises_as_pyro():
    def model():
        for _ in range(2):
            with tracegraph.plate("p", 5, subsample_size=2):
                pass

    with pytest.raises(RuntimeError, match="Multiple sites named 'p'"):
        poutine.trace(model).get_trace()


def test_plate_nested_in_a_plate_of_the_same_name_raises_as_pyro():
    def model():
        with tracegraph.plate("p", 3), tracegraph.plate("p", 3):
            pass

    with pytest.raises(RuntimeError, match="Multiple sites named 'p'"):
        poutine.trace(model).get_trace()


@pytest.mark.parametrize("kwargs", [{"subsample": torch.tensor([0, 1])}, {"subsample_size": 2}])
def test_plate_subsampling_without_size_raises_assertion_error_as_pyro(kwargs):
    with pytest.raises(AssertionError, match="needs the plate's full size"):
        tracegraph.plate("p", **kwargs)


def test_plate_without_subsample_size_takes_the_replayed_indices_as_pyro():
    # The guide subsamples, the model's plate does not: the model uses the guide's
    # indices and scales by size / their number.
    def guide():
        with tracegraph.plate("d", 10, subsample_size=4):
            pass

    def model():
        with tracegraph.plate("d", 10) as idx:
            tracegraph.sample("x", dist.Normal(0.0, 1.0))
        return idx

    guide_trace = poutine.trace(guide).get_trace()
    tr = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace()
    assert torch.equal(tr.nodes["_RETURN"]["value"], guide_trace.nodes["d"]["value"])
    assert tr.nodes["x"]["scale"] == 2.5 and tr.nodes["x"]["value"].shape == (4,)


def test_plate_replayed_indices_of_wrong_length_raise():
    guide_trace = poutine.trace(lambda: tracegraph.plate("d", 10, subsample_size=3)).get_trace()
    with pytest.raises(PlateError, match="got 3 subsample indices but subsample_size=4"):
        poutine.replay(lambda: tracegraph.plate("d", 10, subsample_size=4), trace=guide_trace)()


def test_subsample_distribution_draws_in_pyro_order():
    torch.manual_seed(0)
    expected = torch.randperm(10)[:3]
    torch.manual_seed(0)
    assert torch.equal(SubsampleDistribution(10, 3)(), expected)
    assert SubsampleDistribution(4, 4)().tolist() == [0, 1, 2, 3]


# -- the messenger ------------------------------------------------------------------


def test_subsample_messenger_returns_itself_and_does_not_broadcast():
    def model():
        with SubsampleMessenger("d", 10, subsample_size=2) as m:
            x = tracegraph.sample("x", dist.Normal(0.0, 1.0))
        return m, x

    tr = poutine.trace(model).get_trace()
    m, x = tr.nodes["_RETURN"]["value"]
    assert isinstance(m, SubsampleMessenger) and x.shape == ()
    assert tr.nodes["x"]["scale"] == 5.0


def test_plate_frames_and_scale_reach_every_message_type():
    seen = {}

    @poutine.runtime.effectful(type="custom")
    def custom(x):
        return x

    class Spy(poutine.Messenger):
        def _process_message(self, msg):
            seen[msg["type"]] = (msg["cond_indep_stack"], msg["scale"])

    with tracegraph.plate("d", 10, subsample_size=5), Spy():
        custom(1, name="c")
        tracegraph.param("w", torch.zeros(10), event_dim=0)
    frame = CondIndepStackFrame("d", -1, 5, 0, 10)
    assert seen == {"custom": ((), 1.0), "param": ((), 1.0)}  # Spy is inside the plate
    seen.clear()
    with Spy(), tracegraph.plate("d", 10, subsample_size=5):
        custom(1, name="c")
        tracegraph.param("w2", torch.zeros(10), event_dim=0)
    # The plate's own index site is built inside the Spy, outside the plate.
    assert seen == {"sample": ((), 1.0), "custom": ((frame,), 2.0), "param": ((frame,), 2.0)}


def test_plate_next_context_and_reset():
    p = tracegraph.plate("d", 5, subsample_size=2)
    p.next_context()
    assert p.counter == 1
    p._reset()
    assert p.counter == 0 and p.indices.tolist() == [0, 1, 2, 3, 4]


# -- sequential loops that end early (issue 16) -----------------------------------


def test_plate_sequential_break_leaves_no_handler():
    for i in tracegraph.plate("s", 5):
        if i == 1:
            break
    assert get_handler_stack() == ()


def test_plate_sequential_closed_in_another_thread_does_not_raise():
    it = iter(tracegraph.plate("s", 3))
    assert next(it) == 0
    errors = []

    def close():
        try:
            it.close()
        except BaseException as e:  # noqa: BLE001 - recorded for the assertion
            errors.append(e)

    t = threading.Thread(target=close)
    t.start()
    t.join()
    assert errors == []
    # The handler was installed in this thread; nothing else could remove it.
    assert [type(h).__name__ for h in get_handler_stack()] == ["plate"]
    poutine.runtime._discard(get_handler_stack()[0])


def test_plate_sequential_finalized_by_gc_after_exception_does_not_raise():
    unraisable = []
    old_hook = sys.unraisablehook
    sys.unraisablehook = unraisable.append
    try:

        def model():
            for i in tracegraph.plate("s", 3):
                tracegraph.sample(f"x_{i}", dist.Normal(0.0, 1.0))
                raise KeyError("boom")

        with pytest.raises(KeyError) as info:
            poutine.trace(model).get_trace()
        # The traceback keeps the suspended loop alive past the trace's exit.
        assert get_handler_stack() == ()
        with poutine.trace():
            del info
            gc.collect()
            assert len(get_handler_stack()) == 1
    finally:
        sys.unraisablehook = old_hook
    assert unraisable == []


def test_plate_sequential_closed_in_another_asyncio_task_does_not_raise():
    async def main():
        it = iter(tracegraph.plate("s", 3))

        async def first():
            return next(it)

        async def close():
            it.close()
            return get_handler_stack()

        assert await asyncio.create_task(first()) == 0
        return await asyncio.create_task(close())

    assert asyncio.run(main()) == ()
