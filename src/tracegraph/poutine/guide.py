"""``GuideMessenger``: a guide written as a handler around the model (Pyro's
``pyro.poutine.guide``).

Instead of a separate guide program whose trace the model is replayed on, the
model runs once inside the guide handler, which replaces each latent site's
prior by a posterior (:meth:`GuideMessenger.get_posterior`, given the prior
conditioned on the values drawn so far).  One run yields both traces
(:meth:`GuideMessenger.get_traces`); the ELBOs recognize such a guide and use
them.

>>> import torch
>>> import tracegraph, tracegraph.distributions as dist
>>> class Shifted(GuideMessenger):
...     def get_posterior(self, name, prior):
...         return dist.Normal(prior.loc + 1.0, prior.scale)
>>> def model():
...     return tracegraph.sample("x", dist.Normal(0.0, 1e-6))
>>> round(Shifted(model)()["x"].item(), 3)
1.0
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import torch

from tracegraph.distributions import Delta
from tracegraph.poutine.runtime import Message
from tracegraph.poutine.sites import site_is_subsample
from tracegraph.poutine.trace_extension import prune_subsample_sites  # noqa: F401 (Pyro's name)
from tracegraph.poutine.trace_messenger import TraceMessenger
from tracegraph.poutine.trace_struct import Trace

__all__ = ["GuideMessenger"]


class GuideMessenger(TraceMessenger, ABC):
    """Abstract base class of guides that run the model under themselves; a
    subclass implements :meth:`get_posterior`.

    Calling the guide with the model's arguments runs the model with each latent
    site drawn from its posterior and returns ``{site name: value}`` of every
    sample site (latent, deterministic and observed).

    :param model: the model.

    >>> import tracegraph, tracegraph.distributions as dist
    >>> class Prior(GuideMessenger):
    ...     def get_posterior(self, name, prior):
    ...         return prior
    >>> def model():
    ...     x = tracegraph.sample("x", dist.Normal(0.0, 1.0))
    ...     tracegraph.sample("y", dist.Normal(x, 1.0), obs=torch.tensor(0.0))
    >>> sorted(Prior(model)())
    ['x', 'y']
    """

    def __init__(self, model: Callable[..., Any]) -> None:
        super().__init__()
        # In a tuple: a subclass that is an nn.Module must not adopt the model.
        self._model = (model,)

    @property
    def model(self) -> Callable[..., Any]:
        """The model this guide runs."""
        return self._model[0]

    def __getstate__(self) -> dict[str, object]:
        # The trace of the last run is not part of the guide.
        state = dict(self.__dict__)
        state.pop("trace", None)
        return state

    def __call__(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:  # type: ignore[override]
        """Draw from the posterior and run the model on those values.

        :returns: ``{site name: value}`` of every sample site.
        """
        self.args_kwargs = (args, kwargs)
        try:
            with self:
                self.model(*args, **kwargs)
        finally:
            del self.args_kwargs
        model_trace, _ = self.get_traces()
        return {
            name: site["value"]
            for name, site in model_trace.nodes.items()
            if site["type"] == "sample" and not site_is_subsample(site)
        }

    def _pyro_sample(self, msg: Message) -> None:
        if msg["is_observed"] or site_is_subsample(msg):
            return
        prior: Any = msg["fn"]
        msg["infer"]["prior"] = prior
        posterior = self.get_posterior(msg["name"], prior)
        if isinstance(posterior, torch.Tensor):
            posterior = Delta(posterior, event_dim=prior.event_dim)
        if posterior.batch_shape != prior.batch_shape:
            posterior = posterior.expand(prior.batch_shape)
        msg["fn"] = posterior

    def _postprocess_message(self, msg: Message) -> None:
        if msg["type"] == "sample":
            # Plates outside this handler broadcast the posterior after the prior
            # was stored: broadcast the prior the same way.
            prior: Any = msg["infer"].get("prior")
            posterior: Any = msg["fn"]
            if prior is not None and prior.batch_shape != posterior.batch_shape:
                msg["infer"]["prior"] = prior.expand(posterior.batch_shape)
        super()._postprocess_message(msg)

    @abstractmethod
    def get_posterior(self, name: str, prior: Any) -> Any:
        """The posterior of site ``name`` (a distribution, or a value) given its
        ``prior`` conditioned on the upstream values drawn so far.

        It may use ``param`` statements, and ``sample`` statements marked
        ``infer={"is_auxiliary": True}``; :meth:`upstream_value` gives earlier
        values, ``self.trace`` the sites so far and ``self.args_kwargs`` the
        model's arguments.
        """
        raise NotImplementedError

    def upstream_value(self, name: str) -> torch.Tensor | None:
        """The value of an earlier sample or deterministic site (in :meth:`get_posterior`)."""
        return self.trace.nodes[name]["value"]  # type: ignore[no-any-return]

    def get_traces(self) -> tuple[Trace, Trace]:
        """After a call: ``(model_trace, guide_trace)``.  The model trace has every
        site with each latent site's prior; the guide trace has the latent sites
        with their posteriors; neither has the plates' index sites.

        >>> import tracegraph, tracegraph.distributions as dist
        >>> class Prior(GuideMessenger):
        ...     def get_posterior(self, name, prior):
        ...         return prior
        >>> guide = Prior(lambda: tracegraph.sample("x", dist.Normal(0.0, 1.0)))
        >>> _ = guide()
        >>> [list(tr.nodes) for tr in guide.get_traces()]
        [['x'], ['x']]
        """
        model_trace = self.trace.copy()
        guide_trace = self.trace.copy()
        for name, site in self.trace.nodes.items():
            prior = site["infer"].get("prior") if site["type"] == "sample" else None
            if prior is not None:
                model_trace.nodes[name]["fn"] = prior
            else:
                guide_trace.remove_node(name)
                if site_is_subsample(site):
                    model_trace.remove_node(name)
        return model_trace, guide_trace
