"""Plates through the handlers: frames, dims, subsampling, broadcasting, replay."""

from __future__ import annotations

import pytest
import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph import poutine
from tracegraph.poutine.runtime import CondIndepStackFrame, get_handler_stack
from tracegraph.poutine.util import site_is_subsample


def _frames(tr, name):
    return tr.nodes[name]["cond_indep_stack"]


# -- vectorized plates, dims ------------------------------------------------------


def test_plate_vectorized_site_gets_frame_and_batch_shape():
    def model():
        with tracegraph.plate("data", 4) as idx:
            tracegraph.sample("x", dist.Normal(0.0, 1.0))
        return idx

    tr = poutine.trace(model).get_trace()
    assert _frames(tr, "x") == (CondIndepStackFrame("data", -1, 4, 0, 4),)
    assert tr.nodes["x"]["value"].shape == (4,)
    assert tr.nodes["x"]["fn"].batch_shape == (4,)
    assert tr.nodes["_RETURN"]["value"].tolist() == [0, 1, 2, 3]
    # As Pyro: the plate records its index site even when it does not subsample;
    # the scale is untouched.
    assert list(tr.nodes) == ["_INPUT", "data", "x", "_RETURN"] and tr.nodes["x"]["scale"] == 1.0
    assert site_is_subsample(tr.nodes["data"])
    assert tr.nodes["data"]["value"].tolist() == [0, 1, 2, 3]


def test_plate_nested_dims_allocated_outer_first():
    # As Pyro: the outer plate takes the rightmost free dim, the inner the next.
    def model():
        with tracegraph.plate("outer", 2):
            with tracegraph.plate("inner", 3):
                tracegraph.sample("x", dist.Normal(0.0, 1.0))

    tr = poutine.trace(model).get_trace()
    assert [(f.name, f.dim) for f in _frames(tr, "x")] == [("outer", -1), ("inner", -2)]
    assert tr.nodes["x"]["value"].shape == (3, 2)


def test_plate_explicit_dim_and_allocation_skips_used_dim():
    def model():
        with tracegraph.plate("a", 2, dim=-1):
            with tracegraph.plate("b", 3):
                tracegraph.sample("x", dist.Normal(0.0, 1.0))

    tr = poutine.trace(model).get_trace()
    assert {f.name: f.dim for f in _frames(tr, "x")} == {"a": -1, "b": -2}
    assert tr.nodes["x"]["value"].shape == (3, 2)


def test_plate_dim_released_on_exit():
    def model():
        with tracegraph.plate("first", 2):
            tracegraph.sample("x", dist.Normal(0.0, 1.0))
        with tracegraph.plate("second", 3):
            tracegraph.sample("y", dist.Normal(0.0, 1.0))

    tr = poutine.trace(model).get_trace()
    assert _frames(tr, "x")[0].dim == -1 and _frames(tr, "y")[0].dim == -1


def test_plate_broadcasts_partial_batch_shape():
    def model():
        loc = torch.zeros(3)
        with tracegraph.plate("rows", 2, dim=-2), tracegraph.plate("cols", 3, dim=-1):
            return tracegraph.sample("x", dist.Normal(loc, 1.0))

    tr = poutine.trace(model).get_trace()
    assert tr.nodes["x"]["fn"].batch_shape == (2, 3)
    assert tr.nodes["x"]["value"].shape == (2, 3)


def test_plate_leaves_class_fn_alone_as_pyro():
    # A class where an instance belongs is recorded (scoring it fails later).
    def model():
        with tracegraph.plate("p", 3):
            tracegraph.sample("x", dist.Normal, obs=torch.zeros(3))

    tr = poutine.trace(model).get_trace()
    assert tr.nodes["x"]["fn"] is dist.Normal


def test_plate_stack_creates_nested_plates():
    def model():
        with tracegraph.plate_stack("batch", (2, 3)):
            return tracegraph.sample("x", dist.Normal(0.0, 1.0))

    tr = poutine.trace(model).get_trace()
    # As Pyro: prefix_0 is the rightmost (and outermost) plate.
    assert [(f.name, f.dim, f.size) for f in _frames(tr, "x")] == [
        ("batch_0", -1, 3),
        ("batch_1", -2, 2),
    ]
    assert tr.nodes["x"]["value"].shape == (2, 3)


