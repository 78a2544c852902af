"""The record digest: one SHA-256 over a canonical serialization of a payload."""

from __future__ import annotations

import collections
import itertools
from typing import Any

import pytest
import torch

from tracegraph.errors import ParamFileError
from tracegraph.params.payload_digest import payload_digest, tensor_digest

# Values no two of which may serialize alike: each differs from the others in
# type, in a single bit, in order or in nesting only.
_DISTINCT: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    -1,
    2**80,
    0.0,
    -0.0,
    1.0,
    float("inf"),
    complex(0.0, 1.0),
    "",
    "a",
    "`",
    "\ud800",  # a lone surrogate is still a str a param may be named
    b"",
    b"a",
    (),
    [],
    {},
    ("a",),
    ["a"],
    ("a", "b"),
    ("b", "a"),
    (("a",), "b"),
    ("a", ("b",)),
    {"a": 1},
    {"a": 1.0},
    {"a": {"name": "positive"}},
    {"a": {"name": "positive"}, "b": {"name": "real"}},
    {"b": {"name": "real"}, "a": {"name": "positive"}},
    {"a": {"name": "real"}, "b": {"name": "positive"}},
    {1: "a"},
    {"1": "a"},
    {(1,): "a"},
]


def test_payload_digest_distinct_values_distinct_digests():
    digests = [payload_digest(value) for value in _DISTINCT]
    clashes = [
        (a, b)
        for (a, da), (b, db) in itertools.combinations(zip(_DISTINCT, digests), 2)
        if da == db
    ]
    assert clashes == []


def test_payload_digest_same_value_same_digest_across_copies():
    def make() -> dict[str, Any]:
        return {"params": {"a": torch.arange(3.0)}, "n": [1, 2.5, None, ("x", b"y")]}

    assert payload_digest(make()) == payload_digest(make())


@pytest.mark.parametrize(
    "other",
    [
        torch.tensor([0.0, 1.0, 2.0 + 2**-20]),  # one bit of the data
        torch.arange(3.0, dtype=torch.float64),  # dtype
        torch.arange(3.0).reshape(1, 3),  # shape
        torch.arange(3.0).requires_grad_(True),  # requires_grad
        torch.tensor([9.0, 0.0, 1.0, 2.0])[1:],  # equal values at a storage offset
        torch.tensor([0.0, 9.0, 1.0, 9.0, 2.0, 9.0])[::2],  # equal values, stride 2
    ],
)
def test_payload_digest_tensor_any_difference_changes_digest(other: torch.Tensor):
    assert payload_digest({"a": torch.arange(3.0)}) != payload_digest({"a": other})


def test_payload_digest_shared_storage_recorded():
    a, b = torch.zeros(2), torch.zeros(2)
    assert payload_digest([a, a]) != payload_digest([a, b])
    assert payload_digest([a, b]) == payload_digest([b, a])
    # empty tensors have no storage identity to record
    empty = torch.zeros(0)
    assert payload_digest([empty, empty]) == payload_digest([empty, torch.zeros(0)])


def test_payload_digest_uses_given_tensor_digest_once_per_tensor():
    calls: list[int] = []

    def counting(tensor: torch.Tensor) -> str:
        calls.append(id(tensor))
        return tensor_digest(tensor)

    t = torch.ones(2)
    assert payload_digest({"a": t}, counting) == payload_digest({"a": t})
    assert calls == [id(t)]


@pytest.mark.parametrize(
    "value",
    [
        object(),
        collections.OrderedDict(a=1),  # a subclass of dict is not what a file holds
        torch.nn.Parameter(torch.zeros(1)),
        torch.zeros(2).to_sparse(),
        {1, 2},
    ],
)
def test_payload_digest_unexpected_object_refused(value: Any):
    with pytest.raises(ParamFileError, match="unexpected object of type"):
        payload_digest({"x": [value]})


def test_tensor_digest_views_digest_their_values():
    base = torch.arange(6.0)
    assert tensor_digest(base[::2]) == tensor_digest(torch.tensor([0.0, 2.0, 4.0]))
    assert tensor_digest(torch.zeros(()).expand(1)) == tensor_digest(torch.zeros(1))
    assert tensor_digest(torch.zeros(0)) != tensor_digest(torch.zeros(0, 1))
