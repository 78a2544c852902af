"""The effect runtime: messages, the handler stack and :func:`apply_stack`.

Vocabulary (used throughout the package):

* a *site* is one call of an effectful primitive (``sample``, ``param``, ...),
  named by the user;
* a *message* is the dict that describes a site while handlers act on it;
* a *handler* (a :class:`~tracegraph.poutine.messenger.Messenger`) changes what a
  site does; the *inner* handler is the one entered last (closest to the model),
  the *outer* handler the one entered first.

The handler stack is an immutable tuple held in a :class:`contextvars.ContextVar`
(outer handler first).  Entering a handler sets a new tuple; leaving sets the
tuple without it, also when the model raised.  Each thread and each asyncio task
therefore sees only the handlers it entered itself.  Handlers are removed by
identity rather than by resetting ``ContextVar`` tokens: a generator finalized late
(a sequential ``plate`` or ``markov`` loop left by ``break``) must be able to remove
its own handler without disturbing handlers entered after it, and must not fail
when the garbage collector finalizes it in another context
(``docs/design/handler-stack.md``).

>>> msg = new_message("sample", "x", lambda: 3.0)
>>> apply_stack(msg)  # no handler: the default action runs fn
>>> msg["value"], msg["done"]
(3.0, True)
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from tracegraph.errors import HandlerAssertionError, SiteTypeError
from tracegraph.params.param_store import ParamStoreDict
from tracegraph.poutine.messages import (
    CondIndepStackFrame,
    InferDict,
    Message,
    describe_site,
    new_message,
    new_sample_message,
)
from tracegraph.poutine.site_errors import class_fn_error

if TYPE_CHECKING:
    from tracegraph.poutine.messenger import Messenger

__all__ = [
    "CondIndepStackFrame",
    "InferDict",
    "Message",
    "NonlocalExit",
    "ParamStoreDict",
    "am_i_wrapped",
    "apply_stack",
    "default_process_message",
    "effectful",
    "get_handler_stack",
    "get_mask",
    "get_plates",
    "new_message",
    "new_sample_message",
]


# Outer handler first, inner handler last.
_HANDLERS: contextvars.ContextVar[tuple[Messenger, ...]] = contextvars.ContextVar(
    "tracegraph_handlers", default=()
)


def get_handler_stack() -> tuple[Messenger, ...]:
    """The handlers active in this thread / task, outer handler first.

    >>> get_handler_stack()
    ()
    """
    return _HANDLERS.get()


def _push(handler: Messenger) -> None:
    _HANDLERS.set(_HANDLERS.get() + (handler,))


def _index(stack: tuple[Messenger, ...], handler: Messenger) -> int:
    for i in range(len(stack) - 1, -1, -1):
        if stack[i] is handler:
            return i
    return -1


def _pop(handler: Messenger) -> None:
    stack = _HANDLERS.get()
    i = _index(stack, handler)
    if i < 0:
        raise RuntimeError(
            f"{type(handler).__name__} is not active in this thread/task and cannot be "
            "exited; was it entered in another thread or exited twice?"
        )
    # Normally the handler is the inner one.  If an inner handler was left
    # installed (a generator abandoned mid-model and not yet finalized), leaving
    # this one removes it too, which is what an exception unwinding both would
    # have done.
    _HANDLERS.set(stack[:i])


def _discard(handler: Messenger) -> None:
    # For finalizers (a generator closed late, maybe by the garbage collector in
    # another context): remove only this handler, if this context has it, and
    # never raise.
    stack = _HANDLERS.get()
    i = _index(stack, handler)
    if i >= 0:
        _HANDLERS.set(stack[:i] + stack[i + 1 :])


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
    fn = msg["fn"]
    if not callable(fn):  # checked inline: this runs for every message
        call_site_fn(msg["name"], fn, msg["args"], msg["kwargs"])  # raises, naming the site
    try:
        msg["value"] = fn(*msg["args"], **msg["kwargs"])
    except Exception as exc:
        if msg["type"] == "sample" and not isinstance(exc, NonlocalExit):
            if isinstance(fn, type) and isinstance(exc, TypeError):
                # ``dist.Normal`` where ``dist.Normal(0., 1.)`` belongs.
                raise class_fn_error(msg["name"], fn, f"calling it failed: {exc}") from exc
            # torch's message names a parameter or a constraint, never the site.
            exc.add_note(f"while drawing a value at {describe_site(msg)}")
            exc._tracegraph_site_noted = True  # type: ignore[attr-defined]
        raise
    msg["done"] = True


def call_site_fn(name: Any, fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``fn(*args, **kwargs)`` for site ``name``; a ``fn`` that cannot be called
    (a tensor passed where a distribution belongs), or a class that cannot be
    called with these arguments (``dist.Normal`` for ``dist.Normal(0., 1.)``),
    raises :class:`~tracegraph.errors.SiteTypeError`, a ``TypeError`` as Pyro's
    call raises.

    >>> call_site_fn("x", lambda a: a + 1, (1,), {})
    2
    >>> call_site_fn("x", 3.0, (), {})
    Traceback (most recent call last):
    ...
    tracegraph.errors.SiteTypeError: site 'x': 'float' object is not callable; ...
    """
    if not callable(fn):
        raise SiteTypeError(
            f"site {name!r}: {type(fn).__name__!r} object is not callable; expected a "
            f"distribution, got {fn!r}; hint: pass an instance such as dist.Normal(0., 1.)"
        )
    try:
        return fn(*args, **kwargs)
    except TypeError as exc:
        if isinstance(fn, type):
            raise class_fn_error(name, fn, f"calling it failed: {exc}") from exc
        raise


