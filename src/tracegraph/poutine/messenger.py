"""The base class of every handler.

A :class:`Messenger` is a context manager (``with TraceMessenger() as tr: ...``)
and a decorator (``TraceMessenger()(model)``).  Subclasses react to a site by
defining hook methods named after the message type, Pyro's way:
``_pyro_sample(msg)`` runs in the *process* phase and ``_pyro_post_sample(msg)``
in the *post-process* phase (see :func:`~tracegraph.poutine.runtime.apply_stack`).
The hooks are collected once per class when the class is created, so the hot
path does a dict lookup instead of a ``getattr`` on a formatted string.

>>> from tracegraph.poutine.runtime import effectful
>>> @effectful(type="sample")
... def draw(name=None):
...     return 1.0
>>> class Double(Messenger):
...     def _pyro_post_sample(self, msg):
...         msg["value"] = 2 * msg["value"]
>>> with Double():
...     draw(name="x")
2.0
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from tracegraph.errors import HandlerError
from tracegraph.poutine.runtime import (
    _HANDLERS,
    Message,
    _pop,
    _push,
    get_handler_stack,
)

__all__ = ["HandledFunction", "Message", "Messenger", "block_messengers", "unwrap"]

_Hook = Callable[[Any, Message], None]


def _bound_hook(attr: str) -> _Hook:
    # Static and class methods are looked up on the instance so that they bind
    # the way Python binds them.
    def hook(self: Any, msg: Message) -> None:
        getattr(self, attr)(msg)

    return hook


def _collect_hooks(cls: type, prefix: str, exclude: str | None) -> dict[str, _Hook]:
    hooks: dict[str, _Hook] = {}
    for klass in reversed(cls.__mro__):
        for attr, value in vars(klass).items():
            if not attr.startswith(prefix):
                continue
            effect = attr[len(prefix) :]
            if exclude is not None and effect.startswith(exclude):
                continue
            if isinstance(value, (staticmethod, classmethod)):
                hooks[effect] = _bound_hook(attr)
            elif callable(value):
                hooks[effect] = value
            else:
                # ``_pyro_sample = None`` in a subclass switches the hook off.
                hooks.pop(effect, None)
    return hooks


class Messenger:
    """Base class of handlers; does nothing by itself.

    >>> with Messenger() as m:
    ...     m in get_handler_stack()
    True
    """

    _process_hooks: ClassVar[dict[str, _Hook]] = {}
    _postprocess_hooks: ClassVar[dict[str, _Hook]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._process_hooks = _collect_hooks(cls, "_pyro_", exclude="post_")
        cls._postprocess_hooks = _collect_hooks(cls, "_pyro_post_", exclude=None)

    @classmethod
    def _refresh_hooks(cls) -> None:
        # After register/unregister: this class's tables and its subclasses'.
        cls._process_hooks = _collect_hooks(cls, "_pyro_", exclude="post_")
        cls._postprocess_hooks = _collect_hooks(cls, "_pyro_post_", exclude=None)
        for sub in cls.__subclasses__():
            sub._refresh_hooks()

    @classmethod
    def register(
        cls, fn: Callable[..., Any] | None = None, type: str | None = None, post: bool | None = None
    ) -> Callable[..., Any]:
        """Add ``fn(msg)`` as this handler class's hook for messages of ``type``
        (the post-process hook if ``post``), for the class and its subclasses.

        Without ``fn`` it returns a decorator.  Returns ``fn``.

        :raises HandlerError: (a ``ValueError``) if ``type`` is missing.

        >>> class Counter(Messenger):
        ...     seen = []
        >>> @Counter.register(type="tick")
        ... def _count(msg):
        ...     Counter.seen.append(msg["name"])
        >>> from tracegraph.poutine.runtime import effectful
        >>> tick = effectful(lambda: None, type="tick")
        >>> with Counter():
        ...     tick(name="t1")
        >>> Counter.seen
        ['t1']
        """
        if fn is None:
            return lambda f: cls.register(f, type=type, post=post)
        if type is None:
            raise HandlerError(
                f"{cls.__name__}.register: an operation type name must be provided (type=...)"
            )
        prefix = "_pyro_post_" if post else "_pyro_"
        setattr(cls, prefix + type, staticmethod(fn))
        cls._refresh_hooks()
        return fn

    @classmethod
    def unregister(
        cls, fn: Callable[..., Any] | None = None, type: str | None = None
    ) -> Callable[..., Any] | None:
        """Remove this class's process and post-process hooks for ``type``
        (whatever they are); returns ``fn``.

        :raises HandlerError: (a ``ValueError``) if ``type`` is missing.

        >>> class Quiet(Messenger):
        ...     pass
        >>> _ = Quiet.register(print, type="tick")
        >>> _ = Quiet.unregister(print, "tick")
        >>> "tick" in Quiet._process_hooks
        False
        """
        if type is None:
            raise HandlerError(
                f"{cls.__name__}.unregister: an operation type name must be provided (type=...)"
            )
        for prefix in ("_pyro_", "_pyro_post_"):
            if prefix + type in vars(cls):
                delattr(cls, prefix + type)
        cls._refresh_hooks()
        return fn

    def _reset(self) -> None:
        """Forget per-run state (called by ``NonlocalExit.reset_stack``); a no-op here."""

    # -- context manager -------------------------------------------------
    def __enter__(self) -> Messenger:
        if self in get_handler_stack():
            raise HandlerError(
                f"this {type(self).__name__} instance is already active; "
                "create a new handler instead of entering one twice"
            )
        _push(self)
        return self

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        _pop(self)

    # -- decorator -------------------------------------------------------
    def __call__(self, fn: Callable[..., Any]) -> HandledFunction:
        return HandledFunction(self, fn)

    # -- protocol --------------------------------------------------------
    def _process_message(self, msg: Message) -> None:
        hook = self._process_hooks.get(msg["type"])
        if hook is not None:
            hook(self, msg)

    def _postprocess_message(self, msg: Message) -> None:
        hook = self._postprocess_hooks.get(msg["type"])
        if hook is not None:
            hook(self, msg)


class HandledFunction:
    """A function run under a handler each time it is called.

    Picklable when the handler and the function are; it binds like a function
    when it decorates a method.

    >>> f = HandledFunction(Messenger(), lambda x: x + 1)
    >>> f(1)
    2
    """

    # unwrap() goes through handled functions, not through traced ones (as Pyro).
    _unwrappable: ClassVar[bool] = True

    def __init__(self, msngr: Messenger, fn: Callable[..., Any]) -> None:
        if not callable(fn):
            raise HandlerError(
                f"{type(msngr).__name__} expected a callable to wrap, got "
                f"{type(fn).__name__}: {fn!r}"
            )
        self.msngr = msngr
        self.fn = fn
        functools.update_wrapper(self, fn, updated=())

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self.msngr:
            return self.fn(*args, **kwargs)

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            return self
        return types.MethodType(self, obj)

    def __getstate__(self) -> dict[str, Any]:
        # functools.update_wrapper stores __wrapped__ and friends; only the two
        # real fields are state.
        return {"msngr": self.msngr, "fn": self.fn}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["msngr"], state["fn"])  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"{type(self.msngr).__name__}({getattr(self.fn, '__name__', self.fn)!r})"


def unwrap(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The function under the handlers that wrap ``fn`` (handlers applied as
    decorators; a traced function, ``poutine.trace(f)``, stays as it is, as in Pyro).

    >>> from tracegraph import poutine
    >>> def model():
    ...     pass
    >>> unwrap(poutine.block(poutine.scale(model, scale=2.0))) is model
    True
    """
    while isinstance(fn, HandledFunction) and fn._unwrappable:
        fn = fn.fn
    return fn


@contextmanager
def block_messengers(predicate: Callable[[Messenger], bool]) -> Iterator[list[Messenger]]:
    """Temporarily mute the active handlers for which ``predicate`` is true (their
    ``__exit__``/``__enter__`` are not called).

    As in Pyro, each muted handler's place on the stack is held by a plain
    :class:`Messenger` that does nothing, so code inside still runs "under a
    handler" (an observed ``sample`` does not warn about being outside
    inference).  Yields the list of muted handlers; the stack is restored on exit.

    >>> with block_messengers(lambda h: True) as blocked:
    ...     blocked
    []
    """
    stack = _HANDLERS.get()
    blocked = [h for h in stack if predicate(h)]
    muted = {id(h) for h in blocked}
    _HANDLERS.set(tuple(Messenger() if id(h) in muted else h for h in stack))
    try:
        yield blocked
    finally:
        _HANDLERS.set(stack)