def test_plate_stack_rightmost_dim():
    def model():
        with tracegraph.plate_stack("b", (4,), rightmost_dim=-2):
            return tracegraph.sample("x", dist.Normal(0.0, 1.0))

    tr = poutine.trace(model).get_trace()
    assert _frames(tr, "x")[0].dim == -2 and tr.nodes["x"]["value"].shape == (4, 1)


# -- subsampling ------------------------------------------------------------------


def test_plate_subsample_size_scales_sites_inside():
    def model():
        with tracegraph.plate("data", 100, subsample_size=10) as idx:
            tracegraph.sample("x", dist.Normal(0.0, 1.0))
        return idx

    tr = poutine.trace(model).get_trace()
    idx = tr.nodes["_RETURN"]["value"]
    assert idx.shape == (10,) and len(set(idx.tolist())) == 10
    assert 0 <= idx.min() and idx.max() < 100
    assert tr.nodes["x"]["scale"] == pytest.approx(100 / 10)
    assert _frames(tr, "x") == (CondIndepStackFrame("data", -1, 10, 0, 100),)
    assert tr.nodes["x"]["value"].shape == (10,)
    # The indices are a sample site (so replay can hand them on), marked as such.
    assert site_is_subsample(tr.nodes["data"]) and torch.equal(tr.nodes["data"]["value"], idx)


def test_plate_nested_subsample_scales_multiply():
    def model():
        with tracegraph.plate("a", 10, subsample_size=5):
            with tracegraph.plate("b", 6, subsample_size=2):
                tracegraph.sample("x", dist.Normal(0.0, 1.0))

    tr = poutine.trace(model).get_trace()
    assert tr.nodes["x"]["scale"] == pytest.approx((10 / 5) * (6 / 2))
    assert tr.nodes["x"]["value"].shape == (2, 5)


def test_plate_scale_enters_log_prob_sum():
    def model():
        with tracegraph.plate("data", 50, subsample_size=5):
            tracegraph.sample("x", dist.Normal(0.0, 1.0), obs=torch.zeros(5))

    tr = poutine.trace(model).get_trace()
    expected = 10.0 * 5 * dist.Normal(0.0, 1.0).log_prob(torch.tensor(0.0))
    assert tr.log_prob_sum().item() == pytest.approx(expected.item(), rel=1e-6)


def test_plate_explicit_subsample_indices_used():
    def model():
        with tracegraph.plate("data", 8, subsample=torch.tensor([1, 5])) as idx:
            tracegraph.sample("x", dist.Normal(0.0, 1.0))
        return idx

    tr = poutine.trace(model).get_trace()
    assert tr.nodes["_RETURN"]["value"].tolist() == [1, 5]
    assert tr.nodes["x"]["scale"] == pytest.approx(4.0)


def _subsampling_model(data):
    with tracegraph.plate("data", 10, subsample_size=3) as idx:
        rows = tracegraph.subsample(data, event_dim=1)
        same = tracegraph.subsample(torch.ones(4))  # not the plate's size: untouched
    return idx, rows, same


def test_subsample_primitive_indexes_full_size_data():
    data = torch.arange(20.0).reshape(10, 2)
    idx, rows, same = _subsampling_model(data)
    assert torch.equal(rows, data[idx]) and same.shape == (4,)
    assert torch.equal(tracegraph.subsample(data, event_dim=1), data)  # outside any plate


def test_subsample_primitive_under_trace_records_no_site():
    data = torch.arange(20.0).reshape(10, 2)
    tr = poutine.trace(_subsampling_model).get_trace(data)
    idx, rows, _ = tr.nodes["_RETURN"]["value"]
    assert torch.equal(rows, data[idx])
    assert list(tr.nodes) == ["_INPUT", "data", "_RETURN"]


