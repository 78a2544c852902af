"""Fix the values of param sites (Pyro's ``poutine.substitute``).

Each param site whose name is in ``data`` takes that value instead of reading
the param store, which is left untouched.  Sample sites are not affected (as in
Pyro; ``condition`` and ``replay`` fix those).  Names in ``data`` that no param
site of the run had are reported by a warning when the handler exits.

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

import warnings
from collections.abc import Mapping
from typing import Any

from tracegraph.errors import HandlerArgumentError, TracegraphWarning
from tracegraph.poutine.messenger import Messenger
from tracegraph.poutine.runtime import Message

__all__ = ["SubstituteMessenger"]


class SubstituteMessenger(Messenger):
    """Handler that substitutes values at param sites.

    :param data: a dict ``name -> value``.
    :raises HandlerArgumentError: (a ``TypeError``, as Pyro fails) if ``data`` is
        missing or not a dict.

    >>> SubstituteMessenger(None)
    Traceback (most recent call last):
    ...
    tracegraph.errors.HandlerArgumentError: substitute needs data= (a dict name -> value)...
    """

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        if data is None:
            raise HandlerArgumentError(
                "substitute needs data= (a dict name -> value); hint: condition or replay "
                "fix sample sites"
            )
        if not isinstance(data, Mapping):
            raise HandlerArgumentError(
                f"substitute(data=...) expects a dict name -> value, got {type(data).__name__}"
            )
        self.data = data
        self._seen: set[Any] = set()

    def __enter__(self) -> SubstituteMessenger:
        self._seen = set()
        super().__enter__()
        return self

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        super().__exit__(exc_type, exc_value, traceback)
        if exc_type is None:
            missing = [name for name in self.data if name not in self._seen]
            if missing:
                warnings.warn(
                    f"substitute: data names {missing} matched no param site of the run (the "
                    f"param sites were {sorted(map(str, self._seen))}); hint: substitute fixes "
                    "params only, use condition or replay for sample sites",
                    TracegraphWarning,
                    stacklevel=2,
                )

    def _substitute(self, msg: Message) -> None:
        value = self.data.get(msg["name"])  # type: ignore[arg-type]
        if value is None:
            return
        msg["value"] = value
        msg["done"] = True

    def _pyro_param(self, msg: Message) -> None:
        self._seen.add(msg["name"])
        self._substitute(msg)
