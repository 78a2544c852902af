"""Control-flow leaks, scopes (thread/asyncio isolation) and strict mode state."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import numpy as np
import pytest
import torch

from tracegraph.ops.provenance import (
    control_flow,
    control_flow_scope,
    current_control_flow,
    get_provenance,
    is_strict,
    record_control_flow,
    register_assertion,
    set_strict,
    strict,
    track_provenance,
)

A, B = frozenset({"a"}), frozenset({"b"})


def tracked(x: torch.Tensor, prov: frozenset = A) -> torch.Tensor:
    return track_provenance(x, prov)


LEAKS = {
    "bool": lambda t: bool(t[0]),
    "if": lambda t: 1 if t[0] > 0 else 0,
    "item": lambda t: t[0].item(),
    "int": lambda t: int(t[0]),
    "float": lambda t: float(t[0]),
    "tolist": lambda t: t.tolist(),
    "numpy": lambda t: t.numpy(),
    "np.asarray": lambda t: np.asarray(t),
    "index": lambda t: [10, 20, 30][t.long()[1]],
    "range": lambda t: list(range(t.long()[1])),
    "equal": lambda t: torch.equal(t, t),
    "allclose": lambda t: torch.allclose(t, torch.ones(3)),
    "any_bool": lambda t: bool((t > 0).any()),
    "all_bool": lambda t: bool((t > 0).all()),
    "contains": lambda t: 1.0 in t,
    "is_nonzero": lambda t: t[0].is_nonzero(),
    "complex": lambda t: complex(t[0]),
}


@pytest.mark.parametrize("name", list(LEAKS))
def test_value_deciding_control_flow_is_recorded(name: str) -> None:
    t = tracked(torch.tensor([1.0, 1.0, 2.0]))
    with control_flow_scope() as scope:
        assert current_control_flow() == frozenset()
        LEAKS[name](t)
        assert current_control_flow() == A
    assert scope.provenance == A


@pytest.mark.parametrize("name", list(LEAKS))
def test_leaks_outside_any_scope_just_work(name: str) -> None:
    LEAKS[name](tracked(torch.tensor([1.0, 1.0, 2.0])))
    assert current_control_flow() == frozenset()


def test_metadata_display_and_iteration_are_not_control_flow() -> None:
    t = tracked(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
    with control_flow_scope() as scope:
        _ = (t.shape, t.size(), t.dim(), t.numel(), len(t), t.dtype, t.device, t.requires_grad)
        _ = (repr(t), str(t), f"{t[0, 0]:.3f}", hash(t))
        rows = list(t)
    assert scope.provenance == frozenset()
    assert all(get_provenance(row) == A for row in rows)


def test_data_dependent_shape_reads_are_control_flow() -> None:
    t = tracked(torch.tensor([0.0, 2.0, 3.0]))
    plain_mask_selection = t[torch.tensor([True, False, True])]
    reads = {
        "shape": lambda s: s.shape,
        "size": lambda s: s.size(),
        "len": len,
        "numel": lambda s: s.numel(),
        "iter": lambda s: list(s),
        "derived": lambda s: (s * 2).shape,
    }
    for name, read in reads.items():
        selected = t[t > 1]
        with control_flow_scope() as scope:
            read(selected)
        assert scope.provenance == A, name
    with control_flow_scope() as scope:
        _ = plain_mask_selection.shape  # a plain mask: the shape is a constant
        _ = torch.nonzero(t).dim()
    assert scope.provenance == frozenset()


def test_nested_scopes_all_receive_each_leak() -> None:
    a, b = tracked(torch.tensor(1.0), A), tracked(torch.tensor(1.0), B)
    with control_flow_scope() as outer:
        bool(a)
        with control_flow_scope() as inner:
            bool(b)
            assert current_control_flow() == B
        assert current_control_flow() == A | B
    assert inner.provenance == B and outer.provenance == A | B


def test_scope_is_reset_when_an_exception_escapes() -> None:
    with pytest.raises(KeyError), control_flow_scope():
        raise KeyError("boom")
    record_control_flow(A)
    assert current_control_flow() == frozenset()


def test_scopes_in_two_threads_do_not_see_each_other() -> None:
    barrier = threading.Barrier(2)
    results: dict[str, frozenset] = {}

    def work(name: str) -> None:
        t = tracked(torch.tensor(1.0), frozenset({name}))
        with control_flow_scope() as scope:
            barrier.wait()
            for _ in range(50):
                bool(t)
            barrier.wait()
        results[name] = scope.provenance

    threads = [threading.Thread(target=work, args=(n,)) for n in ("x", "y")]
    with control_flow_scope() as main_scope:
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    assert results == {"x": frozenset({"x"}), "y": frozenset({"y"})}
    assert main_scope.provenance == frozenset()


def test_copied_context_shares_the_scope_object_safely() -> None:
    with control_flow_scope() as scope:
        ctx = contextvars.copy_context()
        threads = [
            threading.Thread(target=ctx.copy().run, args=(record_control_flow, {f"s{i}"}))
            for i in range(8)
        ]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    assert scope.provenance == frozenset(f"s{i}" for i in range(8))


def test_asyncio_tasks_have_separate_scopes() -> None:
    async def task(name: str) -> frozenset:
        t = tracked(torch.tensor(1.0), frozenset({name}))
        with control_flow_scope() as scope:
            await asyncio.sleep(0)
            bool(t)
            await asyncio.sleep(0)
        return scope.provenance

    async def main() -> list[frozenset]:
        return list(await asyncio.gather(task("p"), task("q")))

    assert asyncio.run(main()) == [frozenset({"p"}), frozenset({"q"})]


def test_registered_assertion_callers_are_not_recorded() -> None:
    t = tracked(torch.tensor([1.0, 2.0]))

    def validate(x: torch.Tensor) -> None:
        if not (x > 0).all():
            raise ValueError("expected positive values")

    def branch(x: torch.Tensor) -> int:
        return 1 if (x > 0).all() else 0

    register_assertion(validate)
    with control_flow_scope() as scope:
        validate(t)
    assert scope.provenance == frozenset()
    with control_flow_scope() as scope:
        branch(t)
    assert scope.provenance == A


def test_distribution_validation_leaks_only_when_unregistered() -> None:
    loc = tracked(torch.zeros(2))
    saved = set(control_flow._ASSERTION_CODES)
    try:
        control_flow._ASSERTION_CODES.clear()
        with control_flow_scope() as scope:
            torch.distributions.Normal(loc, 1.0, validate_args=True)
        assert scope.provenance == A  # the validation bool would leak...
    finally:
        control_flow._ASSERTION_CODES.update(saved)
    with control_flow_scope() as scope:
        torch.distributions.Normal(loc, 1.0, validate_args=True).log_prob(loc)
    assert scope.provenance == frozenset()  # ...but it only decides raise-or-go-on


def test_strict_mode_is_context_local_and_restored() -> None:
    assert not is_strict()
    with strict():
        assert is_strict()
        with strict(False):
            assert not is_strict()
        seen = []
        th = threading.Thread(target=lambda: seen.append(is_strict()))
        th.start()
        th.join()
        assert seen == [False]
    assert not is_strict()
    ctx = contextvars.copy_context()
    ctx.run(set_strict, True)
    assert ctx.run(is_strict) and not is_strict()


def test_scope_repr_lists_sorted_names() -> None:
    with control_flow_scope() as scope:
        record_control_flow({"b", "a"})
    assert repr(scope) == "ControlFlowScope(provenance={'a', 'b'})"
