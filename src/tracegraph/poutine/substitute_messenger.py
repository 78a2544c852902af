"""Fix the values of param sites and latent sample sites.

Each param site and each unobserved sample site whose name is in ``data`` (or
for which ``substitute_fn(msg)`` is not None) takes that value instead of
reading the param store or drawing.  Unlike ``condition``, a substituted sample
site stays latent (``is_observed`` is False); observed sites keep their data.

>>> import torch
>>> import tracegraph
>>> from tracegraph import poutine
>>> def model():
...     return tracegraph.param("w", torch.tensor(1.0))
>>> tracegraph.clear_param_store()
>>> SubstituteMessenger(data={"w": torch.tensor(7.0)})(model)()
tensor(7.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tracegraph.errors import HandlerError
from tracegraph.poutine.messenger import Messenger
from tracegraph.poutine.runtime import Message

__all__ = ["SubstituteMessenger"]


class SubstituteMessenger(Messenger):
    """Handler that substitutes values at param and latent sample sites.

    :param data: a dict ``name -> value``.
    :param substitute_fn: ``msg -> value or None``; used instead of ``data``.
    :raises HandlerError: if both or neither are given.

    >>> SubstituteMessenger()
    Traceback (most recent call last):
    ...
    tracegraph.errors.HandlerError: substitute needs data= ... or substitute_fn= ...
    """

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        substitute_fn: Callable[[Message], Any] | None = None,
    ) -> None:
        super().__init__()
        if (data is None) == (substitute_fn is None):
            raise HandlerError(
                "substitute needs data= (a dict name -> value) or substitute_fn= "
                "(msg -> value or None)" + ("" if data is None else ", not both")
            )
        if data is not None and not isinstance(data, Mapping):
            raise HandlerError(
                f"substitute(data=...) expects a dict name -> value, got {type(data).__name__}"
            )
        if substitute_fn is not None and not callable(substitute_fn):
            raise HandlerError(
                "substitute(substitute_fn=...) expects a callable msg -> value, got "
                f"{type(substitute_fn).__name__}"
            )
        self.data = data
        self.substitute_fn = substitute_fn

    def _substitute(self, msg: Message) -> None:
        if self.substitute_fn is not None:
            value = self.substitute_fn(msg)
        else:
            assert self.data is not None  # checked in __init__
            value = self.data.get(msg["name"])  # type: ignore[arg-type]
        if value is None:
            return
        msg["value"] = value
        msg["done"] = True

    def _pyro_param(self, msg: Message) -> None:
        self._substitute(msg)

    def _pyro_sample(self, msg: Message) -> None:
        if not msg["is_observed"]:
            self._substitute(msg)
