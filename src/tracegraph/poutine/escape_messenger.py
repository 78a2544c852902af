"""Leave a program early: at the first sample site ``escape_fn`` selects, raise
:class:`NonlocalExit` carrying that site.

The site is marked done (its default action does not run, so its value stays
None) and stops, so handlers outside this one never see it; the exception is
raised from the message's continuation, after the handlers inside have
post-processed it.  Because the handler stack is a ``ContextVar`` that every
handler restores on exit, no clean-up of the stack is needed after catching it.

>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> def model():
...     tracegraph.sample("a", dist.Normal(0.0, 1.0))
...     tracegraph.sample("b", dist.Normal(0.0, 1.0))
...     raise AssertionError("not reached")
>>> try:
...     EscapeMessenger(lambda msg: msg["name"] == "b")(model)()
... except NonlocalExit as e:
...     print(e.site["name"])
b
"""

from __future__ import annotations

from collections.abc import Callable

from tracegraph.errors import HandlerArgumentError
from tracegraph.poutine.messenger import Messenger
from tracegraph.poutine.runtime import Message, NonlocalExit

__all__ = ["EscapeMessenger", "NonlocalExit"]


def _raise_nonlocal_exit(msg: Message) -> None:
    raise NonlocalExit(msg)


class EscapeMessenger(Messenger):
    """Handler that escapes at the sample sites for which ``escape_fn(msg)`` is true.

    :param escape_fn: ``msg -> bool``.
    :raises HandlerArgumentError: (a ``TypeError``) if ``escape_fn`` is not callable.

    >>> EscapeMessenger(escape_fn=None)
    Traceback (most recent call last):
    ...
    tracegraph.errors.HandlerArgumentError: escape(escape_fn=...) expects ..., got NoneType
    """

    def __init__(self, escape_fn: Callable[[Message], object]) -> None:
        super().__init__()
        if not callable(escape_fn):
            raise HandlerArgumentError(
                "escape(escape_fn=...) expects a callable msg -> bool, got "
                f"{type(escape_fn).__name__}"
            )
        self.escape_fn = escape_fn

    def _pyro_sample(self, msg: Message) -> None:
        if self.escape_fn(msg):
            msg["done"] = True
            msg["stop"] = True
            msg["continuation"] = _raise_nonlocal_exit
