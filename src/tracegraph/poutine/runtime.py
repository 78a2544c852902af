"""The effect runtime: messages, the handler stack and :func:`apply_stack`.

Vocabulary (used throughout the package):

* a *site* is one call of an effectful primitive (``sample``, ``param``, ...),
  named by the user;
* a *message* is the dict that describes a site while handlers act on it;
* a *handler* (a :class:`~tracegraph.poutine.messenger.Messenger`) changes what a
  site does; the *inner* handler is the one entered last (closest to the model),
  the *outer* handler the one entered first.

The handler stack is an immutable tuple held in a :class:`contextvars.ContextVar`
(outer handler first).  Entering a handler sets a new tuple and keeps the token;
leaving resets to it, also when the model raised.  Each thread and each asyncio
task therefore sees only the handlers it entered itself.

>>> msg = new_message("sample", "x", lambda: 3.0)
>>> apply_stack(msg)  # no handler: the default action runs fn
>>> msg["value"], msg["done"]
(3.0, True)
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NamedTuple, TypedDict

if TYPE_CHECKING:
    from tracegraph.poutine.messenger import Messenger

__all__ = [
    "CondIndepStackFrame",
    "Message",
    "am_i_wrapped",
    "apply_stack",
    "block_messengers",
    "default_process_message",
    "effectful",
    "get_handler_stack",
    "new_message",
]


class CondIndepStackFrame(NamedTuple):
    """One plate around a site: ``name``, tensor ``dim`` (None when sequential),
    ``size`` (the subsample size), ``counter`` (iteration of a sequential plate)
    and ``full_size`` (the size before subsampling).

    >>> f = CondIndepStackFrame("data", -1, 10, 0, 100)
    >>> f.vectorized, f.full_size
    (True, 100)
    """

    name: str
    dim: int | None
    size: int
    counter: int
    full_size: int | None = None

    @property
    def vectorized(self) -> bool:
        return self.dim is not None

    def _key(self) -> tuple[str, int | None, int]:
        # Frames of different iterations of one sequential plate differ only in
        # ``counter``; this key identifies "the same plate slice".
        return self.name, self.dim, self.counter


class Message(TypedDict, total=False):
    """A site as handlers see it (Pyro's keys)."""

    type: str
    name: str | None
    fn: Callable[..., Any]
    is_observed: bool
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    value: Any
    scale: Any
    mask: Any
    cond_indep_stack: tuple[CondIndepStackFrame, ...]
    done: bool
    stop: bool
    continuation: Callable[[Message], None] | None
    infer: dict[str, Any]
    obs: Any
    # Sites whose values decided Python control flow before this site ran
    # (recorded by TrackProvenanceMessenger).
    control_provenance: frozenset[str]


def new_message(
    type: str,
    name: str | None,
    fn: Callable[..., Any],
    *args: Any,
    value: Any = None,
    is_observed: bool = False,
    infer: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Message:
    """Build a message with every key set to its default.

    :param type: the effect (``"sample"``, ``"param"``, ``"plate"``, ...).
    :param name: the site name.
    :param fn: what the default action calls: ``fn(*args, **kwargs)``.
    :returns: a fresh :class:`Message`.

    >>> m = new_message("param", "w", lambda: 1)
    >>> m["scale"], m["mask"], m["cond_indep_stack"], m["stop"]
    (1.0, None, (), False)
    """
    return {
        "type": type,
        "name": name,
        "fn": fn,
        "is_observed": is_observed,
        "args": args,
        "kwargs": kwargs,
        "value": value,
        "scale": 1.0,
        "mask": None,
        "cond_indep_stack": (),
        "done": False,
        "stop": False,
        "continuation": None,
        "infer": {} if infer is None else infer,
    }


# Outer handler first, inner handler last.
_HANDLERS: contextvars.ContextVar[tuple[Messenger, ...]] = contextvars.ContextVar(
    "tracegraph_handlers", default=()
)
# The tokens of the _HANDLERS.set calls that entered each handler, in the same
# order, so that a handler's exit can restore exactly the stack it found.
_TOKENS: contextvars.ContextVar[tuple[contextvars.Token[tuple[Messenger, ...]], ...]] = (
    contextvars.ContextVar("tracegraph_handler_tokens", default=())
)


def get_handler_stack() -> tuple[Messenger, ...]:
    """The handlers active in this thread / task, outer handler first.

    >>> get_handler_stack()
    ()
    """
    return _HANDLERS.get()


def _push(handler: Messenger) -> None:
    stack = _HANDLERS.get()
    token = _HANDLERS.set(stack + (handler,))
    _TOKENS.set(_TOKENS.get() + (token,))


def _pop(handler: Messenger) -> None:
    stack = _HANDLERS.get()
    # Normally the handler is the inner one.  If an inner handler was left
    # installed (a generator abandoned mid-model), leaving this one removes it too,
    # which is what an exception unwinding both would have done.
    for i in range(len(stack) - 1, -1, -1):
        if stack[i] is handler:
            tokens = _TOKENS.get()
            _HANDLERS.reset(tokens[i])
            _TOKENS.set(tokens[:i])
            return
    raise RuntimeError(
        f"{type(handler).__name__} is not active in this thread/task and cannot be exited; "
        "was it entered in another thread or exited twice?"
    )


def am_i_wrapped() -> bool:
    """Whether any handler is active in this thread / task.

    >>> am_i_wrapped()
    False
    """
    return bool(_HANDLERS.get())


def default_process_message(msg: Message) -> None:
    """The default action: compute ``value = fn(*args, **kwargs)`` unless a handler
    set a value or marked the message done.

    >>> m = new_message("sample", "x", lambda a: a + 1, 2)
    >>> default_process_message(m); m["value"]
    3
    """
    if msg["done"] or msg["value"] is not None:
        msg["done"] = True
        return
    msg["value"] = msg["fn"](*msg["args"], **msg["kwargs"])
    msg["done"] = True


def apply_stack(msg: Message) -> None:
    """Run a message through the handler stack (the three-phase protocol).

    1. *process*: every handler's ``_process_message``, inner handler first,
       until one sets ``msg["stop"]``;
    2. the default action (:func:`default_process_message`);
    3. *post-process*: ``_postprocess_message`` of the handlers that processed the
       message, outer handler first;
    4. ``msg["continuation"]`` if a handler set one.

    >>> m = new_message("sample", "x", lambda: 1.5)
    >>> apply_stack(m); m["value"]
    1.5
    """
    stack = _HANDLERS.get()
    n = len(stack)
    processed = 0
    for i in range(n - 1, -1, -1):
        processed += 1
        stack[i]._process_message(msg)
        if msg["stop"]:
            break
    default_process_message(msg)
    for i in range(n - processed, n):
        stack[i]._postprocess_message(msg)
    cont = msg["continuation"]
    if cont is not None:
        cont(msg)


def effectful(
    fn: Callable[..., Any] | None = None, *, type: str | None = None
) -> Callable[..., Any]:
    """Make ``fn`` an effectful operation of the given ``type``.

    Called with no handler active, the wrapped function just calls ``fn``.  Under a
    handler it builds a message (the site name is the ``name`` keyword argument,
    ``obs`` sets an observed value) and runs it through :func:`apply_stack`.

    >>> @effectful(type="double")
    ... def double(x, name=None):
    ...     return 2 * x
    >>> double(3)
    6
    """
    if fn is None:
        return functools.partial(effectful, type=type)
    if type is None:
        raise ValueError("effectful needs type=...")
    effect_type = type

    @functools.wraps(fn)
    def _fn(*args: Any, name: str | None = None, obs: Any = None, infer: Any = None, **kwargs: Any):
        if not _HANDLERS.get():
            if obs is not None:
                return obs
            return fn(*args, **kwargs)
        msg = new_message(
            effect_type,
            name,
            fn,
            *args,
            value=obs,
            is_observed=obs is not None,
            infer=None if infer is None else dict(infer),
            **kwargs,
        )
        apply_stack(msg)
        return msg["value"]

    _fn._is_effectful = True  # type: ignore[attr-defined]
    return _fn


@contextmanager
def block_messengers(predicate: Callable[[Messenger], bool]) -> Iterator[list[Messenger]]:
    """Temporarily remove the active handlers for which ``predicate`` is true.

    Yields the list of removed handlers; the stack is restored on exit.

    >>> with block_messengers(lambda h: True) as blocked:
    ...     blocked
    []
    """
    stack = _HANDLERS.get()
    blocked = [h for h in stack if predicate(h)]
    kept = tuple(h for h in stack if not predicate(h))
    # Inner handlers entered inside this block sit on top of ``kept``; the token
    # list is rebuilt to match so that their exits still work.
    tokens_token = _TOKENS.set(())
    handlers_token = _HANDLERS.set(())
    try:
        for h in kept:
            _push(h)
        yield blocked
    finally:
        _HANDLERS.reset(handlers_token)
        _TOKENS.reset(tokens_token)
