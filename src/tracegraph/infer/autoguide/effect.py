"""Autoguides written as handlers (:class:`~tracegraph.poutine.guide.GuideMessenger`):
the model runs inside the guide, which gives each latent site a posterior built
from its prior (conditioned on the values drawn upstream).

Their params are made on first use, named ``"locs.<site>"``, ``"scales.<site>"``
(and ``"weights.<site>"``), so a subclass may override :meth:`get_posterior` for
some sites and fall back to the default for the others.

>>> import torch
>>> import tracegraph, tracegraph.distributions as dist
>>> def model():
...     a = tracegraph.sample("a", dist.Normal(0.0, 1.0))
...     tracegraph.sample("b", dist.LogNormal(a, 1.0))
>>> tracegraph.clear_param_store()
>>> sorted(AutoNormalMessenger(model)())
['a', 'b']
>>> list(tracegraph.get_param_store().keys())
['locs.a', 'scales.a', 'locs.b', 'scales.b']
"""

from __future__ import annotations

import functools
from abc import ABCMeta
from typing import Any

import torch
from torch.distributions import biject_to

import tracegraph.distributions as dist
from tracegraph.distributions import (
    Distribution,  # noqa: F401 (Pyro's name here)
    constraints,
)
from tracegraph.infer.autoguide.initialization import init_to_feasible, init_to_mean
from tracegraph.infer.autoguide.normal import check_init_scale
from tracegraph.infer.autoguide.utils import (
    deep_getattr,
    deep_setattr,
    helpful_support_errors,
    periodic_repeat,
)
from tracegraph.nn import PyroModule, PyroParam, pyro_method  # noqa: F401
from tracegraph.nn.module import _PyroModuleMeta
from tracegraph.poutine.guide import GuideMessenger
from tracegraph.poutine.runtime import get_plates

__all__ = [
    "AutoHierarchicalNormalMessenger",
    "AutoMessenger",
    "AutoMessengerMeta",
    "AutoNormalMessenger",
    "AutoRegressiveMessenger",
]

_DEFAULT_INIT = functools.partial(init_to_mean, fallback=init_to_feasible)


class AutoMessengerMeta(ABCMeta, _PyroModuleMeta):
    """The metaclass of :class:`AutoMessenger`: both a handler class and a
    :class:`~tracegraph.nn.PyroModule` class.

    >>> isinstance(AutoNormalMessenger, AutoMessengerMeta)
    True
    """


