"""The global random number generators models draw from (torch's, CUDA's once
initialized, Python's ``random``, NumPy's legacy global generator): seeding them,
and saving and restoring their state through their official APIs only.

``get_rng_state``/``set_rng_state``/``set_rng_seed`` are Pyro's ``pyro.util``
names.  :class:`RngState` is the snapshot an estimator takes before a run it may
have to do again on the same draws (the structure cache of the ``Jit`` ELBOs):
torch's state costs about a microsecond and is always saved; Python's and
NumPy's cost 10 and 60 microseconds, so they are saved only when asked
(``host=True``), which the caller does once it has seen the program move them.

>>> set_rng_seed(0)
>>> state = get_rng_state()
>>> a = torch.rand(2)
>>> set_rng_state(state)
>>> bool((torch.rand(2) == a).all())
True
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

__all__ = ["RngState", "get_rng_state", "host_state", "set_rng_seed", "set_rng_state"]


def set_rng_seed(rng_seed: int) -> None:
    """Seed torch (and every CUDA device), Python's ``random`` and NumPy.

    :param rng_seed: the seed.

    >>> set_rng_seed(1); a = torch.rand(1); set_rng_seed(1); bool(a == torch.rand(1))
    True
    """
    torch.manual_seed(rng_seed)
    random.seed(rng_seed)
    np.random.seed(rng_seed)


def get_rng_state() -> dict[str, Any]:
    """The state of every generator: ``{"torch", "random", "numpy"}`` (and ``"cuda"``
    when CUDA is available).

    >>> sorted(get_rng_state())[:3]
    ['numpy', 'random', 'torch']
    """
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "random": random.getstate(),
        "numpy": np.random.get_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the generators from a :func:`get_rng_state` snapshot.

    >>> s = get_rng_state(); x = random.random(); set_rng_state(s); random.random() == x
    True
    """
    torch.set_rng_state(state["torch"])
    random.setstate(state["random"])
    np.random.set_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def host_state() -> tuple[Any, Any]:
    """The official states of Python's ``random`` and NumPy's global generator.

    >>> host_state() == host_state()
    True
    """
    return random.getstate(), _NumpyState(np.random.get_state())


class _NumpyState:
    # NumPy's legacy state tuple, comparable with ``==``.
    __slots__ = ("state",)

    def __init__(self, state: Any) -> None:
        self.state = state

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _NumpyState):
            return NotImplemented
        a, b = self.state, other.state
        return len(a) == len(b) and all(
            np.array_equal(x, y) if isinstance(x, np.ndarray) else x == y for x, y in zip(a, b)
        )

    __hash__ = None  # type: ignore[assignment]


class RngState:
    """A snapshot of torch's generators (CPU, and CUDA once initialized) and, with
    ``host=True``, of Python's and NumPy's global generators.

    :param host: also save Python's ``random`` and NumPy's legacy generator.

    >>> state = RngState(); a = torch.rand(2); state.restore(); bool((a == torch.rand(2)).all())
    True
    """

    __slots__ = ("torch", "cuda", "host")

    def __init__(self, host: bool = False) -> None:
        self.torch = torch.get_rng_state()
        self.cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
        self.host = host_state() if host else None

    def restore(self) -> None:
        """Set every saved generator back to the saved state."""
        torch.set_rng_state(self.torch)
        if self.cuda is not None:
            torch.cuda.set_rng_state_all(self.cuda)
        if self.host is not None:
            python, numpy_state = self.host
            random.setstate(python)
            np.random.set_state(numpy_state.state)
