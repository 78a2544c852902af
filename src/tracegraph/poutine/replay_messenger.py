"""Re-run a program with the values of an earlier trace (typically the guide's).

A latent sample site that the replayed trace also has takes the trace's value
instead of drawing; a site the trace lacks draws as usual; observed sites keep
their observation.  This is how an ELBO scores a model at the values its guide
drew, and how a model sees the same plate subsample indices as its guide.

>>> import torch
>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> from tracegraph import poutine
>>> def guide():
...     return tracegraph.sample("z", dist.Normal(0.0, 1.0))
>>> def model():
...     return tracegraph.sample("z", dist.Normal(5.0, 1.0))
>>> guide_tr = poutine.trace(guide).get_trace()
>>> with ReplayMessenger(trace=guide_tr):
...     z = model()
>>> bool(z == guide_tr.nodes["z"]["value"])
True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tracegraph.errors import (
    GuideObservedError,
    HandlerArgumentError,
    HandlerAssertionError,
    HandlerError,
)
from tracegraph.poutine.messenger import Messenger
from tracegraph.poutine.runtime import Message
from tracegraph.poutine.trace_struct import Trace

__all__ = ["ReplayMessenger"]


class ReplayMessenger(Messenger):
    """Handler that gives latent sample sites the values recorded in ``trace``
    and param sites the values in ``params``.

    :param trace: a :class:`~tracegraph.poutine.trace_struct.Trace` to replay.
    :param params: a dict ``name -> value`` for param sites; each value must be a
        constrained value as the param store hands out (it has ``.unconstrained``),
        e.g. from ``get_param_store()`` or an earlier trace's param site.
    :raises HandlerError: if neither is given.
    :raises HandlerAssertionError: (an ``AssertionError``, as Pyro's) when a param
        site meets a value of ``params`` without ``.unconstrained``.

    >>> import torch
    >>> import tracegraph
    >>> tracegraph.clear_param_store()
    >>> w = tracegraph.param("saved_w", torch.tensor(3.0))
    >>> with ReplayMessenger(params={"w": w}):
    ...     tracegraph.param("w", torch.tensor(0.0))
    tensor(3., requires_grad=True)
    """

    def __init__(self, trace: Trace | None = None, params: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        if trace is None and params is None:
            raise HandlerError("replay needs trace= (a Trace) or params= (a dict name -> value)")
        if trace is not None and not isinstance(trace, Trace):
            raise HandlerArgumentError(
                f"replay(trace=...) expects a Trace, got {type(trace).__name__}; hint: "
                "use poutine.trace(guide).get_trace(...) to record one, or params= for "
                "a dict of param values"
            )
        if params is not None and not isinstance(params, Mapping):
            raise HandlerArgumentError(
                f"replay(params=...) expects a dict name -> value, got {type(params).__name__}"
            )
        self.trace = trace
        self.params = params

    def _pyro_sample(self, msg: Message) -> None:
        name = msg["name"]
        if self.trace is None or name is None or name not in self.trace.nodes:
            return
        if msg["is_observed"]:
            # Data stays data: an observation is never overwritten by a replay.
            return
        site = self.trace.nodes[name]
        if site.get("type") != "sample" or site.get("is_observed"):
            raise GuideObservedError(
                f"replay: site '{name}' is a latent sample site here, but the replayed "
                f"trace has it as {'an observed' if site.get('is_observed') else 'a'} "
                f"{site.get('type')} site; hint: replay a trace in which '{name}' was "
                "sampled (a guide trace), or condition on it instead"
            )
        msg["value"] = site["value"]
        msg["done"] = True
        # As Pyro: the site takes the replayed site's inference options (e.g. a
        # guide's enumeration or baseline settings).  A copy, so that handlers that
        # edit this message's ``infer`` never change the replayed trace.
        msg["infer"] = dict(site.get("infer") or {})

    def _pyro_param(self, msg: Message) -> None:
        name = msg["name"]
        if self.params is None or name is None or name not in self.params:
            return
        value = self.params[name]
        if not hasattr(value, "unconstrained"):
            raise HandlerAssertionError(
                f"replay: param {name!r} must be a constrained value as the param store "
                f"hands out (with .unconstrained()), got {type(value).__name__}; hint: pass "
                "get_param_store()[name] or a traced param site's value"
            )
        msg["value"] = value
        msg["done"] = True
