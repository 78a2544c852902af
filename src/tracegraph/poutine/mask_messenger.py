"""Mask the log-probabilities of the sites inside: where the mask is False a
site's log-prob counts as zero.

>>> import torch
>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> from tracegraph import poutine
>>> def model():
...     with tracegraph.plate("data", 2), MaskMessenger(mask=torch.tensor([True, False])):
...         tracegraph.sample("x", dist.Normal(0.0, 1.0))
>>> poutine.trace(model).get_trace().nodes["x"]["mask"]
tensor([ True, False])
"""

from __future__ import annotations

from typing import Any

import torch

from tracegraph.errors import HandlerArgumentError, HandlerError
from tracegraph.poutine.messenger import Messenger
from tracegraph.poutine.runtime import Message

__all__ = ["MaskMessenger"]


class MaskMessenger(Messenger):
    """Handler that ands ``mask`` into ``msg["mask"]`` of every site.

    :param mask: a Python bool or a bool tensor (broadcasting with the sites'
        batch shapes).
    :raises HandlerError: for anything else (a float tensor, 0/1, None).

    >>> MaskMessenger(mask=torch.tensor([1.0, 0.0]))
    Traceback (most recent call last):
    ...
    tracegraph.errors.HandlerError: mask must be ..., got a tensor of dtype torch.float32; ...
    """

    def __init__(self, mask: bool | torch.Tensor) -> None:
        super().__init__()
        if isinstance(mask, torch.Tensor):
            if mask.dtype != torch.bool:
                raise HandlerError(
                    f"mask must be a bool or a bool tensor, got a tensor of dtype {mask.dtype}; "
                    "hint: convert it with `mask.bool()` or compare, e.g. `x > 0`"
                )
        elif mask is None:
            # Pyro: TypeError when mask is left out, ValueError when it is None.
            raise HandlerArgumentError(
                "poutine.mask needs mask=: mask must be a bool or a bool tensor, got NoneType: None"
            )
        elif not isinstance(mask, bool):
            raise HandlerError(
                f"mask must be a bool or a bool tensor, got {type(mask).__name__}: {mask!r}"
            )
        self.mask = mask

    def _process_message(self, msg: Message) -> None:
        current: Any = msg["mask"]
        msg["mask"] = self.mask if current is None else current & self.mask
