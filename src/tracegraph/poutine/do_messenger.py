"""Intervene on sample sites (Pearl's do-operator), as Pyro's ``poutine.do``.

``do(model, data={"z": v})`` behaves as if the line ``z = sample("z", ...)`` were
replaced by ``z = v``, plus a fresh sample site ``"z"`` whose value nothing uses.
So for the handlers outside ``do`` (an outer ``trace``, ``condition``, an ELBO):

* site ``"z"`` is an ordinary, unobserved sample site drawn from its distribution
  (it can be conditioned: ``condition(do(model, ...), data={"z": ...})`` is the
  counterfactual "what ``z`` was, had we set it to ``v``");
* the code after the site sees the intervention ``v``.

The intervened message itself is renamed ``f"{name}__CF"``, gets ``value=v``,
``is_observed=False`` and stops, so only handlers inside ``do`` see it (an inner
``trace`` records it).  Nested ``do`` on the same site intervene once: the inner
value reaches the program, the outer handler leaves the fresh site alone.

>>> import torch
>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> from tracegraph import poutine
>>> def model():
...     z = tracegraph.sample("z", dist.Normal(0.0, 1.0))
...     return tracegraph.sample("y", dist.Normal(z, 0.01))
>>> tr = poutine.trace(DoMessenger(data={"z": torch.tensor(100.0)})(model)).get_trace()
>>> bool(abs(tr.nodes["y"]["value"] - 100.0) < 1.0), tr.nodes["z"]["is_observed"]
(True, False)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from tracegraph.errors import HandlerArgumentError
from tracegraph.poutine.messenger import Messenger
from tracegraph.poutine.runtime import Message, apply_stack

__all__ = ["DoMessenger"]

# Message key holding the ids of the DoMessengers that already split this site, so
# that the fresh copy does not get split again (by this handler or a nested one).
_INTERVENERS = "_do_interveners"


class DoMessenger(Messenger):
    """Handler that intervenes on the sample sites named in ``data``.

    :param data: a dict ``name -> value``; a value of None leaves the site alone.
    :raises HandlerError: if ``data`` is not a dict.

    >>> DoMessenger(data=None)
    Traceback (most recent call last):
    ...
    tracegraph.errors.HandlerArgumentError: do(data=...) expects a dict name -> value, got NoneType
    """

    def __init__(self, data: Mapping[str, Any]) -> None:
        super().__init__()
        if not isinstance(data, Mapping):
            raise HandlerArgumentError(
                f"do(data=...) expects a dict name -> value, got {type(data).__name__}"
            )
        self.data = data

    def _pyro_sample(self, msg: Message) -> None:
        name = msg["name"]
        value = self.data.get(name)  # type: ignore[arg-type]
        raw = cast(dict[str, Any], msg)
        seen: frozenset[int] = raw.get(_INTERVENERS, frozenset())
        if value is None or id(self) in seen:
            return
        seen = seen | {id(self)}
        raw[_INTERVENERS] = seen
        # The fresh site: a copy of the message as the program issued it, sent
        # through the whole stack again.  Handlers inside this one already edited
        # ``msg``; they will edit the copy again, so undo what they accumulate
        # (scale, mask, plate frames) instead of applying it twice.
        fresh = cast(Message, dict(raw))
        fresh["infer"] = dict(msg["infer"])
        fresh["scale"] = 1.0
        fresh["mask"] = None
        fresh["cond_indep_stack"] = ()
        fresh["done"] = False
        fresh["stop"] = False
        fresh["continuation"] = None
        apply_stack(fresh)
        # The intervention: the program sees ``value``; handlers outside this one
        # never see this message (it stops here).
        msg["name"] = f"{name}__CF"
        msg["value"] = value
        msg["is_observed"] = False
        msg["done"] = True
        msg["stop"] = True
