"""Exhaustive exploration of a program's discrete choices through a queue of
partial traces (Pyro's ``poutine.queue``).

Each call takes a partial trace from the queue and runs the program, replaying
the sites the trace has.  At the first site ``escape_fn`` selects the run stops
(:class:`~tracegraph.poutine.runtime.NonlocalExit`), ``extend_fn`` turns the
partial trace into its extensions by that site, which go into the queue, and the
next partial trace is tried.  A run that reaches the end returns its value.

>>> import queue as queues
>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> from tracegraph import poutine
>>> def coin_pair():
...     a = tracegraph.sample("a", dist.Bernoulli(0.5))
...     b = tracegraph.sample("b", dist.Bernoulli(0.5))
...     return int(a), int(b)
>>> q = queues.LifoQueue()
>>> q.put(poutine.Trace())
>>> explore = queue(coin_pair, queue=q)
>>> sorted(explore() for _ in range(4)), q.empty()
([(0, 0), (0, 1), (1, 0), (1, 1)], True)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from tracegraph.errors import HandlerAssertionError, HandlerError
from tracegraph.poutine.escape_messenger import EscapeMessenger
from tracegraph.poutine.messenger import HandledFunction
from tracegraph.poutine.replay_messenger import ReplayMessenger
from tracegraph.poutine.runtime import NonlocalExit
from tracegraph.poutine.trace_extension import discrete_escape, enum_extend
from tracegraph.poutine.trace_messenger import TraceHandler, TraceMessenger

__all__ = ["queue"]


def queue(
    fn: Callable[..., Any] | None = None,
    queue: Any = None,
    max_tries: int | None = None,
    extend_fn: Callable[..., Any] | None = None,
    escape_fn: Callable[..., Any] | None = None,
    num_samples: int | None = None,
) -> Callable[..., Any]:
    """Run ``fn`` on partial traces from ``queue`` until one run completes.

    :param fn: the program; without it, a decorator is returned.
    :param queue: a queue of partial traces (``queue.Queue``, ``LifoQueue``, ...)
        holding at least one trace (an empty :class:`~tracegraph.poutine.Trace`
        to start).
    :param max_tries: runs per call before giving up (default 1,000,000).
    :param extend_fn: ``(trace, site, num_samples=...) -> list of traces``
        (default :func:`~tracegraph.poutine.util.enum_extend`).
    :param escape_fn: ``(trace, site) -> bool`` (default
        :func:`~tracegraph.poutine.util.discrete_escape`).
    :param num_samples: passed on to ``extend_fn``.
    :returns: the program's value from the first complete run.
    :raises HandlerAssertionError: (an ``AssertionError``, as Pyro's) when the
        queue is empty.
    :raises HandlerError: (a ``ValueError``) after ``max_tries`` runs.

    >>> import queue as queues
    >>> import tracegraph
    >>> import tracegraph.distributions as dist
    >>> from tracegraph.poutine import Trace
    >>> q = queues.Queue()
    >>> q.put(Trace())
    >>> coin = queue(lambda: int(tracegraph.sample("c", dist.Bernoulli(0.5))), queue=q)
    >>> coin(), coin(), q.empty()
    (0, 1, True)
    """
    tries = int(1e6) if max_tries is None else max_tries
    extend = enum_extend if extend_fn is None else extend_fn
    escape = discrete_escape if escape_fn is None else escape_fn

    def wrapper(wrapped: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(wrapped)
        def _fn(*args: Any, **kwargs: Any) -> Any:
            for _ in range(tries):
                if queue.empty():
                    raise HandlerAssertionError(
                        "poutine.queue: the queue of partial traces is empty (a get() would "
                        "block forever); hint: put an empty poutine.Trace() in it first"
                    )
                partial = queue.get()
                replayed = HandledFunction(ReplayMessenger(trace=partial), wrapped)
                escaping = HandledFunction(
                    EscapeMessenger(functools.partial(escape, partial)), replayed
                )
                traced = TraceHandler(TraceMessenger(), escaping)
                try:
                    return traced(*args, **kwargs)
                except NonlocalExit as exit_:
                    exit_.reset_stack()
                    for extended in extend(
                        traced.trace.copy(), exit_.site, num_samples=num_samples
                    ):
                        queue.put(extended)
            raise HandlerError(f"poutine.queue: max tries ({tries}) exceeded")

        return _fn

    return wrapper if fn is None else wrapper(fn)
