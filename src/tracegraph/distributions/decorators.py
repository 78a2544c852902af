"""Decorators for writing distribution classes: shared docstrings, weakly bound
methods, and quiet JIT tracing.

>>> class Base:
...     def f(self):
...         '''Base's doc.'''
>>> @copy_docs_from(Base, full_text=True)
... class Child(Base):
...     def f(self):
...         pass
>>> Child.f.__doc__
"Base's doc."
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

import torch

from tracegraph.ops.context_tools import ignore_jit_warnings

__all__ = [
    "copy_docs_from",
    "ignore_jit_warnings",
    "torch_jit_script_if_tracing",
    "weakmethod",
]

C = TypeVar("C", bound=type)

#: ``torch.jit.script_if_tracing``, under the name Pyro exports.
torch_jit_script_if_tracing = torch.jit.script_if_tracing


def copy_docs_from(source_class: type, full_text: bool = False) -> Callable[[C], C]:
    """Class decorator: give undocumented methods and properties the docs of the
    ones they override in ``source_class``.

    :param source_class: where the documented originals are.
    :param full_text: copy the whole docstring; otherwise write a reference
        ``"See :meth:`module.Class.name`"``.
    :returns: the decorator (which returns the class it is given).

    >>> class Base:
    ...     def f(self):
    ...         '''Doc.'''
    >>> @copy_docs_from(Base)
    ... class Child(Base):
    ...     def f(self):
    ...         pass
    >>> Child.f.__doc__ == f"See :meth:`{__name__}.Base.f`"
    True
    """

    def decorator(destin_class: C) -> C:
        for name, destin_attr in list(vars(destin_class).items()):
            if name.startswith("__") or getattr(destin_attr, "__doc__", None):
                continue
            source_attr = vars(source_class).get(name)
            source_doc = getattr(source_attr, "__doc__", None)
            if source_attr is None or not source_doc:
                continue
            if full_text:
                doc = source_doc
            else:
                doc = f"See :meth:`{source_class.__module__}.{source_class.__qualname__}.{name}`"
            if isinstance(destin_attr, property):
                setattr(
                    destin_class,
                    name,
                    property(destin_attr.fget, destin_attr.fset, destin_attr.fdel, doc),
                )
            else:
                target = getattr(destin_attr, "__func__", destin_attr)
                try:
                    target.__doc__ = doc
                except (AttributeError, TypeError):
                    continue
        return destin_class

    return decorator


def weakmethod(fn: Callable[..., Any]) -> property:
    """Bind a method weakly, so that passing ``self.method`` as a callback does not
    keep ``self`` alive (no reference cycle through the bound method).

    :param fn: the method.
    :returns: a property whose value is a callable holding only a weak reference;
        calling it after ``self`` was collected raises ``AttributeError``.

    >>> class Listener:
    ...     @weakmethod
    ...     def on_event(self, x):
    ...         return 2 * x
    >>> listener = Listener()
    >>> callback = listener.on_event
    >>> callback(3)
    6
    >>> del listener
    >>> callback(3)
    Traceback (most recent call last):
    ...
    AttributeError: self was garbage collected when calling self.on_event
    """

    def call_weakly(self_ref: weakref.ref[Any], *args: Any, **kwargs: Any) -> Any:
        self = self_ref()
        if self is None:
            raise AttributeError(f"self was garbage collected when calling self.{fn.__name__}")
        return fn(self, *args, **kwargs)

    def bound(self: Any) -> Callable[..., Any]:
        return functools.partial(call_weakly, weakref.ref(self))

    return property(bound, doc=fn.__doc__)


