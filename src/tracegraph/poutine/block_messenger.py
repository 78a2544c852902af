"""Hide sites from the handlers outside this one.

A hidden message gets ``msg["stop"] = True``: handlers outside the block neither
process nor post-process it (so an outer ``trace`` does not record it), while
the site still runs and returns its value.  Unnamed effects (such as
:func:`tracegraph.subsample`) are not sites and are never hidden.

Which sites are hidden follows Pyro's rules:

* ``hide_fn(msg)`` (hide when true) or ``expose_fn(msg)`` (hide when false), at
  most one of the two;
* otherwise the lists: a site is hidden if its name is in ``hide``, or its type
  in ``hide_types``, or ``hide_all`` holds and neither its name is in ``expose``
  nor its type in ``expose_types``.  Giving ``hide`` or ``hide_types`` turns
  ``hide_all`` off; giving ``expose`` or ``expose_types`` turns it on (in this
  order, as in Pyro).  ``expose_all=True`` exposes nothing by itself (as in
  Pyro, ``hide_all=False`` does that); it only may not be combined with
  ``hide_all=True``.  An observed sample site has the type ``"observe"`` for
  ``hide_types``/``expose_types``.

Without a function, ``hide_all`` and ``expose_all`` both true (``hide_all``
defaults to true, so ``expose_all=True`` alone), or a name or type both hidden
and exposed, is refused with a :class:`~tracegraph.errors.HandlerAssertionError`
(an ``AssertionError``, as Pyro's ``assert``).

>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> from tracegraph import poutine
>>> def model():
...     tracegraph.sample("a", dist.Normal(0.0, 1.0))
...     tracegraph.sample("b", dist.Normal(0.0, 1.0))
>>> list(poutine.trace(BlockMessenger(hide=["a"])(model)).get_trace().nodes)
['_INPUT', 'b', '_RETURN']
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from tracegraph.errors import HandlerAssertionError, HandlerError
from tracegraph.poutine.messenger import Messenger
from tracegraph.poutine.runtime import Message

__all__ = ["BlockMessenger"]


def _as_set(what: str, items: Iterable[str] | None) -> frozenset[str]:
    if items is None:
        return frozenset()
    if isinstance(items, str):
        # One name.  (Pyro tests ``name in items``, a substring test on a str:
        # hide="z" hides z there too, but hide="abc" would also hide "a" and "bc".)
        return frozenset([items])
    return frozenset(items)


class BlockMessenger(Messenger):
    """Handler that hides the sites selected by the rules in the module docstring.

    :param hide_fn: hide a site when ``hide_fn(msg)`` is true.
    :param expose_fn: hide a site when ``expose_fn(msg)`` is false.
    :param hide_all: hide every site not exposed (the default).
    :param expose_all: expose every site not hidden by ``hide``/``hide_types``.
    :param hide: names to hide.
    :param expose: names to expose (all others are hidden).
    :param hide_types: message types to hide (``"sample"``, ``"param"``, ``"observe"``...).
    :param expose_types: message types to expose.
    :raises HandlerError: if both functions are given (a ``ValueError``).
    :raises HandlerAssertionError: without a function, if ``hide_all`` and
        ``expose_all`` are both true, or a name or type is both hidden and exposed.

    >>> from tracegraph.poutine.runtime import new_message
    >>> b = BlockMessenger(expose_types=["param"])
    >>> b.hides(new_message("param", "w", None)), b.hides(new_message("sample", "z", None))
    (False, True)
    """

    def __init__(
        self,
        hide_fn: Callable[[Message], object] | None = None,
        expose_fn: Callable[[Message], object] | None = None,
        hide_all: bool = True,
        expose_all: bool = False,
        hide: Iterable[str] | None = None,
        expose: Iterable[str] | None = None,
        hide_types: Iterable[str] | None = None,
        expose_types: Iterable[str] | None = None,
    ) -> None:
        super().__init__()
        if hide_fn is not None and expose_fn is not None:
            raise HandlerError("block: give hide_fn or expose_fn, not both")
        for what, fn in (("hide_fn", hide_fn), ("expose_fn", expose_fn)):
            if fn is not None and not callable(fn):
                raise HandlerError(
                    f"block({what}=...) expects a callable msg -> bool, got {type(fn).__name__}"
                )
        self.hide_fn = hide_fn
        self.expose_fn = expose_fn
        # Kept as plain data (no closure) so that a block handler pickles.
        self.hide = _as_set("hide", hide)
        self.expose = _as_set("expose", expose)
        self.hide_types = _as_set("hide_types", hide_types)
        self.expose_types = _as_set("expose_types", expose_types)
        if hide_fn is None and expose_fn is None:
            # Pyro checks the lists only when no function decides.
            if hide_all and expose_all:
                raise HandlerAssertionError(
                    "block: hide_all=True (the default) and expose_all=True contradict each "
                    "other; hint: pass hide_all=False to expose every site"
                )
            for what, a, b in (
                ("name", self.hide, self.expose),
                ("type", self.hide_types, self.expose_types),
            ):
                both = sorted(a & b)
                if both:
                    raise HandlerAssertionError(
                        f"block: cannot both hide and expose the {what}(s) {both}"
                    )
        if hide is not None:
            hide_all = False
        if expose is not None:
            hide_all = True
        if hide_types is not None:
            hide_all = False
        if expose_types is not None:
            hide_all = True
        self.hide_all = hide_all
        self.expose_all = expose_all

    def hides(self, msg: Message) -> bool:
        """Whether this handler hides the site described by ``msg``.

        >>> from tracegraph.poutine.runtime import new_message
        >>> BlockMessenger(hide=["x"]).hides(new_message("sample", "x", None))
        True
        """
        if self.hide_fn is not None:
            return bool(self.hide_fn(msg))
        if self.expose_fn is not None:
            return not self.expose_fn(msg)
        msg_type = msg["type"]
        if msg_type == "sample" and msg["is_observed"]:
            msg_type = "observe"
        name = msg["name"]
        if name in self.hide or msg_type in self.hide_types:
            return True
        exposed = name in self.expose or msg_type in self.expose_types
        return self.hide_all and not exposed

    def _process_message(self, msg: Message) -> None:
        # Unnamed effects (``subsample``) are not sites: hiding one would stop the
        # plates outside the block from subsampling the data.
        if msg["name"] is not None and self.hides(msg):
            msg["stop"] = True
