"""timed, optional and the warning filters."""

from __future__ import annotations

import contextlib
import warnings

import pytest
import torch

from tracegraph.errors import ExperimentalWarning
from tracegraph.ops.context_tools import (
    ignore_experimental_warning,
    ignore_jit_warnings,
    jit_iter,
    optional,
    timed,
)


def test_timed_measures_the_block():
    with timed() as t:
        sum(range(1000))
    assert t.elapsed == t.end - t.start and t.elapsed >= 0.0


def test_optional_enters_only_when_asked():
    entered = []

    @contextlib.contextmanager
    def cm():
        entered.append(1)
        yield "value"

    with optional(cm(), False) as v:
        assert v is None
    with optional(cm(), True) as v:
        assert v == "value"
    assert entered == [1]


def test_optional_passes_exceptions_through():
    with pytest.raises(KeyError), optional(contextlib.nullcontext(), True):
        raise KeyError


def test_ignore_experimental_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with ignore_experimental_warning():
            warnings.warn("new", ExperimentalWarning, stacklevel=1)
        with pytest.raises(ExperimentalWarning):
            warnings.warn("new", ExperimentalWarning, stacklevel=1)


def test_jit_iter_and_ignore_jit_warnings_outside_tracing():
    with ignore_jit_warnings():
        assert [t.item() for t in jit_iter(torch.arange(3))] == [0, 1, 2]


def test_ignore_jit_warnings_inside_tracing():
    def f(x):
        with ignore_jit_warnings():
            return sum(jit_iter(x))

    with warnings.catch_warnings():
        warnings.simplefilter("error", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", "`torch.jit.trace` is deprecated", DeprecationWarning)
        traced = torch.jit.trace(f, (torch.arange(3.0),), check_trace=False)
    assert traced(torch.ones(3)).item() == 3.0
