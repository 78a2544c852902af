"""Turn observed sample sites into latent ones: the value is drawn from the
site's distribution, and the observation is kept in ``msg["infer"]["obs"]``
(with ``msg["infer"]["was_observed"] = True``), as Pyro's ``uncondition``.

Deterministic sites (:func:`tracegraph.deterministic`) are left alone: their
"observation" is a value computed by the program, not data.

>>> import torch
>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> from tracegraph import poutine
>>> def model():
...     tracegraph.sample("x", dist.Normal(0.0, 1.0), obs=torch.tensor(9.0))
>>> site = poutine.trace(UnconditionMessenger()(model)).get_trace().nodes["x"]
>>> site["is_observed"], site["infer"]["obs"], bool(site["value"] != 9.0)
(False, tensor(9.), True)
"""

from __future__ import annotations

from tracegraph.poutine.messenger import Messenger
from tracegraph.poutine.runtime import Message

__all__ = ["UnconditionMessenger"]


class UnconditionMessenger(Messenger):
    """Handler that makes every observed sample site latent.

    >>> from tracegraph.poutine.runtime import apply_stack, new_message
    >>> msg = new_message("sample", "x", lambda: 0.5, value=2.0, is_observed=True)
    >>> with UnconditionMessenger():
    ...     apply_stack(msg)
    >>> msg["value"], msg["is_observed"], msg["infer"]
    (0.5, False, {'was_observed': True, 'obs': 2.0})
    """

    def _pyro_sample(self, msg: Message) -> None:
        if not msg["is_observed"] or msg["infer"].get("_deterministic"):
            return
        # A new dict: the site's infer options may be shared with the caller.
        msg["infer"] = {**msg["infer"], "was_observed": True, "obs": msg["value"]}
        msg["is_observed"] = False
        msg["value"] = None
        msg["done"] = False
