"""Multiply the log-probabilities of the sites inside by a positive factor.

>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> from tracegraph import poutine
>>> def model():
...     with ScaleMessenger(scale=3.0):
...         tracegraph.sample("x", dist.Normal(0.0, 1.0))
>>> poutine.trace(model).get_trace().nodes["x"]["scale"]
3.0
"""

from __future__ import annotations

import numbers
from typing import Any

import torch

from tracegraph.errors import HandlerArgumentError, HandlerError
from tracegraph.poutine.messenger import Messenger
from tracegraph.poutine.runtime import Message

__all__ = ["ScaleMessenger"]


def _check_scale(scale: Any) -> Any:
    if isinstance(scale, torch.Tensor):
        if scale.dtype == torch.bool or scale.is_complex():
            raise HandlerError(f"scale must be a positive number or real tensor, got {scale!r}")
        bad = ~(scale.detach() > 0)
        if bool(bad.any()):
            shown = scale.detach()[bad].flatten()[:5].tolist()
            raise HandlerError(
                f"scale must be positive, got a tensor with non-positive (or NaN) entries "
                f"{shown} (shape {tuple(scale.shape)}); hint: use poutine.mask to drop "
                "terms instead of scaling them by 0"
            )
        return scale
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real):
        raise HandlerArgumentError(
            f"scale must be a positive number or tensor, got {type(scale).__name__}: {scale!r}"
        )
    if not float(scale) > 0:
        raise HandlerError(
            f"scale must be positive, got {scale!r}; hint: use poutine.mask to drop terms "
            "instead of scaling them by 0"
        )
    return scale


class ScaleMessenger(Messenger):
    """Handler that multiplies ``msg["scale"]`` of every site by ``scale``.

    :param scale: a positive number or a tensor of positive entries (which must
        broadcast with the sites' batch shapes).
    :raises HandlerError: if ``scale`` is not positive.

    >>> ScaleMessenger(scale=0.0)
    Traceback (most recent call last):
    ...
    tracegraph.errors.HandlerError: scale must be positive, got 0.0; ...
    """

    def __init__(self, scale: Any) -> None:
        super().__init__()
        self.scale = _check_scale(scale)

    def _process_message(self, msg: Message) -> None:
        # All message types, as Pyro: only sample sites' log-probs read the scale.
        msg["scale"] = self.scale * msg["scale"]
