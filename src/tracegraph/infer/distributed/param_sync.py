"""Every rank holds the same params: each new param is overwritten by rank 0's
value the moment it appears, before any rank computes with it.

Params are created lazily, during a run of the model or guide, often from a
random initial value that differs between ranks.  :class:`StepWatcher`, the
outer handler of each step, catches a param site whose leaf this rank has not
shared yet, broadcasts rank 0's value into it in place and hands the model the
value computed from the shared leaf -- so even the first step's gradient is taken
at the same point on every rank.  Params that enter the store between steps
(user code, ``load``, a module registered outside the model) are shared at the
start of the next step by :meth:`ParamRegistry.sync_store`, all in one bucketed
broadcast.

A param is identified by its name and its leaf tensor: a param replaced by a
new leaf (``store[name] = ...``, ``set_state``) is shared again.  Decaying-average
baselines live in the store too, but they are averaged, not broadcast (see
:mod:`tracegraph.infer.distributed.averaging`).

>>> import torch, tracegraph
>>> from tracegraph.infer.distributed.group import init_distributed, shutdown_distributed
>>> from tracegraph.infer.distributed.protocol import Channel
>>> _ = init_distributed(); tracegraph.clear_param_store()
>>> registry = ParamRegistry(Channel(10.0))
>>> with StepWatcher(registry, step=1) as watcher:
...     _ = tracegraph.param("w", torch.zeros(2))
>>> sorted(registry.synced), watcher.last
(['w'], 'w')
>>> shutdown_distributed()
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch

from tracegraph.infer.baselines import DecayingAverage
from tracegraph.infer.distributed.buckets import DEFAULT_CAP_BYTES, broadcast_from_zero
from tracegraph.infer.distributed.protocol import Channel, Kind
from tracegraph.params import get_param_store
from tracegraph.poutine.messenger import Message, Messenger

__all__ = ["ParamRegistry", "StepWatcher", "is_baseline_state"]


def is_baseline_state(name: str) -> bool:
    """Whether param-store entry ``name`` is a decaying-average baseline.

    >>> is_baseline_state("__baseline_avg_downstream_cost_z"), is_baseline_state("loc")
    (True, False)
    """
    return name.startswith(DecayingAverage.prefix)


def _describe(name: str, leaf: torch.Tensor) -> str:
    return f"{name!r} (shape {tuple(leaf.shape)}, {leaf.dtype})"


class ParamRegistry:
    """The params this rank shares with every other rank: name -> leaf.

    :param channel: where the ranks agree before each broadcast.
    :param cap_bytes: the largest broadcast bucket.
    :param group: the data-plane process group (the default group when None).
    :param exchange: makes the context every exchange runs in (to time it, and to
        mark that an error there comes from the exchange).
    """

    def __init__(
        self,
        channel: Channel,
        cap_bytes: int = DEFAULT_CAP_BYTES,
        group: Any = None,
        exchange: Callable[[], AbstractContextManager[Any]] = nullcontext,
    ) -> None:
        self.channel = channel
        self.cap_bytes = cap_bytes
        self.group = group
        self.exchange = exchange
        self.synced: dict[str, torch.Tensor] = {}

    def is_synced(self, name: str, leaf: torch.Tensor) -> bool:
        """Whether ``leaf`` is the shared leaf of param ``name``."""
        return self.synced.get(name) is leaf

    def sync_new(self, name: str, leaf: torch.Tensor, step: int) -> None:
        """Overwrite the new param ``name`` by rank 0's value (a collective)."""
        key = f"{name}|{tuple(leaf.shape)}|{leaf.dtype}"
        with self.exchange():
            self.channel.agree(
                Kind.NEW_PARAM,
                step,
                key,
                lambda: f"creates param {_describe(name, leaf)} during step {step}",
            )
            broadcast_from_zero([leaf], self.cap_bytes, self.group)
        self.synced[name] = leaf

    def sync_store(self, step: int) -> dict[str, torch.Tensor]:
        """Share the params that entered the store since the last step (a
        collective when any did).

        :returns: the decaying-average baseline entries now in the store, by name
            (to tell which ones the step updates).
        """
        pending: list[tuple[str, torch.Tensor]] = []
        baselines: dict[str, torch.Tensor] = {}
        entries = get_param_store().named_parameters()
        for name, leaf in entries:
            if is_baseline_state(name):
                baselines[name] = leaf
            elif self.synced.get(name) is not leaf:
                pending.append((name, leaf))
        if len(self.synced) + len(pending) > len(entries) - len(baselines):
            # Forget params that left the store, so their tensors can be freed.
            present = {name for name, _ in entries}
            self.synced = {n: t for n, t in self.synced.items() if n in present}
        if pending:
            key = ";".join(f"{n}|{tuple(t.shape)}|{t.dtype}" for n, t in pending)
            names = ", ".join(_describe(n, t) for n, t in pending)
            with self.exchange():
                self.channel.agree(
                    Kind.PARAMS,
                    step,
                    key,
                    lambda: f"starts step {step} with params not shared yet: {names}",
                )
                broadcast_from_zero([t for _, t in pending], self.cap_bytes, self.group)
            self.synced.update(pending)
        return baselines


class StepWatcher(Messenger):
    """The outer handler of one step: shares each new param before it is used and
    remembers which site runs (to say where a failure happened).

    :param registry: the rank's shared params.
    :param step: the step being run (for the ranks' agreement).
    """

    def __init__(self, registry: ParamRegistry, step: int) -> None:
        super().__init__()
        self.registry = registry
        self.step = step
        #: The site whose handlers run now (None between sites).
        self.current: str | None = None
        #: The last site whose value was computed.
        self.last: str | None = None

    def _pyro_sample(self, msg: Message) -> None:
        self.current = msg["name"]

    def _pyro_post_sample(self, msg: Message) -> None:
        self.current, self.last = None, msg["name"]

    def _pyro_param(self, msg: Message) -> None:
        self.current = msg["name"]

    def _pyro_post_param(self, msg: Message) -> None:
        # The outer handler post-processes first: the value is replaced before any
        # inner handler (a trace, a subsampling plate) sees it.
        name = msg["name"]
        self.current, self.last = None, name
        leaf = _leaf_of(msg["value"])
        if leaf is not None and self.registry.is_synced(name, leaf):
            return
        store = get_param_store()
        if name not in store:
            return  # a value from a handler (substitute, replay), not a stored param
        stored = _leaf_of(store[name])
        if stored is None:
            return
        if not self.registry.is_synced(name, stored):
            self.registry.sync_new(name, stored, self.step)
        if leaf is stored:
            msg["value"] = store[name]  # recomputed from rank 0's values


def _leaf_of(value: Any) -> torch.Tensor | None:
    get = getattr(value, "unconstrained", None)
    if not callable(get):
        return None
    try:
        leaf = get()
    except Exception:  # noqa: BLE001 - an unlinked copy: look the param up instead
        return None
    return leaf if isinstance(leaf, torch.Tensor) else None
