"""get_plate_stacks, get_dependent_plate_dims, MultiFrameTensor, plate_log_prob_sum."""

import pytest
import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph import poutine
from tracegraph.errors import ShapeError
from tracegraph.infer.plate_sums import (
    MultiFrameTensor,
    get_dependent_plate_dims,
    get_plate_stacks,
    plate_log_prob_sum,
)
from tracegraph.poutine.runtime import CondIndepStackFrame as F

A = F("a", -1, 3, 0)
B = F("b", -2, 2, 0)
S = F("s", None, 1, 0)


def _model():
    with tracegraph.plate("a", 2, dim=-1):
        tracegraph.sample("x", dist.Normal(0.0, 1.0))
        with tracegraph.plate("b", 3, dim=-2):
            tracegraph.sample("y", dist.Normal(0.0, 1.0))
    for i in tracegraph.plate("s", 2):
        tracegraph.sample(f"z{i}", dist.Normal(0.0, 1.0))
    with tracegraph.plate("c", 10, subsample_size=2):
        tracegraph.sample("w", dist.Normal(0.0, 1.0))


def test_get_plate_stacks_lists_vectorized_plates_per_sample_site():
    stacks = get_plate_stacks(poutine.trace(_model).get_trace())
    assert {k: [f.name for f in v] for k, v in stacks.items()} == {
        "x": ["a"], "y": ["a", "b"], "z0": [], "z1": [], "w": ["c"]
    }


def test_get_dependent_plate_dims_not_shared_by_all():
    tr = poutine.trace(_model).get_trace()
    sites = [tr.nodes[n] for n in ("x", "y", "z0")]
    assert get_dependent_plate_dims(sites) == [-2, -1]
    assert get_dependent_plate_dims(sites[:2]) == [-2]
    assert get_dependent_plate_dims(sites[1:2]) == [] and get_dependent_plate_dims([]) == []


def test_multi_frame_tensor_sums_to_target_context():
    m = MultiFrameTensor(
        ((A,), torch.ones(3)), ((A, B), torch.full((2, 3), 2.0)), ((), torch.tensor(5.0))
    )
    assert torch.equal(m.sum_to((A,)), torch.full((3,), 10.0))
    assert torch.equal(m.sum_to(()), torch.tensor(20.0))
    assert torch.equal(m.sum_to((A, B)), torch.full((2, 3), 8.0))
    # dim -1 summed with keepdim: (2, 1)
    assert torch.equal(m.sum_to((B,)), torch.full((2, 1), 14.0))


def test_multi_frame_tensor_add_accumulates_and_ignores_sequential_frames():
    m = MultiFrameTensor(((A, S), torch.ones(3)))
    assert list(m) == [frozenset({A})]
    m.add(((A,), torch.ones(2, 3)))
    assert m[frozenset({A})].shape == (2, 3)
    assert torch.equal(m.sum_to(()), torch.full((2, 1), 6.0))


def test_multi_frame_tensor_drops_leading_size_one_dims():
    assert MultiFrameTensor(((A,), torch.ones(1, 1, 3))).sum_to((A,)).shape == (3,)
    assert MultiFrameTensor(((), torch.ones(1, 2))).sum_to(()).shape == (2,)
    assert MultiFrameTensor(((B,), torch.ones(1, 2, 1))).sum_to((B,)).shape == (2, 1)
    assert MultiFrameTensor().sum_to(()) == 0.0


def test_multi_frame_tensor_value_without_plate_dim_raises():
    with pytest.raises(ShapeError, match="no dim for plate"):
        MultiFrameTensor(((A,), torch.tensor(2.0)))


def test_multi_frame_tensor_repr_names_contexts():
    assert repr(MultiFrameTensor(((), torch.ones(1)))) == "MultiFrameTensor(({}, ...))"


def test_plate_log_prob_sum_keeps_one_plate():
    def model():
        g = tracegraph.sample("g", dist.Normal(0.0, 1.0))
        with tracegraph.plate("p", 4, dim=-2):
            z = tracegraph.sample("z", dist.Normal(g, 1.0))
            with tracegraph.plate("d", 3, dim=-1):
                tracegraph.sample("x", dist.Normal(z, 1.0))

    tr = poutine.trace(model).get_trace()
    tr.pack_tensors()
    got = plate_log_prob_sum(tr, tr.plate_to_symbol["p"])
    n = tr.nodes
    expected = n["g"]["log_prob"] + n["z"]["log_prob"].reshape(4) + n["x"]["log_prob"].sum(-1)
    assert got.shape == (4,) and torch.allclose(got, expected)
