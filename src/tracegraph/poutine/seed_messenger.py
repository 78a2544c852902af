"""Run a program under a fixed random seed, restoring the random state afterwards.

On entry the handler saves the states of torch's, Python's and NumPy's random
generators and seeds all three with ``rng_seed``; on exit (also when the program
raised) it restores them, so that seeding one call never changes the random
numbers the rest of the program sees.

>>> import torch
>>> with SeedMessenger(rng_seed=0):
...     a = torch.rand(2)
>>> with SeedMessenger(rng_seed=0):
...     b = torch.rand(2)
>>> bool((a == b).all())
True
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from tracegraph.errors import HandlerArgumentError, HandlerAssertionError, HandlerError
from tracegraph.poutine.messenger import Messenger

__all__ = ["SeedMessenger", "get_rng_state", "set_rng_state"]

# NumPy's legacy seeding accepts exactly this range; torch and random accept it too.
_SEED_LIMIT = 2**32


def get_rng_state() -> dict[str, Any]:
    """The states of torch's, Python's and NumPy's global generators.

    >>> sorted(get_rng_state())
    ['numpy', 'random', 'torch']
    """
    return {
        "torch": torch.get_rng_state(),
        "random": random.getstate(),
        "numpy": np.random.get_state(),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore states saved by :func:`get_rng_state`.

    >>> s = get_rng_state(); a = torch.rand(1); set_rng_state(s); bool(a == torch.rand(1))
    True
    """
    torch.set_rng_state(state["torch"])
    random.setstate(state["random"])
    np.random.set_state(state["numpy"])


class SeedMessenger(Messenger):
    """Handler that seeds the random generators on entry and restores them on exit.

    :param rng_seed: an int in ``[0, 2**32)``.
    :raises HandlerAssertionError: (an ``AssertionError``, as Pyro's) for a
        non-int.
    :raises HandlerError: (a ``ValueError``) for an int out of range.

    >>> SeedMessenger(rng_seed=1.5)
    Traceback (most recent call last):
    ...
    tracegraph.errors.HandlerAssertionError: seed(rng_seed=...) expects an int ..., got float: 1.5
    """

    def __init__(self, rng_seed: int) -> None:
        super().__init__()
        if rng_seed is None:
            # Pyro: a TypeError (rng_seed is a required argument there).
            raise HandlerArgumentError("poutine.seed needs rng_seed= (an int in [0, 2**32))")
        if isinstance(rng_seed, bool) or not isinstance(rng_seed, int | np.integer):
            # Pyro asserts the type (and lets torch refuse the range).
            raise HandlerAssertionError(
                "seed(rng_seed=...) expects an int in [0, 2**32), got "
                f"{type(rng_seed).__name__}: {rng_seed!r}"
            )
        if not 0 <= rng_seed < _SEED_LIMIT:
            raise HandlerError(
                f"seed(rng_seed=...) expects an int in [0, 2**32), got {rng_seed!r}"
            )
        self.rng_seed = int(rng_seed)
        self._saved: list[dict[str, Any]] = []

    # The handler has no effect on messages, and, as in Pyro, it does not join the
    # handler stack: under ``seed`` alone a program runs as outside inference
    # (``am_i_wrapped()`` is False, an observed site warns that it is not in
    # inference), and the same instance may be entered again while active.
    def __enter__(self) -> SeedMessenger:
        self._saved.append(get_rng_state())
        torch.manual_seed(self.rng_seed)
        random.seed(self.rng_seed)
        np.random.seed(self.rng_seed)
        return self

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        set_rng_state(self._saved.pop())

    def __getstate__(self) -> dict[str, Any]:
        # Saved generator states belong to a run in progress, not to the handler.
        return {"rng_seed": self.rng_seed}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["rng_seed"])  # type: ignore[misc]
