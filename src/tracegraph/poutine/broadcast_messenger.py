"""Broadcast each sample site's distribution to the plates around it.

>>> import torch
>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> from tracegraph import poutine
>>> def model():
...     with tracegraph.plate("data", 3):
...         return tracegraph.sample("x", dist.Normal(0.0, 1.0))
>>> tracegraph.set_rng_seed(0)
>>> poutine.trace(model).get_trace().nodes["x"]["fn"].batch_shape
torch.Size([3])
"""

from __future__ import annotations

from typing import Any

from tracegraph.errors import PlateError
from tracegraph.poutine.messenger import Messenger
from tracegraph.poutine.runtime import Message

__all__ = ["BroadcastMessenger", "broadcast_site"]


def broadcast_site(msg: Message) -> None:
    """Expand ``msg["fn"]`` so that its batch shape covers every vectorized plate in
    ``msg["cond_indep_stack"]``.

    :raises PlateError: when the batch size at a plate's dim is neither 1 nor the
        plate's size.
    """
    if msg["done"] or msg["type"] != "sample":
        return
    fn: Any = msg["fn"]
    batch_shape = getattr(fn, "batch_shape", None)
    if batch_shape is None or isinstance(fn, type):
        return  # (a class where an instance belongs fails later, naming the site)
    target = list(batch_shape)
    changed = False
    for frame in msg["cond_indep_stack"]:
        dim = frame.dim
        if dim is None or frame.size == -1:
            continue
        if -dim > len(target):
            target = [1] * (-dim - len(target)) + target
        have = target[dim]
        if have == frame.size:
            continue
        if have != 1:
            raise PlateError(
                f"shape mismatch inside plate('{frame.name}') at site '{msg['name']}': "
                f"dim {dim} of the distribution's batch shape has size {have}, "
                f"but the plate has size {frame.size} "
                f"(batch_shape={tuple(batch_shape)}); hint: make the distribution's "
                f"parameters broadcast to the plate, or declare the plate at another dim"
            )
        target[dim] = frame.size
        changed = True
    if changed or len(target) != len(batch_shape):
        msg["fn"] = fn.expand(target)


class BroadcastMessenger(Messenger):
    """Handler that broadcasts distributions to the sizes of their plates.

    Vectorized :func:`~tracegraph.plate` already does this; the handler exists for
    code that builds plates' frames by hand.
    """

    def _pyro_sample(self, msg: Message) -> None:
        broadcast_site(msg)
