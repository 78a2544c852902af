"""Stochastic variational inference: one optimizer step per call of :meth:`SVI.step`.

>>> import torch
>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> from tracegraph.infer import SVI, Trace_ELBO
>>> from tracegraph.optim import Adam
>>> def model():
...     tracegraph.sample("z", dist.Normal(1.0, 1.0))
>>> def guide():
...     loc = tracegraph.param("loc", torch.tensor(0.0))
...     tracegraph.sample("z", dist.Normal(loc, 1.0))
>>> svi = SVI(model, guide, Adam({"lr": 0.1}), Trace_ELBO())
>>> losses = [svi.step() for _ in range(200)]
>>> abs(tracegraph.param("loc").item() - 1.0) < 0.2
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from tracegraph.infer.elbo import ELBO
from tracegraph.poutine.trace_messenger import TraceMessenger

__all__ = ["SVI"]


class SVI:
    """Fit a guide to a model by stochastic gradient steps on a loss.

    :param model: the model.
    :param guide: the guide (its params are learned).
    :param optim: a :mod:`tracegraph.optim` optimizer (called with the params).
    :param loss: an :class:`~tracegraph.infer.elbo.ELBO` (or a callable
        ``loss(model, guide, *args, **kwargs) -> float`` together with
        ``loss_and_grads``).
    """

    def __init__(
        self,
        model: Callable[..., Any],
        guide: Callable[..., Any],
        optim: Any,
        loss: ELBO | Callable[..., Any],
        loss_and_grads: Callable[..., Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if not callable(model) or not callable(guide):
            raise TypeError("SVI needs a callable model and a callable guide")
        if not callable(optim):
            raise TypeError(
                f"SVI's optim must be a tracegraph.optim optimizer, got {type(optim).__name__}"
            )
        self.model = model
        self.guide = guide
        self.optim = optim
        if isinstance(loss, ELBO):
            self.loss: Callable[..., Any] = loss.loss
            self.loss_and_grads: Callable[..., Any] = loss.loss_and_grads
        else:
            if loss_and_grads is None:

                def _loss_and_grads(*a: Any, **k: Any) -> Any:
                    value = loss(*a, **k)
                    value.backward()
                    return value

                loss_and_grads = _loss_and_grads
            self.loss = loss
            self.loss_and_grads = loss_and_grads

    def evaluate_loss(self, *args: Any, **kwargs: Any) -> float:
        """The loss at the current params, with no gradient step.

        :returns: the loss as a float.
        """
        with torch.no_grad():
            loss = self.loss(self.model, self.guide, *args, **kwargs)
        return _to_float(loss)

    def step(self, *args: Any, **kwargs: Any) -> float:
        """Estimate the loss and its gradient, and take one optimizer step on every
        param the model and guide used.

        :returns: the loss as a float.
        """
        with TraceMessenger(param_only=True) as capture:
            loss = self.loss_and_grads(self.model, self.guide, *args, **kwargs)
        params = {
            id(p): p
            for p in (site["value"].unconstrained() for site in capture.trace.nodes.values())
        }
        self.optim(list(params.values()))
        for p in params.values():
            p.grad = None
        return _to_float(loss)


def _to_float(loss: Any) -> float:
    # A callable loss may return a tensor that requires grad.
    if isinstance(loss, torch.Tensor):
        return loss.detach().item()
    return float(loss)
