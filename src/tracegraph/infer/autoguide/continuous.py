"""Guides over one vector of all latents (ADVI, Kucukelbir et al. 2017):
``AutoContinuous`` and its Normal families.

Every latent site is mapped to unconstrained space by ``biject_to(support)`` and
flattened; the pieces are concatenated into one latent vector of size
``latent_dim``, drawn at the auxiliary site ``"_<GuideName>_latent"`` from
:meth:`AutoContinuous.get_posterior`.  Each site is then recorded as a point mass
at its piece mapped back, with the log-Jacobian as its log-density.  The vector
has one slot per element of the prototype's sites, so a site inside a
subsampled plate gets as many slots as the subsample has elements.

>>> import torch
>>> import tracegraph, tracegraph.distributions as dist
>>> def model():
...     tracegraph.sample("a", dist.Normal(0.0, 1.0).expand([2]).to_event(1))
...     tracegraph.sample("b", dist.Exponential(1.0))
>>> tracegraph.clear_param_store()
>>> guide = AutoDiagonalNormal(model)
>>> sorted(guide())
['a', 'b']
>>> guide.latent_dim, list(tracegraph.get_param_store().keys())
(3, ['AutoDiagonalNormal.loc', 'AutoDiagonalNormal.scale'])
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import torch
from torch.distributions import biject_to

import tracegraph.distributions as dist
from tracegraph.distributions import constraints
from tracegraph.distributions.tensors import eye_like
from tracegraph.distributions.transforms import AffineTransform, LowerCholeskyAffine
from tracegraph.infer.autoguide.guide import AutoGuide, site_plates
from tracegraph.infer.autoguide.initialization import InitMessenger, init_to_median
from tracegraph.infer.autoguide.normal import check_init_scale, transformed_site_value
from tracegraph.infer.autoguide.utils import helpful_support_errors
from tracegraph.nn import PyroParam
from tracegraph.primitives import sample

__all__ = [
    "AutoContinuous",
    "AutoDiagonalNormal",
    "AutoLowRankMultivariateNormal",
    "AutoMultivariateNormal",
]


class AutoContinuous(AutoGuide):
    """Base class of guides with one joint distribution over the vector of all
    unconstrained latents (see the module docstring); a subclass implements
    :meth:`get_posterior` (or :meth:`get_base_dist` and :meth:`get_transform`)
    and :meth:`_loc_scale`.

    :param model: the model (every latent site continuous).
    :param init_loc_fn: the initialization strategy of the latents.

    >>> import tracegraph, tracegraph.distributions as dist
    >>> guide = AutoDiagonalNormal(lambda: tracegraph.sample("x", dist.Normal(0.0, 1.0)))
    >>> guide.sample_latent().shape
    torch.Size([1])
    """

    def __init__(self, model: Any, init_loc_fn: Any = init_to_median) -> None:
        self.init_loc_fn = init_loc_fn
        super().__init__(InitMessenger(init_loc_fn)(model))

    def _setup_prototype(self, *args: Any, **kwargs: Any) -> None:
        super()._setup_prototype(*args, **kwargs)
        assert self.prototype_trace is not None
        self._unconstrained_shapes: dict[str, torch.Size] = {}
        self._cond_indep_stacks: dict[str, Any] = {}
        for name, site in self.prototype_trace.iter_stochastic_nodes():
            with helpful_support_errors(site):
                unconstrained = biject_to(site["fn"].support).inv(site["value"])
            self._unconstrained_shapes[name] = unconstrained.shape
            self._cond_indep_stacks[name] = site["cond_indep_stack"]
        self.latent_dim = sum(math.prod(s) for s in self._unconstrained_shapes.values())
        if self.latent_dim == 0:
            raise RuntimeError(
                f"{type(self).__name__} found no latent variables; Use an empty guide instead"
            )

    def _init_loc(self) -> torch.Tensor:
        """The initial latent vector: the prototype's values, unconstrained."""
        parts = []
        for _, site in self.prototype_trace.iter_stochastic_nodes():  # type: ignore[union-attr]
            value = biject_to(site["fn"].support).inv(site["value"].detach()).detach()
            parts.append(value.reshape(-1))
        return torch.cat(parts)

    def get_base_dist(self) -> Any:
        """The base distribution of the posterior written as
        ``TransformedDistribution(get_base_dist(), get_transform(*args))``."""
        raise NotImplementedError

    def get_transform(self, *args: Any, **kwargs: Any) -> Any:
        """The transform of the posterior written as a transformed base distribution."""
        raise NotImplementedError

    def get_posterior(self, *args: Any, **kwargs: Any) -> Any:
        """The distribution of the latent vector."""
        transform = self.get_transform(*args, **kwargs)
        return dist.TransformedDistribution(self.get_base_dist(), transform)

    def sample_latent(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        """Draw the latent vector at the auxiliary site ``"_<name>_latent"``."""
        if self.prototype_trace is None:
            self._setup_prototype(*args, **kwargs)
        posterior = self.get_posterior(*args, **kwargs)
        return sample(  # type: ignore[no-any-return]
            f"_{self._pyro_name}_latent", posterior, infer={"is_auxiliary": True}
        )

    def _unpack_latent(self, latent: torch.Tensor) -> Iterator[tuple[Any, torch.Tensor]]:
        """Yield ``(site, unconstrained value)`` for each latent site, cut from the
        (possibly batched) latent vector."""
        batch_shape = latent.shape[:-1]
        pos = 0
        for name, site in self.prototype_trace.iter_stochastic_nodes():  # type: ignore[union-attr]
            shape = self._unconstrained_shapes[name]
            size = math.prod(shape)
            event_dim = site["fn"].event_dim + len(shape) - site["value"].dim()
            shape = torch.broadcast_shapes(shape, batch_shape + (1,) * event_dim)
            yield site, latent[..., pos : pos + size].reshape(shape)
            pos += size

    def forward(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Draw the latent vector and record every latent site from it.

        :returns: ``{site name: value}``.
        """
        latent = self.sample_latent(*args, **kwargs)
        plates = self._create_plates(*args, **kwargs)
        result = {}
        for site, unconstrained in self._unpack_latent(latent):
            name = site["name"]
            transform = biject_to(site["fn"].support)
            with ExitStack() as stack:
                for p in site_plates(plates, site):
                    stack.enter_context(p)
                result[name] = transformed_site_value(name, site, transform, unconstrained)
        return result

    def _loc_scale(self, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """The posterior's mean and marginal standard deviations (unconstrained)."""
        raise NotImplementedError

    def median(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """The posterior median of each latent site (the mean, mapped).

        :returns: ``{site name: median}``.
        """
        if self.prototype_trace is None:
            self._setup_prototype(*args, **kwargs)
        loc, _ = self._loc_scale(*args, **kwargs)
        loc = loc.detach()
        return {
            site["name"]: biject_to(site["fn"].support)(value).clone()
            for site, value in self._unpack_latent(loc)
        }

    def quantiles(self, quantiles: Any, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """Posterior quantiles of each latent site, from the marginal Normals.

        :param quantiles: the levels, between 0 and 1.
        :returns: ``{site name: tensor}`` with the levels in the first dim.
        """
        if self.prototype_trace is None:
            self._setup_prototype(*args, **kwargs)
        loc, scale = self._loc_scale(*args, **kwargs)
        q = torch.as_tensor(quantiles, dtype=loc.dtype, device=loc.device).unsqueeze(-1)
        with torch.no_grad():
            latents = dist.Normal(loc.detach(), scale.detach()).icdf(q)
        result: dict[str, list[torch.Tensor]] = {}
        for latent in latents:
            for site, value in self._unpack_latent(latent):
                result.setdefault(site["name"], []).append(biject_to(site["fn"].support)(value))
        return {name: torch.stack(values) for name, values in result.items()}


class AutoMultivariateNormal(AutoContinuous):
    """A full-covariance Normal over the latent vector: params ``loc``, ``scale``
    (marginal scales, softplus-positive) and ``scale_tril`` (a unit lower
    Cholesky factor); the covariance's Cholesky factor is
    ``scale[..., None] * scale_tril``.

    :param model: the model.
    :param init_loc_fn: the initialization strategy of the latents.
    :param init_scale: the initial marginal scale.

    >>> import tracegraph, tracegraph.distributions as dist
    >>> guide = AutoMultivariateNormal(lambda: tracegraph.sample("x", dist.Normal(0.0, 1.0)))
    >>> _ = guide()  # the first call sets the guide up
    >>> type(guide.get_posterior()).__name__
    'MultivariateNormal'
    """

    scale_constraint = constraints.softplus_positive
    scale_tril_constraint = constraints.unit_lower_cholesky
    # Params, declared by assignment in _setup_prototype.
    loc: Any
    scale: Any
    scale_tril: Any

    def __init__(
        self, model: Any, init_loc_fn: Any = init_to_median, init_scale: float = 0.1
    ) -> None:
        self._init_scale = check_init_scale(init_scale)
        super().__init__(model, init_loc_fn=init_loc_fn)

    def _setup_prototype(self, *args: Any, **kwargs: Any) -> None:
        super()._setup_prototype(*args, **kwargs)
        self.loc = torch.nn.Parameter(self._init_loc())
        self.scale = PyroParam(
            torch.full_like(self.loc, self._init_scale), self.scale_constraint
        )
        self.scale_tril = PyroParam(eye_like(self.loc, self.latent_dim), self.scale_tril_constraint)

    def get_base_dist(self) -> Any:
        return dist.Normal(torch.zeros_like(self.loc), torch.ones_like(self.loc)).to_event(1)

    def get_transform(self, *args: Any, **kwargs: Any) -> Any:
        return LowerCholeskyAffine(self.loc, scale_tril=self.scale[..., None] * self.scale_tril)

    def get_posterior(self, *args: Any, **kwargs: Any) -> Any:
        """A ``MultivariateNormal`` over the latent vector."""
        scale_tril = self.scale[..., None] * self.scale_tril
        return dist.MultivariateNormal(self.loc, scale_tril=scale_tril)

    def _loc_scale(self, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        scale_tril = self.scale[..., None] * self.scale_tril
        return self.loc, scale_tril.pow(2).sum(-1).sqrt()


class AutoDiagonalNormal(AutoContinuous):

    """A diagonal Normal over the latent vector: params ``loc`` and ``scale``
    (softplus-positive).

    :param model: the model.
    :param init_loc_fn: the initialization strategy of the latents.
    :param init_scale: the initial scale.

    >>> import tracegraph, tracegraph.distributions as dist
    >>> guide = AutoDiagonalNormal(lambda: tracegraph.sample("x", dist.Normal(0.0, 1.0)))
    >>> _ = guide()  # the first call sets the guide up
    >>> guide.get_posterior().event_shape
    torch.Size([1])
    """

    # Params, declared by assignment in _setup_prototype.
    loc: Any
    scale: Any

    scale_constraint = constraints.softplus_positive

    def __init__(
        self, model: Any, init_loc_fn: Any = init_to_median, init_scale: float = 0.1
    ) -> None:
        self._init_scale = check_init_scale(init_scale)
        super().__init__(model, init_loc_fn=init_loc_fn)

    def _setup_prototype(self, *args: Any, **kwargs: Any) -> None:
        super()._setup_prototype(*args, **kwargs)
        self.loc = torch.nn.Parameter(self._init_loc())
        self.scale = PyroParam(
            torch.full_like(self.loc, self._init_scale), self.scale_constraint
        )

    def get_base_dist(self) -> Any:
        return dist.Normal(torch.zeros_like(self.loc), torch.ones_like(self.loc)).to_event(1)

    def get_transform(self, *args: Any, **kwargs: Any) -> Any:
        return AffineTransform(self.loc, self.scale)

    def get_posterior(self, *args: Any, **kwargs: Any) -> Any:
        """A diagonal Normal over the latent vector."""
        return dist.Normal(self.loc, self.scale).to_event(1)

    def _loc_scale(self, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        return self.loc, self.scale


class AutoLowRankMultivariateNormal(AutoContinuous):

    """A low-rank-plus-diagonal Normal over the latent vector: params ``loc``,
    ``scale`` (softplus-positive) and ``cov_factor`` (``latent_dim x rank``); the
    covariance is ``diag(scale) (cov_factor cov_factor^T + I) diag(scale)``.

    :param model: the model.
    :param init_loc_fn: the initialization strategy of the latents.
    :param init_scale: the approximate initial marginal scale.
    :param rank: the rank of the low-rank part (about ``sqrt(latent_dim)`` when None).

    >>> import tracegraph, tracegraph.distributions as dist
    >>> guide = AutoLowRankMultivariateNormal(
    ...     lambda: tracegraph.sample("x", dist.Normal(0.0, 1.0).expand([4]).to_event(1)))
    >>> _ = guide(); guide.rank
    2
    """

    # Params, declared by assignment in _setup_prototype.
    loc: Any
    scale: Any
    cov_factor: Any

    scale_constraint = constraints.softplus_positive

    def __init__(
        self,
        model: Any,
        init_loc_fn: Any = init_to_median,
        init_scale: float = 0.1,
        rank: int | None = None,
    ) -> None:
        self._init_scale = check_init_scale(init_scale)
        if rank is not None and not (isinstance(rank, int) and rank > 0):
            raise ValueError(f"Expected rank > 0 but got {rank}")
        self.rank = rank
        super().__init__(model, init_loc_fn=init_loc_fn)

    def _setup_prototype(self, *args: Any, **kwargs: Any) -> None:
        super()._setup_prototype(*args, **kwargs)
        self.loc = torch.nn.Parameter(self._init_loc())
        if self.rank is None:
            self.rank = int(round(self.latent_dim**0.5))
        # The low-rank part starts with the diagonal's scale on average.
        self.scale = PyroParam(
            self.loc.new_full((self.latent_dim,), 0.5**0.5 * self._init_scale),
            constraint=self.scale_constraint,
        )
        self.cov_factor = torch.nn.Parameter(
            self.loc.new_empty(self.latent_dim, self.rank).normal_(0, 1 / self.rank**0.5)
        )

    def get_posterior(self, *args: Any, **kwargs: Any) -> Any:
        """A ``LowRankMultivariateNormal`` over the latent vector."""
        scale = self.scale
        cov_factor = self.cov_factor * scale.unsqueeze(-1)
        return dist.LowRankMultivariateNormal(self.loc, cov_factor, scale * scale)

    def _loc_scale(self, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        scale = self.scale
        cov_diag = scale * scale
        cov_factor = self.cov_factor * scale.unsqueeze(-1)
        return self.loc, (cov_factor.pow(2).sum(-1) + cov_diag).sqrt()
