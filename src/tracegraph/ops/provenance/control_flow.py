"""Control-flow scopes of the provenance layer.

A tracked value that decides Python control flow (``if z > 0:``, ``int(n)``,
``t.item()``) leaves the tensor world: PyTorch hands Python a plain ``bool``,
``int`` or ``float`` that cannot carry provenance.  Everything that runs
afterwards may depend on it, so the provenance of such a value is recorded in
every active :func:`control_flow_scope` instead (Wingate et al. 2011 call
these *nonstandard interpretations*; we only need the "which sites" part).

State lives in :class:`contextvars.ContextVar` objects holding immutable
values, so threads and asyncio tasks never see each other's scopes, and an
exception can never leave a scope open.

>>> with control_flow_scope() as scope:
...     record_control_flow(frozenset({"z"}))
...     sorted(current_control_flow())
['z']
>>> sorted(scope.provenance), current_control_flow()
(['z'], frozenset())
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from contextvars import ContextVar
from types import CodeType
from typing import Any, TypeVar

from tracegraph.ops.provenance.claims import names_of

__all__ = [
    "ControlFlowScope",
    "control_flow_scope",
    "current_control_flow",
    "record_control_flow",
    "register_assertion",
]

_EMPTY: frozenset = frozenset()
_F = TypeVar("_F", bound=Callable[..., Any])

# Innermost scope last.  A tuple (not a list) so entering a scope in one
# context can never mutate what another context sees.
_SCOPES: ContextVar[tuple[ControlFlowScope, ...]] = ContextVar(
    "tracegraph_control_flow_scopes", default=()
)

# Code objects of functions whose data-dependent branches only decide "raise or
# go on" (argument validation).  A leak whose Python caller runs one of these
# codes is not recorded: if the check fails nothing runs afterwards, and if it
# passes the continuation does not depend on the value.
_ASSERTION_CODES: set[CodeType] = set()
_OWN_MODULE_PREFIX = "tracegraph.ops."


class ControlFlowScope:
    """Accumulates the provenance of tracked values that decided control flow.

    Created by :func:`control_flow_scope`; read :attr:`provenance`.

    >>> scope = ControlFlowScope()
    >>> scope.provenance
    frozenset()
    """

    __slots__ = ("_provenance", "_lock")

    def __init__(self) -> None:
        self._provenance: frozenset = _EMPTY
        # A scope object may be shared with worker threads through
        # ``contextvars.copy_context()``; the read-modify-write below must not
        # lose a union.
        self._lock = threading.Lock()

    @property
    def provenance(self) -> frozenset:
        """Everything that leaked into Python control flow while this scope was active."""
        return self._provenance

    def _add(self, provenance: frozenset) -> None:
        with self._lock:
            if not provenance <= self._provenance:
                self._provenance = self._provenance | provenance

    def __repr__(self) -> str:
        names = ", ".join(sorted(map(repr, self._provenance)))
        return f"ControlFlowScope(provenance={{{names}}})"


# Every open scope of every thread and context, and per thread the scopes it
# opened that are still open and whether it ever opened one.  A tracked value
# that decides control flow where the context has no scope open was handed to
# code the run started without its context:
# * a fresh contextvars.Context on the run's own thread: the thread's open scopes;
# * a thread that never ran a run itself (a worker the run started): every open
#   scope of the process (conservative for the runs it does not belong to);
# * a thread whose own runs are over (code after a run): nothing, as before.
_LIVE: dict[int, ControlFlowScope] = {}
_LIVE_LOCK = threading.Lock()
_THREAD = threading.local()


def _thread_scopes() -> list[ControlFlowScope]:
    scopes = getattr(_THREAD, "open", None)
    if scopes is None:
        scopes = _THREAD.open = []
    return scopes


class _ScopeContext:
    # What control_flow_scope() returns: a plain class, not a generator-based
    # context manager, since every traced run of an ELBO opens one.
    __slots__ = ("_scope", "_token")

    def __enter__(self) -> ControlFlowScope:
        scope = ControlFlowScope()
        self._scope = scope
        self._token = _SCOPES.set(_SCOPES.get() + (scope,))
        _thread_scopes().append(scope)
        _THREAD.ever = True
        with _LIVE_LOCK:
            _LIVE[id(scope)] = scope
        return scope

    def __exit__(self, *exc: object) -> None:
        _SCOPES.reset(self._token)
        mine = _thread_scopes()
        if self._scope in mine:
            mine.remove(self._scope)
        with _LIVE_LOCK:
            _LIVE.pop(id(self._scope), None)


def control_flow_scope() -> AbstractContextManager[ControlFlowScope]:
    """Open a scope that collects provenance leaking into Python control flow.

    Scopes nest; every active scope receives every leak, so an outer scope
    sees everything its inner scopes saw.

    :returns: a context manager yielding the new :class:`ControlFlowScope`.

    >>> with control_flow_scope() as outer:
    ...     with control_flow_scope() as inner:
    ...         record_control_flow({"a"})
    ...     record_control_flow({"b"})
    >>> sorted(inner.provenance), sorted(outer.provenance)
    (['a'], ['a', 'b'])
    """
    return _ScopeContext()


def current_control_flow() -> frozenset:
    """Return what leaked into control flow in the innermost active scope.

    :returns: the innermost scope's provenance, or an empty frozenset outside
        any scope.

    >>> current_control_flow()
    frozenset()
    """
    scopes = _SCOPES.get()
    return scopes[-1]._provenance if scopes else _EMPTY


def record_control_flow(provenance: Iterable[Any]) -> None:
    """Record that values with ``provenance`` decided Python control flow.

    Called by the provenance rules on ``bool(t)``, ``t.item()`` and friends;
    handlers may call it for their own data-dependent decisions.  Does
    nothing when no scope is open anywhere, or when the immediate caller is a
    registered assertion (see :func:`register_assertion`).  A context without a
    scope that code started inside a run (a fresh ``contextvars.Context``, a
    worker thread, which do not inherit the run's context) records into the run's
    scopes (a worker thread: into every open scope; see ``_LIVE``).

    :param provenance: sample-site names.

    >>> with control_flow_scope() as scope:
    ...     record_control_flow(["x"])
    >>> scope.provenance
    frozenset({'x'})
    """
    scopes = _SCOPES.get()
    if not scopes:
        if not _LIVE:
            return
        # No scope in this context, but runs are open (see _LIVE).
        mine = _thread_scopes()
        if mine:
            scopes = tuple(mine)
        elif getattr(_THREAD, "ever", False):
            return
        else:
            with _LIVE_LOCK:
                scopes = tuple(_LIVE.values())
    prov = provenance if isinstance(provenance, frozenset) else frozenset(provenance)
    if not prov or (_ASSERTION_CODES and _called_from_assertion()):
        return
    # A Python value is not a tensor: plate claims mean nothing there (who reads
    # the scope treats the names as a global decision).
    prov = names_of(prov)
    for scope in scopes:
        scope._add(prov)


def _called_from_assertion() -> bool:
    # Skip our own frames (rule functions, __torch_function__) to reach the
    # Python line that turned a tensor into a bool.
    frame = sys._getframe(2)
    while frame is not None and frame.f_globals.get("__name__", "").startswith(_OWN_MODULE_PREFIX):
        frame = frame.f_back  # type: ignore[assignment]
    return frame is not None and frame.f_code in _ASSERTION_CODES


def register_assertion(fn: _F) -> _F:
    """Declare that data-dependent branches in ``fn`` only decide whether to raise.

    Leaks whose Python caller is ``fn`` itself (not functions it calls) are
    then not recorded.  Use it for argument validation such as
    ``if not valid.all(): raise ValueError(...)``; registering a function that
    branches on data for any other purpose makes tracking unsound.

    :param fn: a Python function (or a code object).
    :returns: ``fn`` unchanged, so this works as a decorator.

    >>> @register_assertion
    ... def check_positive(flag):
    ...     if not flag:
    ...         raise ValueError("expected a positive value")
    >>> check_positive(True)
    """
    code = fn if isinstance(fn, CodeType) else fn.__code__
    _ASSERTION_CODES.add(code)
    return fn