def test_plate_subsamples_params_with_event_dim():
    def model():
        with tracegraph.plate("data", 10, subsample_size=4) as idx:
            loc = tracegraph.param("loc", torch.arange(10.0), event_dim=0)
        return idx, loc

    idx, loc = poutine.trace(model)()
    assert torch.equal(loc.detach(), idx.float())


def test_plate_replay_gives_model_the_guides_indices():
    def guide():
        with tracegraph.plate("data", 1000, subsample_size=7) as idx:
            tracegraph.sample("z", dist.Normal(0.0, 1.0))
        return idx

    def model():
        with tracegraph.plate("data", 1000, subsample_size=7) as idx:
            tracegraph.sample("z", dist.Normal(0.0, 1.0))
        return idx

    guide_tr = poutine.trace(guide).get_trace()
    model_tr = poutine.trace(poutine.replay(model, trace=guide_tr)).get_trace()
    assert torch.equal(model_tr.nodes["_RETURN"]["value"], guide_tr.nodes["_RETURN"]["value"])
    assert torch.equal(model_tr.nodes["z"]["value"], guide_tr.nodes["z"]["value"])
    # Without replay the model draws other indices (1000 choose 7: never equal by chance).
    other = poutine.trace(model).get_trace()
    assert not torch.equal(other.nodes["_RETURN"]["value"], guide_tr.nodes["_RETURN"]["value"])


# -- sequential plates ------------------------------------------------------------


def test_plate_sequential_frames_carry_counters():
    def model():
        for i in tracegraph.plate("steps", 3):
            tracegraph.sample(f"x_{i}", dist.Normal(0.0, 1.0))

    tr = poutine.trace(model).get_trace()
    # As Pyro: the n-th iteration's counter is n, counting from 1.
    for i in range(3):
        assert _frames(tr, f"x_{i}") == (CondIndepStackFrame("steps", None, 3, i + 1, 3),)
        assert tr.nodes[f"x_{i}"]["value"].shape == ()
    assert get_handler_stack() == ()


def test_plate_sequential_inside_vectorized():
    def model():
        with tracegraph.plate("data", 2):
            for i in tracegraph.plate("steps", 2):
                tracegraph.sample(f"x_{i}", dist.Normal(0.0, 1.0))

    tr = poutine.trace(model).get_trace()
    assert [(f.name, f.dim, f.counter) for f in _frames(tr, "x_1")] == [
        ("data", -1, 0),
        ("steps", None, 2),
    ]
    assert tr.nodes["x_1"]["value"].shape == (2,)


def test_plate_sequential_subsample_iterates_indices_and_scales():
    def model():
        seen = []
        for i in tracegraph.plate("steps", 10, subsample_size=2):
            seen.append(i)
            tracegraph.sample(f"x_{i}", dist.Normal(0.0, 1.0))
        return seen

    tr = poutine.trace(model).get_trace()
    seen = tr.nodes["_RETURN"]["value"]
    assert len(seen) == 2 and len(set(seen)) == 2
    for i in seen:
        assert tr.nodes[f"x_{i}"]["scale"] == pytest.approx(5.0)


def test_plate_sequential_break_leaves_no_handler():
    def model():
        for i in tracegraph.plate("steps", 5):
            tracegraph.sample(f"x_{i}", dist.Normal(0.0, 1.0))
            if i == 1:
                break
        return len(get_handler_stack())

    tr = poutine.trace(model).get_trace()
    assert tr.nodes["_RETURN"]["value"] == 1  # only the trace handler is left


def test_plate_sequential_iterations_independent_in_dense_graph():
    def model():
        z = tracegraph.sample("z", dist.Normal(0.0, 1.0))
        for i in tracegraph.plate("steps", 2):
            tracegraph.sample(f"x_{i}", dist.Normal(z, 1.0))

    tr = poutine.trace(model, graph_type="dense").get_trace()
    assert sorted(tr.edges) == [("z", "x_0"), ("z", "x_1")]


def test_plate_subsample_size_and_indices_attributes():
    assert tracegraph.plate("p", 10, subsample_size=3).subsample_size == 3
    assert tracegraph.plate("p", 10).indices.tolist() == list(range(10))
