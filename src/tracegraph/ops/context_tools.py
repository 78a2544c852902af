"""Small context managers and warning filters shared by the package (Pyro's
``timed``, ``optional``, ``ignore_jit_warnings``, ``jit_iter``,
``ignore_experimental_warning``).

>>> with timed() as t:
...     _ = sum(range(10))
>>> t.elapsed >= 0.0
True
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import torch

from tracegraph.errors import ExperimentalWarning

__all__ = ["ignore_experimental_warning", "ignore_jit_warnings", "jit_iter", "optional", "timed"]


class timed:
    """Measure the wall-clock time of a ``with`` block: ``start``, ``end`` and
    ``elapsed`` (seconds, from :func:`time.perf_counter`).

    >>> with timed() as t:
    ...     pass
    >>> t.end >= t.start and t.elapsed == t.end - t.start
    True
    """

    def __enter__(self) -> timed:
        self.start = time.perf_counter()
        return self

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        self.end = time.perf_counter()
        self.elapsed = self.end - self.start


class optional:
    """Enter ``context_manager`` only if ``condition`` is true; ``with`` gives what
    it gives, else ``None``.

    >>> import contextlib
    >>> with optional(contextlib.nullcontext(5), False) as v:
    ...     v is None
    True
    >>> with optional(contextlib.nullcontext(5), True) as v:
    ...     v
    5
    """

    def __init__(self, context_manager: AbstractContextManager[Any], condition: bool) -> None:
        self.context_manager = context_manager
        self.condition = condition

    def __enter__(self) -> Any:
        if self.condition:
            return self.context_manager.__enter__()
        return None

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> Any:
        if self.condition:
            return self.context_manager.__exit__(exc_type, exc_value, traceback)
        return None


@contextmanager
def ignore_jit_warnings(filter: list[Any] | None = None) -> Iterator[None]:
    """Ignore torch's JIT tracer warnings inside the block, when it runs under
    ``torch.jit.trace`` (elsewhere it does nothing).

    :param filter: messages (str) or ``(message, Warning class)`` pairs to ignore;
        by default every ``torch.jit.TracerWarning``.

    >>> with ignore_jit_warnings():
    ...     pass
    """
    if not torch.jit.is_tracing():
        yield
        return
    with warnings.catch_warnings():
        if filter is None:
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        else:
            for rule in filter:
                if isinstance(rule, tuple):
                    warnings.filterwarnings("ignore", message=rule[0], category=rule[1])
                else:
                    warnings.filterwarnings(
                        "ignore", message=rule, category=torch.jit.TracerWarning
                    )
        yield


def jit_iter(tensor: torch.Tensor) -> list[torch.Tensor]:
    """The slices ``tensor[0], tensor[1], ...`` (tracer warnings ignored).

    >>> jit_iter(torch.arange(3))
    [tensor(0), tensor(1), tensor(2)]
    """
    with ignore_jit_warnings([("Iterating over a tensor", torch.jit.TracerWarning)]):
        return list(tensor)


@contextmanager
def ignore_experimental_warning() -> Iterator[None]:
    """Silence :class:`~tracegraph.errors.ExperimentalWarning` inside the block.

    >>> with ignore_experimental_warning():
    ...     warnings.warn("new", ExperimentalWarning)
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ExperimentalWarning)
        yield