def apply_stack(initial_msg: Message) -> None:
    """Run a message through the handler stack (the three-phase protocol).

    1. *process*: every handler's ``_process_message``, inner handler first,
       until one sets ``msg["stop"]``;
    2. the default action (:func:`default_process_message`);
    3. *post-process*: ``_postprocess_message`` of the handlers that processed the
       message, outer handler first;
    4. ``msg["continuation"]`` if a handler set one.

    The message is updated in place.

    >>> m = new_message("sample", "x", lambda: 1.5)
    >>> apply_stack(m); m["value"]
    1.5
    """
    msg = initial_msg
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


def effectful(fn: Callable[..., Any] | None = None, type: str | None = None) -> Callable[..., Any]:
    """Make ``fn`` an effectful operation of the given ``type``.

    Called with no handler active, the wrapped function just calls
    ``fn(*args, **kwargs)`` (the ``name``, ``obs`` and ``infer`` keywords are
    dropped, as in Pyro).  Under a handler it builds a message (the site name is
    the ``name`` keyword, ``obs`` sets an observed value) and runs it through
    :func:`apply_stack`.

    :raises HandlerAssertionError: if ``type`` is missing (Pyro asserts).

    >>> @effectful(type="double")
    ... def double(x, name=None):
    ...     return 2 * x
    >>> double(3)
    6
    """
    if fn is None:
        return functools.partial(effectful, type=type)
    if type is None:
        raise HandlerAssertionError(
            f"effectful: must provide a type label for the operation {fn!r}, e.g. "
            "effectful(fn, type='my_op')"
        )
    effect_type = type

    @functools.wraps(fn)
    def _fn(*args: Any, name: Any = None, obs: Any = None, infer: Any = None, **kwargs: Any):
        if not _HANDLERS.get():
            return fn(*args, **kwargs)
        msg = new_message(
            effect_type,
            name,
            fn,
            *args,
            value=obs,
            is_observed=obs is not None,
            infer={} if infer is None else dict(infer),
            **kwargs,
        )
        apply_stack(msg)
        return msg["value"]

    _fn._is_effectful = True  # type: ignore[attr-defined]
    return _fn


def _inspect() -> Message:
    # Pyro's way of asking the handlers what they would do to a site here: an
    # "inspect" message that no trace records.
    msg = new_sample_message(
        "_pyro_inspect", lambda: True, type="inspect", infer={"_do_not_trace": True}
    )
    apply_stack(msg)
    return msg


def get_mask() -> bool | torch.Tensor | None:
    """The combined mask of the enclosing ``poutine.mask`` handlers (``None`` when
    there is none), e.g. to skip an expensive ``factor`` when the mask is ``False``.

    >>> from tracegraph import poutine
    >>> get_mask() is None
    True
    >>> with poutine.mask(mask=False):
    ...     get_mask()
    False
    """
    return _inspect()["mask"]


def get_plates() -> tuple[CondIndepStackFrame, ...]:
    """The frames of the enclosing plates, outer plate first.

    >>> import tracegraph
    >>> with tracegraph.plate("data", 3):
    ...     [f.name for f in get_plates()]
    ['data']
    """
    return _inspect()["cond_indep_stack"]


class NonlocalExit(Exception):
    """Raised to leave a program early (by :class:`EscapeMessenger`); ``site`` is
    the message of the site the program escaped at.

    >>> e = NonlocalExit({"name": "z"})
    >>> e.site["name"], e.args, str(e)
    ('z', (), "escaped at site 'z'")
    """

    def __init__(self, site: Message, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.site = site

    def __str__(self) -> str:
        if self.args:
            return super().__str__()
        name = self.site.get("name") if isinstance(self.site, dict) else None
        return f"escaped at site {name!r}"

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.site,) + self.args

    def reset_stack(self) -> None:
        """Reset the state of every handler still active here (their ``_reset``):
        an outer trace forgets the sites of the abandoned run and plates their
        counters, so that the program can be run again (see ``poutine.queue``).

        >>> NonlocalExit({"name": "z"}).reset_stack()
        """
        for handler in _HANDLERS.get():
            reset = getattr(handler, "_reset", None)
            if reset is not None:
                reset()
