import gc
import warnings

import pytest
import torch

from tracegraph.distributions.decorators import (
    copy_docs_from,
    ignore_jit_warnings,
    torch_jit_script_if_tracing,
    weakmethod,
)


class Base:
    def f(self):
        """Doc of f."""

    def g(self):
        """Doc of g."""

    @property
    def p(self):
        """Doc of p."""
        return 1


def test_copy_docs_from_references_or_copies_undocumented_overrides():
    @copy_docs_from(Base)
    class Child(Base):
        def f(self):
            pass

        def g(self):
            """Own doc."""

        @property
        def p(self):
            return 2

        def h(self):
            pass

    assert Child.f.__doc__ == f"See :meth:`{__name__}.Base.f`"
    assert Child.g.__doc__ == "Own doc." and Child.h.__doc__ is None
    assert Child.p.__doc__ == f"See :meth:`{__name__}.Base.p`" and Child().p == 2

    @copy_docs_from(Base, full_text=True)
    class Full(Base):
        def f(self):
            pass

    assert Full.f.__doc__ == "Doc of f."


def test_weakmethod_breaks_the_reference_cycle():
    class Holder:
        def __init__(self):
            self.callback = self.on_event

        @weakmethod
        def on_event(self, x):
            return x + 1

    holder = Holder()
    assert holder.callback(1) == 2
    callback = holder.callback
    del holder
    gc.collect()
    with pytest.raises(AttributeError, match="garbage collected"):
        callback(1)


def test_ignore_jit_warnings_outside_tracing_changes_no_filter():
    with ignore_jit_warnings():
        with pytest.warns(torch.jit.TracerWarning):
            warnings.warn("still reported", torch.jit.TracerWarning, stacklevel=1)


@pytest.mark.filterwarnings("ignore:`torch.jit.trace` is deprecated:DeprecationWarning")
def test_ignore_jit_warnings_while_tracing_silences_tracer_warnings():
    def f(x):
        with ignore_jit_warnings():
            return x * int(x.sum())  # int() of a traced value warns

    traced = torch.jit.trace(f, torch.ones(2))  # warnings are errors in this suite
    assert torch.equal(traced(torch.ones(2)), torch.full((2,), 2.0))


def test_torch_jit_script_if_tracing_is_torchs():
    assert torch_jit_script_if_tracing is torch.jit.script_if_tracing
