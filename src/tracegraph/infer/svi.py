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

import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch

from tracegraph.errors import OptimizerError
from tracegraph.infer.elbo import ELBO
from tracegraph.infer.numeric import torch_backward, torch_item, zero_grads
from tracegraph.infer.trace_posterior import TracePosterior
from tracegraph.optim.optim import PyroOptim
from tracegraph.poutine import handlers
from tracegraph.poutine.trace_messenger import TraceMessenger
from tracegraph.poutine.trace_struct import Trace

__all__ = ["ELBO", "SVI", "TracePosterior", "torch_item"]


def _items(loss: Any) -> Any:
    # A loss may be a tuple of terms (a custom loss); each becomes a number.
    if isinstance(loss, tuple):
        return type(loss)(map(torch_item, loss))
    return torch_item(loss)


class SVI(TracePosterior):
    """Fit a guide to a model by stochastic gradient steps on a loss.

    :param model: the model.
    :param guide: the guide (its params are learned).
    :param optim: a :mod:`tracegraph.optim` optimizer (a ``PyroOptim``).
    :param loss: an :class:`~tracegraph.infer.elbo.ELBO`, or a callable
        ``loss(model, guide, *args, **kwargs)`` (then ``loss_and_grads`` may be
        given; by default it calls ``loss`` and back-propagates its value).
    :param loss_and_grads: with a callable ``loss``: computes the loss and
        accumulates the gradients.
    :param num_samples: (deprecated) traces :meth:`run` collects after training.
    :param num_steps: (deprecated) optimization steps :meth:`run` takes.
    :param kwargs: passed to :class:`~tracegraph.infer.abstract_infer.TracePosterior`
        (``num_chains``).
    :raises OptimizerError: if ``optim`` is not a ``PyroOptim`` (a ``ValueError``).
    :raises TypeError: if ``model`` or ``guide`` is not callable.

    >>> import torch
    >>> import tracegraph
    >>> import tracegraph.distributions as dist
    >>> from tracegraph.infer import Trace_ELBO
    >>> from tracegraph.optim import Adam
    >>> def model():
    ...     tracegraph.sample("z", dist.Normal(0.0, 1.0))
    >>> def guide():
    ...     tracegraph.sample("z", dist.Normal(tracegraph.param("loc", torch.tensor(0.5)), 1.0))
    >>> svi = SVI(model, guide, Adam({"lr": 0.1}), Trace_ELBO())
    >>> isinstance(svi.step(), float), tracegraph.param("loc").item() < 0.5
    (True, True)
    """

    def __init__(
        self,
        model: Callable[..., Any],
        guide: Callable[..., Any],
        optim: PyroOptim,
        loss: ELBO | Callable[..., Any],
        loss_and_grads: Callable[..., Any] | None = None,
        num_samples: int = 0,
        num_steps: int = 0,
        **kwargs: Any,
    ) -> None:
        if not callable(model) or not callable(guide):
            raise TypeError(
                f"SVI needs a callable model and guide, got {type(model).__name__} and "
                f"{type(guide).__name__}"
            )
        if num_steps:
            warnings.warn(
                "The `num_steps` argument to SVI is deprecated and will be removed in a "
                "future release. Use `SVI.step` directly to control the number of "
                "iterations.",
                FutureWarning,
                stacklevel=2,
            )
        if num_samples:
            warnings.warn(
                "The `num_samples` argument to SVI is deprecated and will be removed in a "
                "future release. Use `tracegraph.infer.Predictive` class to draw samples "
                "from the posterior.",
                FutureWarning,
                stacklevel=2,
            )
        self.model = model
        self.guide = guide
        self.optim = optim
        self.num_steps = num_steps
        self.num_samples = num_samples
        super().__init__(**kwargs)
        if not isinstance(optim, PyroOptim):
            raise OptimizerError(
                f"SVI's optim must be a tracegraph.optim optimizer (a PyroOptim, e.g. "
                f"tracegraph.optim.Adam({{'lr': 0.01}})), got {type(optim).__name__}"
            )
        #: The estimator, when ``loss`` is one (a compiled step reports its params).
        self.elbo = loss if isinstance(loss, ELBO) else None
        if isinstance(loss, ELBO):
            self.loss: Callable[..., Any] = loss.loss
            self.loss_and_grads: Callable[..., Any] = loss.loss_and_grads
        else:
            if loss_and_grads is None:

                def _loss_and_grads(*a: Any, **k: Any) -> Any:
                    value = loss(*a, **k)
                    torch_backward(value, retain_graph=True)
                    return value

                loss_and_grads = _loss_and_grads
            self.loss = loss
            self.loss_and_grads = loss_and_grads

    def run(self, *args: Any, **kwargs: Any) -> SVI:
        """Deprecated (as in Pyro): take ``num_steps`` steps, then collect
        ``num_samples`` traces of the model replayed against the guide, all hidden
        from outer handlers.  Use :meth:`step` and
        :class:`~tracegraph.infer.Predictive` instead.

        :returns: ``self``.
        """
        warnings.warn(
            "The `SVI.run` method is deprecated and will be removed in a future release. "
            "For inference, use `SVI.step` directly, and for predictions, use the "
            "`tracegraph.infer.Predictive` class.",
            FutureWarning,
            stacklevel=2,
        )
        if self.num_steps > 0:
            with handlers.block():
                for _ in range(self.num_steps):
                    self.step(*args, **kwargs)
        super().run(*args, **kwargs)
        return self

    def _traces(self, *args: Any, **kwargs: Any) -> Iterator[tuple[Trace, float]]:
        for _ in range(self.num_samples):
            guide_trace = handlers.trace(self.guide).get_trace(*args, **kwargs)
            model_trace = handlers.trace(
                handlers.replay(self.model, trace=guide_trace)
            ).get_trace(*args, **kwargs)
            yield model_trace, 1.0

    def evaluate_loss(self, *args: Any, **kwargs: Any) -> Any:
        """The loss at the current params, with no gradient step.

        :returns: the loss as a number (a tuple of numbers for a tuple loss).
        """
        with torch.no_grad():
            loss = self.loss(self.model, self.guide, *args, **kwargs)
        return _items(loss)

    def step(self, *args: Any, **kwargs: Any) -> Any:
        """Estimate the loss and its gradient, take one optimizer step on every
        param the model and guide used, then zero their gradients.

        :returns: the loss as a number (a tuple of numbers for a tuple loss).
        """
        with TraceMessenger(param_only=True) as capture:
            loss = self.loss_and_grads(self.model, self.guide, *args, **kwargs)
        params = {
            id(p): p
            for p in (site["value"].unconstrained() for site in capture.trace.nodes.values())
        }
        # A compiled step runs no param sites: the estimator says which it used.
        for p in getattr(self.elbo, "step_params", ()):
            params.setdefault(id(p), p)
        self.optim(list(params.values()))
        zero_grads(params.values())
        return _items(loss)
