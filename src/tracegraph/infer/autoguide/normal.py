"""``AutoNormal``: a mean-field Normal guide in unconstrained space, one ``loc``
and one ``scale`` param per latent site.

Each site's value is drawn as ``z ~ Normal(loc, scale)`` at an auxiliary site
``"<name>_unconstrained"``, mapped into the site's support by
``biject_to(support)``, and recorded at the site as a point mass whose
log-density is the log-Jacobian of that map, so the guide's log-density is that
of the transformed Normal.

>>> import torch
>>> import tracegraph, tracegraph.distributions as dist
>>> def model():
...     tracegraph.sample("scale", dist.LogNormal(0.0, 1.0))
>>> tracegraph.clear_param_store()
>>> _ = AutoNormal(model)()
>>> list(tracegraph.get_param_store().keys())
['AutoNormal.locs.scale', 'AutoNormal.scales.scale']
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import torch
from torch.distributions import biject_to
from torch.distributions.transforms import identity_transform

import tracegraph.distributions as dist
from tracegraph.distributions import constraints
from tracegraph.distributions.shapes import sum_rightmost
from tracegraph.infer.autoguide.delta import full_size_value
from tracegraph.infer.autoguide.guide import AutoGuide, site_plates
from tracegraph.infer.autoguide.initialization import InitMessenger, init_to_feasible
from tracegraph.infer.autoguide.utils import (
    deep_getattr,
    deep_setattr,
    helpful_support_errors,
)
from tracegraph.nn import PyroModule, PyroParam
from tracegraph.poutine.runtime import get_mask
from tracegraph.primitives import sample

__all__ = ["AutoNormal", "check_init_scale", "transformed_site_value"]


def check_init_scale(init_scale: Any) -> float:
    """``init_scale`` as a float, if it is a positive number.

    :raises ValueError: otherwise (as Pyro).

    >>> check_init_scale(1)
    1.0
    """
    if isinstance(init_scale, bool) or not isinstance(init_scale, (int, float)):
        raise ValueError(f"Expected init_scale > 0. but got {init_scale}")
    if not init_scale > 0:
        raise ValueError(f"Expected init_scale > 0. but got {init_scale}")
    return float(init_scale)


def transformed_site_value(
    name: str, site: Any, transform: Any, unconstrained: torch.Tensor
) -> torch.Tensor:
    """Record site ``name`` at ``transform(unconstrained)``, a point mass whose
    log-density is the log-Jacobian of the inverse map (so the guide's density is
    the pushforward of the unconstrained one); returns the value.

    >>> from tracegraph import poutine
    >>> site = {"fn": dist.Exponential(1.0)}
    >>> exp = biject_to(site["fn"].support)
    >>> with poutine.trace() as tm:
    ...     value = transformed_site_value("e", site, exp, torch.tensor(0.0))
    >>> value.item(), tm.trace.nodes["e"]["fn"].log_density.item()  # log|d log(e)/de| at e = 1
    (1.0, -0.0)
    """
    event_dim = site["fn"].event_dim
    if transform is identity_transform:
        value = unconstrained
        log_density: Any = 0.0
    else:
        value = transform(unconstrained)
        if get_mask() is False:
            log_density = 0.0
        else:
            log_density = transform.inv.log_abs_det_jacobian(value, unconstrained)
            log_density = sum_rightmost(
                log_density, log_density.dim() - value.dim() + event_dim
            )
    return sample(name, dist.Delta(value, log_density=log_density, event_dim=event_dim))  # type: ignore[no-any-return]


class AutoNormal(AutoGuide):
    """A mean-field guide: each latent site is a Normal in the unconstrained space
    of its support, with params ``"AutoNormal.locs.<site>"`` and
    ``"AutoNormal.scales.<site>"`` (the guide's ``locs`` and ``scales`` modules).
    Inside a subsampled plate the params have the plate's full size and each
    call uses the subsampled elements, so local latents of large data sets
    work with subsampling.

    :param model: the model.
    :param init_loc_fn: the initialization strategy of the locs (in the
        constrained space, mapped back).
    :param init_scale: the initial scale of every unconstrained latent.
    :param create_plates: see :class:`~tracegraph.infer.autoguide.AutoGuide`.

    >>> import torch
    >>> import tracegraph, tracegraph.distributions as dist
    >>> def model():
    ...     tracegraph.sample("x", dist.Normal(0.0, 1.0))
    >>> guide = AutoNormal(model)
    >>> guide.quantiles([0.5])["x"].tolist()
    [0.0]
    """

    scale_constraint = constraints.softplus_positive

    def __init__(
        self,
        model: Any,
        *,
        init_loc_fn: Any = init_to_feasible,
        init_scale: float = 0.1,
        create_plates: Any = None,
    ) -> None:
        self.init_loc_fn = init_loc_fn
        self._init_scale = check_init_scale(init_scale)
        super().__init__(InitMessenger(init_loc_fn)(model), create_plates=create_plates)

    def _setup_prototype(self, *args: Any, **kwargs: Any) -> None:
        super()._setup_prototype(*args, **kwargs)
        assert self.prototype_trace is not None
        self._event_dims: dict[str, int] = {}
        self._transforms: dict[str, Any] = {}
        self.locs = PyroModule()
        self.scales = PyroModule()
        for name, site in self.prototype_trace.iter_stochastic_nodes():
            with helpful_support_errors(site):
                transform = biject_to(site["fn"].support)
                init_loc = transform.inv(site["value"].detach()).detach()
            event_dim = site["fn"].event_dim + init_loc.dim() - site["value"].dim()
            self._event_dims[name] = event_dim
            self._transforms[name] = transform
            init_loc = full_size_value(init_loc, site, event_dim)
            init_scale = torch.full_like(init_loc, self._init_scale)
            deep_setattr(self.locs, name, PyroParam(init_loc, constraints.real, event_dim))
            deep_setattr(
                self.scales, name, PyroParam(init_scale, self.scale_constraint, event_dim)
            )

    def _get_loc_and_scale(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        return deep_getattr(self.locs, name), deep_getattr(self.scales, name)

    def forward(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Sample every latent site.

        :returns: ``{site name: value}``.
        """
        if self.prototype_trace is None:
            self._setup_prototype(*args, **kwargs)
        plates = self._create_plates(*args, **kwargs)
        result = {}
        for name, site in self.prototype_trace.iter_stochastic_nodes():  # type: ignore[union-attr]
            with ExitStack() as stack:
                for p in site_plates(plates, site):
                    stack.enter_context(p)
                loc, scale = self._get_loc_and_scale(name)
                unconstrained = sample(
                    name + "_unconstrained",
                    dist.Normal(loc, scale).to_event(self._event_dims[name]),
                    infer={"is_auxiliary": True},
                )
                result[name] = transformed_site_value(
                    name, site, self._transforms[name], unconstrained
                )
        return result

    def median(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """The posterior median of each latent site: ``biject_to(support)(loc)``
        (full size along subsampled plates).

        :returns: ``{site name: median}``.
        """
        if self.prototype_trace is None:
            self._setup_prototype(*args, **kwargs)
        out = {}
        for name, site in self.prototype_trace.iter_stochastic_nodes():  # type: ignore[union-attr]
            loc, _ = self._get_loc_and_scale(name)
            out[name] = biject_to(site["fn"].support)(loc).detach().clone()
        return out

    def quantiles(self, quantiles: Any, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """Posterior quantiles of each latent site (full size along subsampled plates).

        :param quantiles: the levels, between 0 and 1 (a list or a tensor).
        :returns: ``{site name: tensor}`` with the levels in the first dim.
        """
        if self.prototype_trace is None:
            self._setup_prototype(*args, **kwargs)
        out = {}
        for name, site in self.prototype_trace.iter_stochastic_nodes():  # type: ignore[union-attr]
            loc, scale = self._get_loc_and_scale(name)
            q = torch.as_tensor(quantiles, dtype=loc.dtype, device=loc.device)
            q = q.reshape(q.shape + (1,) * loc.dim())
            with torch.no_grad():
                value = dist.Normal(loc, scale).icdf(q)
                out[name] = biject_to(site["fn"].support)(value).detach()
        return out
