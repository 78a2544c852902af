"""Property-based laws of provenance tracking (Hypothesis, derandomized).

Each example runs one random program twice, once on plain tensors and once on
tracked copies (separate storage), and checks after every step:

* values are those of the plain computation, bit for bit (NaNs at equal places);
* metadata is exact (``type(t.shape) is torch.Size``, shape, dtype, requires_grad);
* union law: a functional op's output has exactly the union of its inputs';
* mutation never drops provenance: a model of "what was written into which
  storage" predicts every tensor's provenance exactly (views share storage);
* detach law: ``detach_provenance`` gives the plain value, the same object each time.

A separate law checks that gradients are unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tracegraph.ops.provenance import (
    ProvenanceTensor,
    detach_provenance,
    extract_provenance,
    get_provenance,
    track_provenance,
)

NAMES = ["a", "b", "c", "d"]
SETTINGS = settings(
    derandomize=True,
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
INDEX_PROV = frozenset({"i"})

UNARY: dict[str, Callable[[Any], Any]] = {
    "exp": lambda x: torch.exp(x.tanh()),
    "neg": lambda x: -x,
    "sigmoid": torch.sigmoid,
    "sin": lambda x: x.sin(),
    "scale": lambda x: x * 0.5,
    "rsub": lambda x: 1 - x,
    "square": lambda x: x**2,
    "softplus": F.softplus,
    "clamp": lambda x: x.clamp(min=-1.0, max=1.0),
    "log1p": lambda x: torch.log1p(x.abs()),
    "sum_kw": lambda x: x.sum(dim=-1, keepdim=True).expand_as(x) * 1.0,
    "logsumexp_kw": lambda x: torch.logsumexp(x, dim=-1, keepdim=True) - x,
    "amax_kw": lambda x: x - x.amax(dim=-1, keepdim=True),
    "mean_kw": lambda x: x.mean(dim=0, keepdim=True) + x,
    "cumsum_kw": lambda x: torch.cumsum(x, dim=-1),
    "index_op": lambda x: x[0] * torch.ones_like(x),
}
BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "add": lambda a, b: (a + b) * 0.5,
    "sub": lambda a, b: (a - b) * 0.5,
    "mul": lambda a, b: a * b.tanh(),
    "maximum": torch.maximum,
    "where": lambda a, b: torch.where(a > 0, a, b),
    "stack_sum": lambda a, b: torch.stack([a, b]).sum(0),
    "atan2": torch.atan2,
    "matmul_like": lambda a, b: (a.unsqueeze(-1) @ b.unsqueeze(-2)).sum(-1),
}
# Shape-preserving ops returning tensors that share storage with the input.
VIEWS: dict[str, Callable[[Any], Any]] = {
    "view_as": lambda x: x.view_as(x),
    "ellipsis": lambda x: x[...],
    "slice": lambda x: x[:],
    "unsqueeze_squeeze": lambda x: x.unsqueeze(0).squeeze(0),
    "transpose_twice": lambda x: x.transpose(0, -1).transpose(0, -1),
    "detach": lambda x: x.detach(),
    "data": lambda x: x.data,
}


def _mask_fill(t: Any, u: Any, idx: Any) -> None:
    t.masked_fill_(u > 0, 0.25)


def _setitem_index(t: Any, u: Any, idx: Any) -> None:
    t[idx] = u[idx]


def _iadd(t: Any, u: Any, idx: Any) -> None:
    t += u


# name -> (mutation of ``t`` reading ``u``/``idx``, reads u, reads idx)
MUTATIONS: dict[str, tuple[Callable[[Any, Any, Any], Any], bool, bool]] = {
    "add_": (lambda t, u, idx: t.add_(u), True, False),
    "mul_": (lambda t, u, idx: t.mul_(0.5), False, False),
    "copy_": (lambda t, u, idx: t.copy_(u), True, False),
    "tanh_": (lambda t, u, idx: t.tanh_(), False, False),
    "clamp_": (lambda t, u, idx: t.clamp_(min=-0.5), False, False),
    "setitem_int": (lambda t, u, idx: t.__setitem__(0, u[0]), True, False),
    "setitem_index": (_setitem_index, True, True),
    "out=": (lambda t, u, idx: torch.mul(u, 0.5, out=t), True, False),
    "iadd": (_iadd, True, False),
    "masked_fill_": (_mask_fill, True, False),
}


@dataclass
class Entry:
    plain: torch.Tensor
    tracked: torch.Tensor
    expected: frozenset
    group: int  # entries of one group share storage


@dataclass
class World:
    entries: list[Entry] = field(default_factory=list)
    groups: int = 0

    def add(self, plain: Any, tracked: Any, expected: frozenset, group: int | None = None) -> None:
        if group is None:
            group, self.groups = self.groups, self.groups + 1
        self.entries.append(Entry(plain, tracked, expected, group))


def same_values(a: torch.Tensor, b: torch.Tensor) -> None:
    torch.testing.assert_close(a, detach_provenance(b), rtol=0, atol=0, equal_nan=True)


def check_entry(e: Entry) -> None:
    t = e.tracked
    assert type(t.shape) is torch.Size and type(t.size()) is torch.Size
    assert t.shape == e.plain.shape and t.dtype == e.plain.dtype
    assert t.requires_grad == e.plain.requires_grad
    same_values(e.plain, t)
    assert get_provenance(t) == e.expected
    plain = detach_provenance(t)
    assert type(plain) is torch.Tensor and detach_provenance(t) is plain


shapes = st.sampled_from([(3,), (2, 3)])
provs = st.frozensets(st.sampled_from(NAMES), max_size=3)


def initial_world(seed: int, shape: tuple, leaf_provs: list[frozenset]) -> World:
    gen = torch.Generator().manual_seed(seed)
    world = World()
    for prov in leaf_provs:
        value = torch.randn(shape, generator=gen)
        world.add(value, track_provenance(value.clone(), prov), prov)
    return world


step = st.one_of(
    st.tuples(st.just("unary"), st.sampled_from(sorted(UNARY)), st.integers(0, 99)),
    st.tuples(
        st.just("binary"), st.sampled_from(sorted(BINARY)), st.integers(0, 99), st.integers(0, 99)
    ),
    st.tuples(st.just("view"), st.sampled_from(sorted(VIEWS)), st.integers(0, 99)),
    st.tuples(
        st.just("mutate"),
        st.sampled_from(sorted(MUTATIONS)),
        st.integers(0, 99),
        st.integers(0, 99),
    ),
    # make an alias of the last entry, then write into the alias or into its source
    st.tuples(
        st.just("alias_then_mutate"),
        st.sampled_from(sorted(VIEWS)),
        st.sampled_from(sorted(MUTATIONS)),
        st.booleans(),
        st.integers(0, 99),
    ),
)


def apply_step(world: World, step_: tuple, index: Any, tracked_index: Any) -> None:
    kind, name, *picks = step_
    operands = [world.entries[i % len(world.entries)] for i in picks]
    if kind == "unary" or kind == "binary":
        fn = UNARY[name] if kind == "unary" else BINARY[name]
        union = frozenset().union(*(get_provenance(e.tracked) for e in operands))
        out = fn(*(e.tracked for e in operands))
        assert get_provenance(out) == union  # the union law
        world.add(fn(*(e.plain for e in operands)), out, union)
    elif kind == "view":
        source = operands[0]
        if not isinstance(source.tracked, ProvenanceTensor):
            return  # documented gap: aliases of still-plain tensors are out of reach
        world.add(
            VIEWS[name](source.plain), VIEWS[name](source.tracked), source.expected, source.group
        )
        event("alias created")
    else:
        target, value = operands
        mutate, reads_value, reads_index = MUTATIONS[name]
        written = target.expected
        if reads_value:
            written = written | value.expected
        if reads_index:
            written = written | INDEX_PROV
        mutate(target.plain, value.plain, index)
        mutate(target.tracked, value.tracked, tracked_index)
        aliases = [e for e in world.entries if e.group == target.group]
        for e in aliases:  # every alias of the written storage may have changed
            e.expected = e.expected | written
        event(f"mutation of storage with {min(len(aliases), 3)}+ aliases")


@SETTINGS
@given(
    seed=st.integers(0, 2**16),
    shape=shapes,
    leaf_provs=st.lists(provs, min_size=2, max_size=4),
    program=st.lists(step, min_size=1, max_size=12),
)
def test_random_programs_obey_value_union_mutation_and_detach_laws(
    seed, shape, leaf_provs, program
) -> None:
    world = initial_world(seed, shape, leaf_provs)
    index = torch.tensor([1])
    tracked_index = track_provenance(index.clone(), INDEX_PROV)
    for kind, name, *picks in program:
        if kind == "alias_then_mutate":
            mutation, write_alias, value_pick = picks
            steps: list[tuple[Any, ...]] = [("view", name, len(world.entries) - 1)]
            steps.append(
                ("mutate", mutation, -1 if write_alias else len(world.entries) - 1, value_pick)
            )
        else:
            steps = [(kind, name, *picks)]
        for step_ in steps:
            apply_step(world, step_, index, tracked_index)
        for e in world.entries:
            check_entry(e)


@SETTINGS
@given(
    seed=st.integers(0, 2**16),
    shape=shapes,
    leaf_provs=st.lists(provs, min_size=1, max_size=3),
    program=st.lists(
        st.one_of(
            st.tuples(st.sampled_from(sorted(set(UNARY) - {"log1p"})), st.integers(0, 99)),
            st.tuples(
                st.sampled_from(sorted(set(BINARY) - {"atan2", "maximum"})),
                st.integers(0, 99),
                st.integers(0, 99),
            ),
        ),
        min_size=1,
        max_size=8,
    ),
)
def test_gradients_are_bitwise_those_of_the_plain_computation(
    seed, shape, leaf_provs, program
) -> None:
    gen = torch.Generator().manual_seed(seed)
    leaves = [torch.randn(shape, generator=gen, requires_grad=True) for _ in leaf_provs]
    twins = [leaf.detach().clone().requires_grad_() for leaf in leaves]
    plain = list(leaves)
    tracked = [track_provenance(t, p) for t, p in zip(twins, leaf_provs)]
    for name, *picks in program:
        fn = UNARY[name] if name in UNARY else BINARY[name]
        plain.append(fn(*(plain[i % len(plain)] for i in picks)))
        tracked.append(fn(*(tracked[i % len(tracked)] for i in picks)))
        assert type(tracked[-1].grad_fn) is type(plain[-1].grad_fn)
    torch.stack([p.sum() for p in plain]).sum().backward()
    torch.stack([t.sum() for t in tracked]).sum().backward()
    for leaf, twin, t in zip(leaves, twins, tracked):
        torch.testing.assert_close(leaf.grad, twin.grad, rtol=0, atol=0, equal_nan=True)
        assert t.is_leaf and t.grad is twin.grad


leaf_values = st.one_of(
    st.none(),
    st.integers(-3, 3),
    st.floats(-2, 2),
    st.text(max_size=2),
    st.integers(1, 3).map(lambda n: torch.arange(float(n))),
)
nested = st.recursive(
    leaf_values,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.lists(children, max_size=3).map(tuple),
        st.dictionaries(st.text(max_size=2), children, max_size=3),
    ),
    max_leaves=8,
)


def contains_tensor(x: Any) -> bool:
    if isinstance(x, torch.Tensor):
        return True
    if isinstance(x, dict):
        return any(contains_tensor(v) for v in x.values())
    if isinstance(x, (list, tuple)):
        return any(contains_tensor(v) for v in x)
    return False


def same_structure(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor):
        return a is b
    if isinstance(a, dict):
        return (
            type(a) is type(b)
            and a.keys() == b.keys()
            and all(same_structure(a[k], b[k]) for k in a)
        )
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(same_structure, a, b))
    return a == b or a is b


@SETTINGS
@given(value=nested, prov=provs)
def test_nested_containers_obey_track_extract_detach_laws(value, prov) -> None:
    tracked = track_provenance(value, prov)
    expected = prov if contains_tensor(value) else frozenset()
    assert get_provenance(tracked) == expected
    plain, found = extract_provenance(tracked)
    assert found == expected
    assert same_structure(value, plain)  # the very same tensor objects come back
    assert same_structure(value, detach_provenance(tracked))
    assert detach_provenance(value) is value
    if not prov:
        assert tracked is value
