"""Seeding, saving and restoring the global random number generators that models
draw from: torch's (and CUDA's when present), Python's ``random`` and NumPy's.

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

__all__ = ["get_rng_state", "set_rng_seed", "set_rng_state"]


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
