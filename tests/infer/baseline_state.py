"""Saving and restoring the decaying-average baselines, which live in the param
store (as in Pyro), so that two estimator objects can start from the same state.

>>> snapshot = save_baselines()
>>> restore_baselines(snapshot)
"""

from __future__ import annotations

import torch

from tracegraph.infer.baselines import DecayingAverage
from tracegraph.params import get_param_store


def save_baselines() -> dict[str, torch.Tensor]:
    """Every decaying average in the param store, copied."""
    store = get_param_store()
    return {
        name: store[name].detach().clone()
        for name in store.keys()
        if name.startswith(DecayingAverage.prefix)
    }


def restore_baselines(snapshot: dict[str, torch.Tensor]) -> None:
    """Make the param store's decaying averages exactly ``snapshot``."""
    store = get_param_store()
    for name in [n for n in store.keys() if n.startswith(DecayingAverage.prefix)]:
        del store[name]
    for name, value in snapshot.items():
        store[name] = value.clone()
