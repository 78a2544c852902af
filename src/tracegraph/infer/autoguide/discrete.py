"""Guides for discrete latent sites, trained by score-function gradients:
:class:`AutoDiscrete` and :class:`AutoMixed` (tracegraph's own; Pyro's autoguides
refuse discrete sites and ask for enumeration instead).

:class:`AutoDiscrete` samples each discrete site of the model from a guide
family matched to its prior (see :mod:`~tracegraph.infer.autoguide.discrete_families`),
whose one unconstrained parameter is either learned per element of the site
(mean-field, the param ``"AutoDiscrete.logits.<site>"``, full size along
subsampled plates) or computed by a user ``encoder`` from the model's arguments
(amortized).  Each site asks for the baseline (Mnih & Gregor 2014) that fits the
estimate: with ``K > 1`` particles the leave-one-out baseline (Kool et al. 2019),
else a decaying average of its past downstream costs.  With
:class:`~tracegraph.infer.TraceGraph_ELBO` each score is moreover multiplied only
by the costs downstream of its site.

>>> import torch
>>> import tracegraph, tracegraph.distributions as dist
>>> from tracegraph.infer import SVI, TraceGraph_ELBO
>>> from tracegraph.optim import Adam
>>> data = torch.tensor([-2.1, -1.9, 2.0, 2.2])
>>> def model(data):
...     with tracegraph.plate("data", len(data)):
...         z = tracegraph.sample("z", dist.Bernoulli(0.5))
...         tracegraph.sample("x", dist.Normal(4.0 * z - 2.0, 1.0), obs=data)
>>> guide = AutoDiscrete(model)
>>> svi = SVI(model, guide, Adam({"lr": 0.1}), TraceGraph_ELBO())
>>> for _ in range(300):
...     _ = svi.step(data)
>>> guide.median(data)["z"].tolist()
[0.0, 0.0, 1.0, 1.0]
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import torch

from tracegraph.infer.autoguide.delta import full_size_value
from tracegraph.infer.autoguide.discrete_families import Family, choose_family, unwrap_prior
from tracegraph.infer.autoguide.guide import AutoGuide, AutoGuideList, site_plates
from tracegraph.infer.autoguide.initialization import init_to_feasible
from tracegraph.infer.autoguide.normal import AutoNormal
from tracegraph.infer.autoguide.utils import UnsupportedSiteError, deep_getattr, deep_setattr
from tracegraph.infer.baselines import check_baseline_config
from tracegraph.infer.runs import current_num_particles
from tracegraph.nn import PyroModule, PyroParam
from tracegraph.poutine import handlers
from tracegraph.primitives import sample, subsample

__all__ = ["AutoDiscrete", "AutoMixed", "auto_baseline"]

#: The decay of the decaying-average baseline AutoDiscrete picks (Pyro's default).
BASELINE_BETA = 0.9


def auto_baseline() -> dict[str, Any]:
    """The baseline option AutoDiscrete gives its sites in the current estimate:
    leave-one-out when the ELBO averages ``K > 1`` particles, else a decaying
    average.

    >>> from tracegraph.infer.runs import particles
    >>> with particles(4):
    ...     auto_baseline()
    {'use_leave_one_out': True}
    >>> auto_baseline()
    {'use_decaying_avg_baseline': True, 'baseline_beta': 0.9}
    """
    k = current_num_particles()
    if k is not None and k > 1:
        return {"use_leave_one_out": True}
    return {"use_decaying_avg_baseline": True, "baseline_beta": BASELINE_BETA}


class AutoDiscrete(AutoGuide):
    """A guide for the discrete latent sites of a model (see the module docstring).

    :param model: the model; every latent site must be discrete (give the
        continuous ones to another guide: ``AutoGuideList`` or :class:`AutoMixed`).
    :param encoder: amortization: a callable (an ``nn.Module``, trained with the
        guide) of the model's arguments returning each site's parameter (a dict
        by site name, or a tensor when there is one site): logits of Bernoulli,
        Binomial and Geometric sites, logits over the values of categorical and
        bounded sites, the log-rate of Poisson sites; shaped like the site's
        batch shape (plus the values dim), at the full size of subsampled plates
        or at the subsample's.  Sites it does not return get mean-field params.
    :param max_values: ``{site: k}``: guide the site (values 0, 1, 2, ...) with a
        categorical over ``0..k`` (a Poisson, negative binomial, ... site).
    :param baseline: ``"auto"`` (the best baseline for the estimate), a baseline
        option dict for every site (``infer={"baseline": ...}``), or None.
    :param create_plates: see :class:`~tracegraph.infer.autoguide.AutoGuide`.
    :raises UnsupportedSiteError: (a ``ValueError``) naming the site, at the first
        call, for a continuous site or a discrete support no family fits.

    >>> import tracegraph, tracegraph.distributions as dist
    >>> def model():
    ...     with tracegraph.plate("data", 3):
    ...         tracegraph.sample("k", dist.Categorical(torch.ones(4)))
    >>> tracegraph.clear_param_store()
    >>> AutoDiscrete(model)()["k"].shape, tracegraph.param("AutoDiscrete.logits.k").shape
    (torch.Size([3]), torch.Size([3, 4]))
    """

    def __init__(
        self,
        model: Any,
        *,
        encoder: Any = None,
        max_values: dict[str, int] | None = None,
        baseline: str | dict[str, Any] | None = "auto",
        create_plates: Any = None,
    ) -> None:
        if baseline != "auto" and baseline is not None:
            check_baseline_config("AutoDiscrete", baseline)
        super().__init__(model, create_plates=create_plates)
        self.encoder = encoder
        self.max_values = dict(max_values or {})
        self.baseline = baseline

    def _setup_prototype(self, *args: Any, **kwargs: Any) -> None:
        super()._setup_prototype(*args, **kwargs)
        assert self.prototype_trace is not None
        unknown = set(self.max_values) - set(self.prototype_trace.stochastic_nodes)
        if unknown:
            raise UnsupportedSiteError(
                f"AutoDiscrete: max_values names {sorted(unknown)}, which are not latent "
                f"sites of the model (latent sites: {self.prototype_trace.stochastic_nodes})"
            )
        self._families: dict[str, Family] = {}
        self._event_dims: dict[str, int] = {}
        self._reinterpreted: dict[str, int] = {}
        self.logits = PyroModule()
        for name, site in self.prototype_trace.iter_stochastic_nodes():
            family, init = choose_family(name, site["fn"], self.max_values.get(name))
            _, reinterpreted = unwrap_prior(site["fn"])
            if family.total_count is not None:
                family.total_count = _fixed_total_count(name, site, family.total_count)
            self._families[name] = family
            self._reinterpreted[name] = reinterpreted
            # The param's dims right of the site's batch dims (plates among them).
            event_dim = reinterpreted + family.param_dims
            self._event_dims[name] = event_dim
            init = full_size_value(init.detach(), site, event_dim)
            deep_setattr(self.logits, name, PyroParam(init, event_dim=event_dim))
        if self.encoder is not None and len(self._families) == 0:
            raise UnsupportedSiteError("AutoDiscrete: the model has no discrete latent site")

    def _encoded(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        if self.encoder is None:
            return {}
        out = self.encoder(*args, **kwargs)
        if isinstance(out, dict):
            return out
        if len(self._families) != 1:
            raise UnsupportedSiteError(
                f"AutoDiscrete: the encoder returned one tensor, but the model has "
                f"{len(self._families)} discrete sites {sorted(self._families)}; hint: return "
                "a dict {site name: parameter}"
            )
        return {next(iter(self._families)): out}

    def _param(self, name: str, site: Any, encoded: dict[str, torch.Tensor]) -> torch.Tensor:
        # Called inside the site's plates: a mean-field param is subsampled by
        # them, an encoder's output too if it has the plates' full size.
        if name not in encoded:
            return deep_getattr(self.logits, name)  # type: ignore[no-any-return]
        value = subsample(encoded[name], event_dim=self._event_dims[name])
        expected = deep_getattr(self.logits, name).shape
        if value.shape[value.dim() - self._event_dims[name] :] != expected[
            len(expected) - self._event_dims[name] :
        ]:
            raise UnsupportedSiteError(
                f"AutoDiscrete: the encoder's parameter for site {name!r} has shape "
                f"{tuple(value.shape)}; its rightmost {self._event_dims[name]} dims must be "
                f"{tuple(expected[len(expected) - self._event_dims[name]:])} (the param "
                f"of the mean-field guide has shape {tuple(expected)})"
            )
        return value

    def _baseline(self) -> dict[str, Any] | None:
        if self.baseline == "auto":
            return auto_baseline()
        return None if self.baseline is None else dict(self.baseline)  # type: ignore[arg-type]

    def forward(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Sample every discrete latent site.

        :returns: ``{site name: value}``.
        """
        if self.prototype_trace is None:
            self._setup_prototype(*args, **kwargs)
        plates = self._create_plates(*args, **kwargs)
        encoded = self._encoded(*args, **kwargs)
        baseline = self._baseline()
        infer = {} if baseline is None else {"baseline": baseline}
        result = {}
        for name, site in self.prototype_trace.iter_stochastic_nodes():  # type: ignore[union-attr]
            with ExitStack() as stack:
                for p in site_plates(plates, site):
                    stack.enter_context(p)
                fn = self._families[name].make(self._param(name, site, encoded))
                reinterpreted = self._reinterpreted[name]
                if reinterpreted:
                    fn = fn.to_event(reinterpreted)
                result[name] = sample(name, fn, infer=dict(infer))
        return result

    def posterior(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """The guide's distribution of site ``name`` (full size along subsampled
        plates; the model's arguments are needed with an encoder).

        >>> import tracegraph, tracegraph.distributions as dist
        >>> guide = AutoDiscrete(lambda: tracegraph.sample("k", dist.Categorical(torch.ones(3))))
        >>> guide.posterior("k").probs.tolist()
        [0.3333333432674408, 0.3333333432674408, 0.3333333432674408]
        """
        if self.prototype_trace is None:
            self._setup_prototype(*args, **kwargs)
        # Read as in a call: the param store's values, even if they were loaded
        # since the last call.
        with self._pyro_context, handlers.block():
            encoded = self._encoded(*args, **kwargs)
            param = encoded.get(name)
            if param is None:
                param = deep_getattr(self.logits, name)
        with torch.no_grad():
            fn = self._families[name].make(param.detach())
        reinterpreted = self._reinterpreted[name]
        return fn.to_event(reinterpreted) if reinterpreted else fn

    def median(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """Each site's posterior median (for categorical sites, whose values are
        labels, the most probable value), full size along subsampled plates.

        :returns: ``{site name: value}``.
        """
        if self.prototype_trace is None:
            self._setup_prototype(*args, **kwargs)
        out = {}
        for name in self._families:
            fn, _ = unwrap_prior(self.posterior(name, *args, **kwargs))
            out[name] = _median(fn, self._families[name])
        return out


def _fixed_total_count(name: str, site: Any, total_count: torch.Tensor) -> torch.Tensor:
    # The guide reuses the prototype's total count: one number, or per element of
    # plates that are not subsampled (a subsample would pick other elements).
    flat = total_count.reshape(-1)
    if flat.numel() and bool((flat == flat[0]).all()):
        return flat[0]
    if any(f.full_size is not None and f.size != f.full_size for f in site["cond_indep_stack"]):
        raise UnsupportedSiteError(
            f"AutoDiscrete cannot guide the binomial site {name!r}: its total count varies "
            f"across a subsampled plate; hint: pass max_values={{{name!r}: K}} (K the largest "
            "count) to guide it with a categorical instead"
        )
    return total_count


def _median(fn: Any, family: Family) -> torch.Tensor:
    if not family.ordered:
        index = fn.probs.argmax(-1)
        if family.name == "one_hot_categorical":
            return torch.nn.functional.one_hot(index, fn.probs.shape[-1]).to(fn.probs.dtype)
        return index
    if family.name == "bernoulli":
        return (fn.probs > 0.5).to(fn.probs.dtype)
    if family.name == "geometric":
        # The smallest k with P(X <= k) = 1 - (1 - p)^(k + 1) >= 1/2.
        p = fn.probs
        k = torch.ceil(torch.log(torch.tensor(0.5)) / torch.log1p(-p) - 1)
        return k.clamp(min=0).nan_to_num(0.0)
    # Finite enumeration: binomial and bounded families exactly, Poisson far
    # enough into its tail.
    if family.name == "poisson":
        top = int((fn.rate + 10 * fn.rate.sqrt() + 10).max().ceil())
        values = torch.arange(top + 1, dtype=fn.rate.dtype)
    elif family.name == "binomial":
        values = torch.arange(int(fn.total_count.max()) + 1, dtype=fn.probs.dtype)
    else:
        values = fn.enumerate_support(expand=False).reshape(-1)
    grid = values.reshape((-1,) + (1,) * len(fn.batch_shape))
    with torch.no_grad():
        cdf = fn.log_prob(grid.expand((len(values),) + fn.batch_shape)).exp().cumsum(0)
    index = (cdf < 0.5).sum(0).clamp(max=len(values) - 1)
    return values[index]


class AutoMixed(AutoGuideList):
    """One guide for a model with continuous and discrete latent sites: an
    :class:`~tracegraph.infer.autoguide.AutoNormal` for the continuous sites and
    an :class:`AutoDiscrete` for the discrete ones, chosen per site at the first
    call (params ``"AutoMixed.0.locs.<site>"``, ``"AutoMixed.1.logits.<site>"``).

    :param model: the model.
    :param init_loc_fn: the continuous part's initialization strategy.
    :param init_scale: the continuous part's initial scale.
    :param encoder: the discrete part's encoder (see :class:`AutoDiscrete`).
    :param max_values: the discrete part's bounded sites.
    :param baseline: the discrete part's baseline option.
    :param create_plates: see :class:`~tracegraph.infer.autoguide.AutoGuide`.

    >>> import tracegraph, tracegraph.distributions as dist
    >>> def model():
    ...     p = tracegraph.sample("p", dist.Beta(1.0, 1.0))
    ...     tracegraph.sample("coin", dist.Bernoulli(p))
    >>> guide = AutoMixed(model)
    >>> sorted(guide()), [type(part).__name__ for part in guide]
    (['coin', 'p'], ['AutoNormal', 'AutoDiscrete'])
    """

    def __init__(
        self,
        model: Any,
        *,
        init_loc_fn: Any = init_to_feasible,
        init_scale: float = 0.1,
        encoder: Any = None,
        max_values: dict[str, int] | None = None,
        baseline: str | dict[str, Any] | None = "auto",
        create_plates: Any = None,
    ) -> None:
        super().__init__(model, create_plates=create_plates)
        self._continuous_options = {"init_loc_fn": init_loc_fn, "init_scale": init_scale}
        self._discrete_options = {
            "encoder": encoder,
            "max_values": max_values,
            "baseline": baseline,
        }

    def _setup_prototype(self, *args: Any, **kwargs: Any) -> None:
        super()._setup_prototype(*args, **kwargs)
        assert self.prototype_trace is not None
        discrete = [
            name
            for name, site in self.prototype_trace.iter_stochastic_nodes()
            if getattr(site["fn"].support, "is_discrete", False)
        ]
        continuous = [n for n in self.prototype_trace.stochastic_nodes if n not in discrete]
        if len(self) == 0:
            if continuous:
                hidden = handlers.block(self.model, hide=discrete)
                self.append(AutoNormal(hidden, **self._continuous_options))
            if discrete:
                exposed = handlers.block(self.model, expose=discrete)
                self.append(AutoDiscrete(exposed, **self._discrete_options))
