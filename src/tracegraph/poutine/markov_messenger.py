"""Markov dependency declarations (Pyro's ``pyro.markov``).

A :class:`MarkovMessenger` keeps a stack of *frames*, one per nesting level: each
entry (``with``, a call of a decorated recursive function, an iteration of
``for t in markov(range(n))``) goes one level deeper.  A sample site sees the
sites of its own frame and of the ``history`` frames below it; it records them in
``msg["infer"]["_markov_scope"]`` (a :class:`collections.Counter` of names, one
count per enclosing markov handler that sees them) and the number of enclosing
markov handlers in ``msg["infer"]["_markov_depth"]``, as Pyro does.  Without
enumeration these are all the observable effects: values, shapes and
log-probabilities are untouched.

On leaving a level, its frame is dropped unless ``keep=True``, in which case a
later entry at the same level sees the sites of the earlier one.

>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> from tracegraph import poutine
>>> def chain():
...     x = 0.0
...     for t in poutine.markov(range(3)):
...         x = tracegraph.sample(f"x_{t}", dist.Normal(x, 1.0))
>>> tr = poutine.trace(chain).get_trace()
>>> [dict(tr.nodes[f"x_{t}"]["infer"]["_markov_scope"]) for t in range(3)]
[{}, {'x_0': 1}, {'x_1': 1}]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from tracegraph.errors import HandlerAssertionError, HandlerError
from tracegraph.poutine.messenger import Messenger
from tracegraph.poutine.runtime import Message, _discard
from tracegraph.poutine.sites import site_is_subsample

__all__ = ["MarkovMessenger"]


class MarkovMessenger(Messenger):
    """Handler declaring that sites depend only on the last ``history`` contexts.

    Unlike other handlers it may be entered again while active (recursion).

    :param history: how many earlier frames a site sees (0: like a plate).
    :param keep: keep a level's frame after leaving it, so that the next entry at
        that level sees its sites.
    :param dim: not supported (Pyro raises ``NotImplementedError`` too).
    :param name: not supported (Pyro raises ``NotImplementedError`` too).
    :raises NotImplementedError: for ``dim`` or ``name``.
    :raises HandlerAssertionError: (an ``AssertionError``, as Pyro's) for a
        negative ``history``.

    >>> with MarkovMessenger(history=2) as m:
    ...     m.history
    2
    """

    def __init__(
        self, history: int = 1, keep: bool = False, dim: int | None = None, name: str | None = None
    ) -> None:
        super().__init__()
        if dim is not None:
            raise NotImplementedError(
                "markov(dim=...): vectorized markov is not implemented; leave dim=None"
            )
        if name is not None:
            raise NotImplementedError(
                "markov(name=...): vectorized markov is not implemented; leave name=None"
            )
        if not isinstance(history, int) or history < 0:
            raise HandlerAssertionError(f"markov: history must be an int >= 0, got {history!r}")
        self.history = history
        self.keep = keep
        self.dim = dim
        self.name = name
        self._iterable: Iterable[Any] | None = None
        self._pos = -1
        self._stack: list[set[Any]] = []
        self._ref_count = 0

    def generator(self, iterable: Iterable[Any]) -> MarkovMessenger:
        """Make iterating this handler walk ``iterable``, one level deeper per item
        (what ``markov(range(n))`` does); returns the handler.

        >>> [t for t in MarkovMessenger().generator(range(3))]
        [0, 1, 2]
        """
        self._iterable = iterable
        return self

    def __enter__(self) -> MarkovMessenger:
        if self._ref_count == 0:
            super().__enter__()
        self._ref_count += 1
        self._pos += 1
        if len(self._stack) <= self._pos:
            self._stack.append(set())
        return self

    def _leave(self, quietly: bool) -> None:
        if not self.keep:
            del self._stack[self._pos :]
        self._pos -= 1
        self._ref_count -= 1
        if self._ref_count == 0:
            if quietly:
                _discard(self)
            else:
                super().__exit__(None, None, None)

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        self._leave(quietly=False)

    def __iter__(self) -> Iterator[Any]:
        if self._iterable is None:
            raise HandlerError(
                "markov(): only markov(iterable) can be iterated; hint: write "
                "`for t in tracegraph.markov(range(n))`"
            )
        depth = 0
        try:
            for item in self._iterable:
                self.__enter__()
                depth += 1
                yield item
        except BaseException:
            # Closed early (``break``): maybe finalized by the garbage collector in
            # another context, after other handlers were entered.  Leave quietly.
            for _ in range(depth):
                self._leave(quietly=True)
            raise
        for _ in range(depth):
            self._leave(quietly=False)

    def _pyro_sample(self, msg: Message) -> None:
        if site_is_subsample(msg):
            return
        visible = self._stack[max(0, self._pos - self.history) : self._pos + 1]
        infer = msg["infer"]
        scope = infer.setdefault("_markov_scope", Counter())
        for frame in visible:
            scope.update(frame)
        infer["_markov_depth"] = infer.get("_markov_depth", 0) + 1
        self._stack[self._pos].add(msg["name"])
