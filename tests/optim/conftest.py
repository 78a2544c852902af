"""Fixtures for the optimizer tests (the clean state is the root conftest's)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from tracegraph.params.param_store import get_param_store


@pytest.fixture
def make_param() -> Callable[[str, torch.Tensor], torch.Tensor]:
    """Store ``value`` under ``name`` (constraint real) and return its unconstrained leaf."""

    def make(name: str, value: torch.Tensor) -> torch.Tensor:
        store = get_param_store()
        store[name] = value
        return dict(store.named_parameters())[name]

    return make


def _assert_same(a: object, b: object, path: str = "state") -> None:
    assert type(a) is type(b), f"{path}: {type(a).__name__} vs {type(b).__name__}"
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor)
        assert a.dtype == b.dtype and torch.equal(a, b), f"{path}: {a} vs {b}"
    elif isinstance(a, dict):
        assert isinstance(b, dict)
        assert list(a) == list(b), f"{path}: keys {list(a)} vs {list(b)}"
        for key in a:
            _assert_same(a[key], b[key], f"{path}[{key!r}]")
    elif isinstance(a, list | tuple):
        assert isinstance(b, list | tuple) and len(a) == len(b), f"{path}: {a} vs {b}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same(x, y, f"{path}[{i}]")
    else:
        assert a == b, f"{path}: {a!r} vs {b!r}"


@pytest.fixture
def assert_same_state() -> Callable[[object, object], None]:
    """Assert two nested states are equal bit for bit (tensors via torch.equal)."""
    return _assert_same