class AutoMessenger(GuideMessenger, PyroModule, metaclass=AutoMessengerMeta):
    """Base class of the handler autoguides: a
    :class:`~tracegraph.poutine.guide.GuideMessenger` that is a
    :class:`~tracegraph.nn.PyroModule` (its params are attributes).

    :param model: the model.
    :param amortized_plates: names of plates along which the params are shared
        rather than one per element (useful with subsampling).

    >>> import tracegraph, tracegraph.distributions as dist
    >>> class PriorGuide(AutoMessenger):
    ...     def get_posterior(self, name, prior):
    ...         return prior
    >>> sorted(PriorGuide(lambda: tracegraph.sample("x", dist.Normal(0.0, 1.0)))())
    ['x']
    """

    def __init__(self, model: Any, *, amortized_plates: tuple[str, ...] = ()) -> None:
        super().__init__(model)
        self.amortized_plates = amortized_plates
        self._computing_median = False

    def __call__(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:  # type: ignore[override]
        # Plates already open around the guide (a particle plate, say) are not
        # the model's: params are not made per element of them.
        self._outer_plates = get_plates()
        with self._pyro_context:
            return super().__call__(*args, **kwargs)

    def call(self, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """The guide's values as a tuple ordered by site name (for JIT tracing)."""
        result = self(*args, **kwargs)
        return tuple(v for _, v in sorted(result.items()))

    def _adjust_plates(self, value: torch.Tensor, event_dim: int) -> torch.Tensor:
        """An initial param value shaped for the plates around the site: averaged
        over amortized and outer plates, repeated to full size along subsampled
        ones."""
        outer = getattr(self, "_outer_plates", ())
        for f in get_plates():
            if f.dim is None:
                continue  # a sequential plate adds no dim
            full_size = f.full_size if f.full_size is not None else f.size
            dim = f.dim - event_dim
            if f in outer or f.name in self.amortized_plates:
                if -value.dim() <= dim:
                    value = value.mean(dim, keepdim=True)
            elif f.size != full_size:
                value = periodic_repeat(value, full_size, dim).contiguous()
        # Leading batch dims of size 1 broadcast anyway.
        while value.dim() > event_dim and value.shape[0] == 1:
            value = value.squeeze(0)
        return value


class _LocScaleMessenger(AutoMessenger):
    # A loc and a positive scale per site, in the unconstrained space of its
    # support, made on first use (AutoNormalMessenger, AutoRegressiveMessenger).

    def __init__(
        self,
        model: Any,
        *,
        init_loc_fn: Any = _DEFAULT_INIT,
        init_scale: float = 0.1,
        amortized_plates: tuple[str, ...] = (),
    ) -> None:
        super().__init__(model, amortized_plates=amortized_plates)
        self.init_loc_fn = init_loc_fn
        self._init_scale = check_init_scale(init_scale)

    def _init_unconstrained(self, name: str, prior: Any) -> tuple[torch.Tensor, int]:
        with torch.no_grad(), helpful_support_errors({"name": name, "fn": prior}):
            transform = biject_to(prior.support)
            event_dim = transform.domain.event_dim
            constrained = self.init_loc_fn({"name": name, "fn": prior}).detach()
            return transform.inv(constrained), event_dim

    def _initial_loc(self, name: str, prior: Any) -> tuple[torch.Tensor, int]:
        return self._init_unconstrained(name, prior)

    def _get_params(self, name: str, prior: Any) -> Any:
        try:
            return deep_getattr(self.locs, name), deep_getattr(self.scales, name)
        except AttributeError:
            pass
        unconstrained, event_dim = self._initial_loc(name, prior)
        init_loc = self._adjust_plates(unconstrained, event_dim)
        init_scale = torch.full_like(init_loc, self._init_scale)
        deep_setattr(self, "locs." + name, PyroParam(init_loc, event_dim=event_dim))
        deep_setattr(
            self,
            "scales." + name,
            PyroParam(init_scale, constraint=constraints.positive, event_dim=event_dim),
        )
        return self._get_params(name, prior)


class AutoNormalMessenger(_LocScaleMessenger):
    """Mean-field Normal posteriors in unconstrained space (as
    :class:`~tracegraph.infer.autoguide.AutoNormal`), one ``loc`` and one ``scale``
    per latent site, made on first use.

    :param model: the model.
    :param init_loc_fn: the initialization strategy of the locs.
    :param init_scale: the initial scale.
    :param amortized_plates: plates along which params are shared.

    >>> import tracegraph, tracegraph.distributions as dist
    >>> guide = AutoNormalMessenger(lambda: tracegraph.sample("x", dist.Normal(2.0, 1.0)))
    >>> guide.median()["x"].item()
    2.0
    """

    def get_posterior(self, name: str, prior: Any) -> Any:
        if self._computing_median:
            return self._get_posterior_median(name, prior)
        with helpful_support_errors({"name": name, "fn": prior}):
            transform = biject_to(prior.support)
        loc, scale = self._get_params(name, prior)
        return dist.TransformedDistribution(
            dist.Normal(loc, scale).to_event(transform.domain.event_dim),
            transform.with_cache(),
        )

    def median(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """The posterior median of every sample site (the model run on the medians).

        :returns: ``{site name: value}``.
        """
        self._computing_median = True
        try:
            return self(*args, **kwargs)
        finally:
            self._computing_median = False

    def _get_posterior_median(self, name: str, prior: Any) -> torch.Tensor:
        transform = biject_to(prior.support)
        loc, _ = self._get_params(name, prior)
        return transform(loc)  # type: ignore[no-any-return]


class AutoHierarchicalNormalMessenger(AutoNormalMessenger):
    """Normal posteriors in unconstrained space whose mean follows the prior's:
    ``loc + weight * biject_to(support).inv(prior.mean)``, with params ``locs``,
    ``scales`` and ``weights`` per site (for priors with a mean).

    :param model: the model.
    :param init_loc_fn: the initialization strategy of the posterior means.
    :param init_scale: the initial scale.
    :param amortized_plates: plates along which params are shared.
    :param init_weight: the initial weight of the prior's mean.
    :param hierarchical_sites: the sites that get a weight (all when None); the
        others are mean-field.

    >>> import tracegraph, tracegraph.distributions as dist
    >>> def model():
    ...     tracegraph.sample("x", dist.Normal(2.0, 1.0))
    >>> guide = AutoHierarchicalNormalMessenger(model)
    >>> guide.median()["x"].item()
    2.0
    """

    #: ``"element-wise"``: one weight per element of the site; ``"scalar"``: one per site.
    weight_type = "element-wise"

    def __init__(
        self,
        model: Any,
        *,
        init_loc_fn: Any = _DEFAULT_INIT,
        init_scale: float = 0.1,
        amortized_plates: tuple[str, ...] = (),
        init_weight: float = 1.0,
        hierarchical_sites: list[str] | None = None,
    ) -> None:
        super().__init__(
            model,
            init_loc_fn=init_loc_fn,
            init_scale=init_scale,
            amortized_plates=amortized_plates,
        )
        self._init_weight = init_weight
        self._hierarchical_sites = hierarchical_sites

    def _hierarchical(self, name: str) -> bool:
        return self._hierarchical_sites is None or name in self._hierarchical_sites

    def get_posterior(self, name: str, prior: Any) -> Any:
        if self._computing_median:
            return self._get_posterior_median(name, prior)
        if not self._hierarchical(name):
            return super().get_posterior(name, prior)
        with helpful_support_errors({"name": name, "fn": prior}):
            transform = biject_to(prior.support)
        loc, scale, weight = self._get_params(name, prior)
        loc = loc + transform.inv(prior.mean) * weight
        return dist.TransformedDistribution(
            dist.Normal(loc, scale).to_event(transform.domain.event_dim),
            transform.with_cache(),
        )

    def _get_params(self, name: str, prior: Any) -> Any:
        if not self._hierarchical(name):
            return super()._get_params(name, prior)
        try:
            return (
                deep_getattr(self.locs, name),
                deep_getattr(self.scales, name),
                deep_getattr(self.weights, name),
            )
        except AttributeError:
            pass
        unconstrained, event_dim = self._init_unconstrained(name, prior)
        transform = biject_to(prior.support)
        with torch.no_grad():
            # The posterior mean starts at the initial value.
            unconstrained = unconstrained - transform.inv(prior.mean) * self._init_weight
        init_loc = self._adjust_plates(unconstrained, event_dim)
        init_scale = torch.full_like(init_loc, self._init_scale)
        if self.weight_type == "scalar":
            init_weight = torch.full((), float(self._init_weight))
        else:
            init_weight = torch.full_like(init_loc, self._init_weight)
        deep_setattr(self, "locs." + name, PyroParam(init_loc, event_dim=event_dim))
        deep_setattr(
            self,
            "scales." + name,
            PyroParam(init_scale, constraint=constraints.positive, event_dim=event_dim),
        )
        deep_setattr(
            self,
            "weights." + name,
            PyroParam(
                init_weight,
                constraint=constraints.positive,
                event_dim=event_dim if init_weight.dim() else None,
            ),
        )
        return self._get_params(name, prior)

    def _get_posterior_median(self, name: str, prior: Any) -> torch.Tensor:
        transform = biject_to(prior.support)
        if not self._hierarchical(name):
            loc, _ = self._get_params(name, prior)
        else:
            loc, _, weight = self._get_params(name, prior)
            loc = loc + transform.inv(prior.mean) * weight
        return transform(loc)  # type: ignore[no-any-return]


class AutoRegressiveMessenger(_LocScaleMessenger):
    """Posteriors that are learned affine maps of the priors, in unconstrained
    space: each site is ``biject_to(support)(loc + scale * u)`` with ``u`` the
    prior draw mapped to unconstrained space, conditioned on the upstream
    posterior draws (continuous sites only).

    :param model: the model.
    :param init_loc_fn: the initialization strategy of the posterior means.
    :param init_scale: the initial scale of the affine maps.
    :param amortized_plates: plates along which params are shared.

    >>> import tracegraph, tracegraph.distributions as dist
    >>> guide = AutoRegressiveMessenger(lambda: tracegraph.sample("x", dist.Normal(2.0, 1.0)))
    >>> type(guide()["x"]).__name__
    'Tensor'
    """

    def get_posterior(self, name: str, prior: Any) -> Any:
        with helpful_support_errors({"name": name, "fn": prior}):
            transform = biject_to(prior.support)
        loc, scale = self._get_params(name, prior)
        affine = dist.transforms.AffineTransform(
            loc, scale, event_dim=transform.domain.event_dim, cache_size=1
        )
        return dist.TransformedDistribution(
            prior, [transform.inv.with_cache(), affine, transform.with_cache()]
        )

    def _initial_loc(self, name: str, prior: Any) -> tuple[torch.Tensor, int]:
        # With scale s the posterior mean is about loc + s * (prior mean): start
        # it near the initial value.
        unconstrained, event_dim = self._init_unconstrained(name, prior)
        return unconstrained * (1 - self._init_scale), event_dim
