"""Condition sample sites on data: the site takes the given value and is observed.

>>> import torch
>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> def model():
...     return tracegraph.sample("x", dist.Normal(0.0, 1.0))
>>> with ConditionMessenger(data={"x": torch.tensor(0.3)}):
...     model()
tensor(0.3000)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tracegraph.errors import HandlerArgumentError, SiteError
from tracegraph.poutine.messenger import Messenger
from tracegraph.poutine.runtime import Message
from tracegraph.poutine.trace_struct import Trace

__all__ = ["ConditionMessenger"]


class ConditionMessenger(Messenger):
    """Handler that sets ``value`` and ``is_observed=True`` at every sample site
    named in ``data``.

    :param data: a dict ``name -> value``, or a
        :class:`~tracegraph.poutine.trace_struct.Trace` whose sample sites' values
        are used.
    :raises HandlerError: if ``data`` is neither.

    >>> ConditionMessenger(data=[1.0])
    Traceback (most recent call last):
    ...
    tracegraph.errors.HandlerArgumentError: condition(data=...) expects a dict ..., got list
    """

    def __init__(self, data: Mapping[str, Any] | Trace) -> None:
        super().__init__()
        if not isinstance(data, Mapping | Trace):
            raise HandlerArgumentError(
                "condition(data=...) expects a dict name -> value or a Trace, got "
                f"{type(data).__name__}"
            )
        self.data = data

    def _lookup(self, name: str) -> tuple[bool, Any]:
        if isinstance(self.data, Trace):
            site = self.data.nodes.get(name)
            if site is None:
                return False, None
            if site.get("type") != "sample":
                raise SiteError(
                    f"condition: site '{name}' is a sample site, but the conditioning "
                    f"trace has it as a {site.get('type')} site"
                )
            return True, site["value"]
        if name not in self.data:
            return False, None
        return True, self.data[name]

    def _pyro_sample(self, msg: Message) -> None:
        found, value = self._lookup(msg["name"])  # type: ignore[arg-type]
        if not found:
            return
        msg["value"] = value
        # As Pyro: conditioning on None leaves the site latent.
        msg["is_observed"] = value is not None
