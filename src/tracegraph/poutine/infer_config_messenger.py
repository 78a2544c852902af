"""Set inference options per site: ``config_fn(msg)`` returns a dict merged into
``msg["infer"]`` of every sample and param site (as Pyro, param sites too).

>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> from tracegraph import poutine
>>> def model():
...     tracegraph.sample("z", dist.Bernoulli(0.5))
>>> config = lambda msg: {"baseline": {"use_decaying_avg_baseline": True}}
>>> poutine.trace(InferConfigMessenger(config)(model)).get_trace().nodes["z"]["infer"]
{'baseline': {'use_decaying_avg_baseline': True}}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tracegraph.errors import HandlerArgumentError, SiteError
from tracegraph.poutine.messenger import Messenger
from tracegraph.poutine.runtime import Message

__all__ = ["InferConfigMessenger"]


class InferConfigMessenger(Messenger):
    """Handler that merges ``config_fn(msg)`` into each site's ``infer`` dict
    (the returned keys win over the site's own).

    :param config_fn: ``msg -> dict`` of inference options.
    :raises HandlerArgumentError: (a ``TypeError``) if ``config_fn`` is not callable.

    >>> InferConfigMessenger({"enumerate": "parallel"})
    Traceback (most recent call last):
    ...
    tracegraph.errors.HandlerArgumentError: infer_config(config_fn=...) expects a callable ...
    """

    def __init__(self, config_fn: Callable[[Message], Mapping[str, Any]]) -> None:
        super().__init__()
        if not callable(config_fn):
            raise HandlerArgumentError(
                "infer_config(config_fn=...) expects a callable msg -> dict, got "
                f"{type(config_fn).__name__}; hint: to set the same options everywhere "
                "write config_fn=lambda msg: {...}"
            )
        self.config_fn = config_fn

    def _configure(self, msg: Message) -> None:
        config = self.config_fn(msg)
        if not isinstance(config, Mapping):
            raise SiteError(
                f"infer_config: config_fn returned {type(config).__name__} at site "
                f"'{msg['name']}'; it must return a dict (empty for no options)"
            )
        if config:
            # A new dict: the site's infer options may be shared with the caller.
            msg["infer"] = {**msg["infer"], **config}

    def _pyro_sample(self, msg: Message) -> None:
        self._configure(msg)

    def _pyro_param(self, msg: Message) -> None:
        self._configure(msg)
