"""The state of the global random number generators, through their official APIs.

An estimator that runs a program a second time on the same draws (the structure
cache of ``JitTraceGraph_ELBO`` on a new structure) restores the generators the
program draws from.  torch's generators (CPU, and CUDA once initialized) are
always saved: ``torch.get_rng_state()`` costs about a microsecond.  Python's
``random`` and NumPy's legacy global generator cost 10 and 60 microseconds per
snapshot, so they are saved only when asked (``host=True``): the caller asks once
it has seen the program move them.  No generator is read any other way.

>>> import random
>>> state = RngState(host=True)
>>> a = (torch.rand(2), random.random())
>>> state.restore()
>>> b = (torch.rand(2), random.random())
>>> bool((a[0] == b[0]).all()) and a[1] == b[1]
True
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

__all__ = ["RngState", "host_state"]


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
