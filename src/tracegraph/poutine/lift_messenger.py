"""Lift param sites to random variables: a param site becomes a sample site
whose value is drawn from a prior instead of read from the param store.

``prior`` is one of:

* a distribution: every param site is drawn from it;
* a dict ``name -> distribution or callable``: only the params named in it (by
  store name, or by the module-local part of a ``module`` param's name) are
  lifted, the others stay params;
* a callable that is not a distribution (a stochastic function): it is called
  with the param's arguments after the name (``init_tensor, constraint,
  event_dim=...``) and its return value is the param's value; as in Pyro the
  lifted site itself is then hidden from outer handlers, because the function's
  own sample sites already record its randomness.

A param that occurs twice in one run is drawn once: the repeat gets the first
value and is hidden from outer handlers.  On exit without an error, names in a
``prior`` dict that matched no param give a :class:`~tracegraph.errors.TracegraphWarning`.

>>> import torch
>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> from tracegraph import poutine
>>> def model():
...     return tracegraph.param("w", torch.tensor(0.0))
>>> tr = poutine.trace(LiftMessenger(prior=dist.Normal(10.0, 0.1))(model)).get_trace()
>>> tr.nodes["w"]["type"], bool(abs(tr.nodes["w"]["value"] - 10.0) < 1.0)
('sample', True)
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any, cast

import torch

from tracegraph.distributions.generic import draw
from tracegraph.errors import HandlerArgumentError, TracegraphWarning
from tracegraph.params.module_names import user_param_name
from tracegraph.poutine.messenger import Messenger
from tracegraph.poutine.runtime import Message

__all__ = ["LiftMessenger"]

Prior = torch.distributions.Distribution | Callable[..., Any]


def _is_distribution(obj: object) -> bool:
    return isinstance(obj, torch.distributions.Distribution)


class LiftMessenger(Messenger):
    """Handler that turns param sites into sample sites drawn from ``prior``.

    :param prior: a distribution, a dict ``name -> prior``, or a stochastic function.
    :raises HandlerError: if ``prior`` (or a dict entry) is none of these.

    >>> LiftMessenger(prior=1.0)
    Traceback (most recent call last):
    ...
    tracegraph.errors.HandlerArgumentError: lift(prior=...) expects a distribution, ..., got float
    """

    def __init__(self, prior: Prior | Mapping[str, Prior]) -> None:
        super().__init__()
        entries = prior.items() if isinstance(prior, Mapping) else [("prior", prior)]
        for key, entry in entries:
            if not (_is_distribution(entry) or callable(entry)):
                where = "" if not isinstance(prior, Mapping) else f"[{key!r}]"
                raise HandlerArgumentError(
                    f"lift(prior{where}=...) expects a distribution, a dict name -> "
                    f"distribution, or a callable, got {type(entry).__name__}"
                )
        self.prior = prior
        self._cache: dict[str, Any] = {}
        self._hits: set[str] = set()
        # Names lifted in the process phase whose value is not cached yet.
        self._pending: set[str | None] = set()

    def __enter__(self) -> LiftMessenger:
        self._cache = {}
        self._hits = set()
        self._pending = set()
        super().__enter__()
        return self

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        super().__exit__(exc_type, exc_value, traceback)
        if exc_type is None and isinstance(self.prior, Mapping):
            unused = sorted(set(self.prior) - self._hits)
            if unused:
                warnings.warn(
                    f"lift: the prior names {unused} matched no param site; hint: use the "
                    "param's name (or, for a module param, its name inside the module)",
                    TracegraphWarning,
                    stacklevel=3,
                )
        self._cache = {}

    def __getstate__(self) -> dict[str, Any]:
        # The cache belongs to a run in progress, not to the handler.
        return {"prior": self.prior}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["prior"])  # type: ignore[misc]

    def _select(self, name: str) -> Prior | None:
        if not isinstance(self.prior, Mapping):
            return self.prior
        for key in (name, user_param_name(name)):
            if key in self.prior:
                self._hits.add(key)
                return self.prior[key]
        return None

    def _pyro_param(self, msg: Message) -> None:
        name = msg["name"]
        assert name is not None
        prior = self._select(name)
        if prior is None:
            return
        msg["type"] = "sample"
        if name in self._cache:
            # The same param again in this run: one random variable, drawn once.
            msg["value"] = self._cache[name]
            msg["is_observed"] = True
            msg["done"] = True
            msg["stop"] = True
            return
        msg["is_observed"] = False
        # A distribution is what a sample site's ``fn`` holds; Message types ``fn``
        # as the callable of the default action.
        msg["fn"] = cast(Callable[..., Any], prior)
        if _is_distribution(prior):
            msg["args"] = ()
            msg["kwargs"] = {}
            if not callable(prior):
                # A plain torch distribution cannot be called by the default action.
                msg["value"] = draw(prior)
        else:
            msg["args"] = msg["args"][1:]
            msg["stop"] = True
        self._pending.add(name)

    def _pyro_post_sample(self, msg: Message) -> None:
        name = msg["name"]
        if name is not None and name in self._pending:
            self._pending.discard(name)
            self._cache[name] = msg["value"]
