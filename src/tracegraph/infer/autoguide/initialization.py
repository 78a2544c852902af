"""Where an autoguide starts: initialization strategies and :class:`InitMessenger`.

A strategy is a function of a sample site (its message: ``site["fn"]``,
``site["name"]``, ...) returning a constrained value of the site's shape.
Called with no site, a strategy returns itself with its options bound, so
``init_to_median(num_samples=50)`` is a strategy too.  :class:`InitMessenger`
runs a model with every latent site set by a strategy instead of drawn; the
autoguides use it to build their prototype trace.

>>> import torch
>>> import tracegraph, tracegraph.distributions as dist
>>> from tracegraph import poutine
>>> def model():
...     tracegraph.sample("rate", dist.Gamma(2.0, 1.0))
...     tracegraph.sample("x", dist.Normal(0.0, 1.0))
>>> init = init_to_value(values={"x": torch.tensor(3.0)}, fallback=init_to_mean)
>>> tr = poutine.trace(InitMessenger(init)(model)).get_trace()
>>> tr.nodes["rate"]["value"].item(), tr.nodes["x"]["value"].item()
(2.0, 3.0)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
from torch.distributions import transform_to

# Pyro's names at this module path (helpers Pyro imports here), re-exported.
from tracegraph.distributions import Independent, MaskedDistribution  # noqa: F401
from tracegraph.distributions.util import is_validation_enabled  # noqa: F401
from tracegraph.infer.autoguide.utils import helpful_support_errors
from tracegraph.ops.tensor_checks import torch_isnan  # noqa: F401
from tracegraph.poutine.messages import new_message
from tracegraph.poutine.messenger import Messenger
from tracegraph.poutine.runtime import Message, apply_stack
from tracegraph.poutine.sites import site_is_subsample

__all__ = [
    "InitMessenger",
    "init_to_feasible",
    "init_to_generated",
    "init_to_mean",
    "init_to_median",
    "init_to_sample",
    "init_to_uniform",
    "init_to_value",
]

Site = Any
InitFn = Callable[[Site], torch.Tensor]


def _check_finite(site: Site, value: torch.Tensor) -> torch.Tensor:
    if bool(torch.isnan(torch.as_tensor(value)).any()):
        raise ValueError(f"site {site['name']!r}: the initial value is NaN")
    return value


def init_to_feasible(site: Site = None) -> Any:
    """Initialize to an arbitrary point of the support: the image of zero under
    ``transform_to(support)``, whatever the distribution's parameters.

    >>> import tracegraph.distributions as dist
    >>> init_to_feasible({"name": "s", "fn": dist.Exponential(5.0)}).item()
    1.0
    """
    if site is None:
        return init_to_feasible
    value = site["fn"].sample().detach()
    t = transform_to(site["fn"].support)
    return t(torch.zeros_like(t.inv(value)))


def init_to_sample(site: Site = None) -> Any:
    """Initialize to a draw from the site's distribution.

    >>> import tracegraph.distributions as dist
    >>> init_to_sample({"name": "b", "fn": dist.Bernoulli(1.0)}).item()
    1.0
    """
    if site is None:
        return init_to_sample
    return site["fn"].sample().detach()


def _is_multivariate(fn: Any) -> bool:
    # Under Independent and masks: does the distribution itself have event dims?
    while isinstance(fn, (torch.distributions.Independent, MaskedDistribution)):
        fn = fn.base_dist
    return any(size > 1 for size in fn.event_shape)


def init_to_median(
    site: Site = None, num_samples: int = 15, *, fallback: InitFn | None = init_to_feasible
) -> Any:
    """Initialize to the element-wise median of ``num_samples`` draws; where that is
    not a valid value, use ``fallback``; for a multivariate distribution (a
    simplex, a correlation matrix), a feasible point.

    :raises ValueError: if there is no valid median and ``fallback`` is None.

    >>> import tracegraph.distributions as dist
    >>> init_to_median({"name": "x", "fn": dist.Normal(3.0, 1e-6)}).round().item()
    3.0
    """
    if site is None:
        return functools.partial(init_to_median, num_samples=num_samples, fallback=fallback)
    fn = site["fn"]
    if _is_multivariate(fn):
        # An element-wise median of vectors (a simplex, a Cholesky factor) is no
        # value of the distribution: a feasible point instead (as Pyro).
        return init_to_feasible(site)
    try:
        samples = fn.sample(sample_shape=(num_samples,)).detach()
        value = _check_finite(site, samples.median(dim=0)[0])
        if hasattr(fn, "_validate_sample"):
            fn._validate_sample(value)
        return value
    except (RuntimeError, ValueError):
        if fallback is None:
            raise ValueError(f"no valid median for site {site['name']!r}") from None
        return fallback(site)


def init_to_mean(site: Site = None, *, fallback: InitFn | None = init_to_median) -> Any:
    """Initialize to the distribution's mean; where it is undefined or not a valid
    value (a discrete site's mean), use ``fallback``.

    :raises ValueError: if the mean cannot be used and ``fallback`` is None.

    >>> import tracegraph.distributions as dist
    >>> init_to_mean({"name": "r", "fn": dist.Gamma(6.0, 2.0)}).item()
    3.0
    """
    if site is None:
        return functools.partial(init_to_mean, fallback=fallback)
    fn = site["fn"]
    try:
        value = _check_finite(site, fn.mean.detach())
        if hasattr(fn, "_validate_sample"):
            fn._validate_sample(value)
        return value
    except (NotImplementedError, ValueError):
        if fallback is None:
            raise ValueError(f"no valid mean for site {site['name']!r}") from None
        return fallback(site)


def init_to_uniform(site: Site | None = None, radius: float = 2.0) -> Any:
    """Initialize to a point drawn uniformly from ``(-radius, radius)`` in the
    unconstrained space of the site's support.

    >>> import tracegraph.distributions as dist
    >>> 0.0 < init_to_uniform({"name": "p", "fn": dist.Beta(2.0, 2.0)}).item() < 1.0
    True
    """
    if site is None:
        return functools.partial(init_to_uniform, radius=radius)
    value = site["fn"].sample().detach()
    t = transform_to(site["fn"].support)
    unconstrained = t.inv(value)
    return t(torch.rand_like(unconstrained) * (2 * radius) - radius)


def init_to_value(
    site: Site | None = None,
    values: dict[str, Any] = {},  # noqa: B006 (Pyro's default, never mutated)
    *,
    fallback: InitFn | None = init_to_uniform,
) -> Any:
    """Initialize each site named in ``values`` to its value, the others with
    ``fallback``.

    :raises ValueError: for a site not in ``values`` when ``fallback`` is None.

    >>> import tracegraph.distributions as dist
    >>> init = init_to_value(values={"x": torch.tensor(1.5)}, fallback=None)
    >>> init({"name": "x", "fn": dist.Normal(0.0, 1.0)}).item()
    1.5
    """
    if site is None:
        return functools.partial(init_to_value, values=values, fallback=fallback)
    if site["name"] in values:
        return values[site["name"]]
    if fallback is None:
        raise ValueError(f"No init strategy specified for site {site['name']!r}")
    return fallback(site)


class _InitToGenerated:
    # Asks ``generate`` for a fresh strategy once per run of the model: a run is
    # one entry of the innermost InitMessenger.
    def __init__(self, generate: Callable[[], InitFn]) -> None:
        self.generate = generate
        self._run: Any = None
        self._init: InitFn | None = None

    def __call__(self, site: Site) -> Any:
        msg = new_message(
            "get_init_messengers", None, lambda: None, value=[], infer={"_do_not_trace": True}
        )
        apply_stack(msg)
        messengers = msg["value"]
        run = (id(messengers[0]), messengers[0]._runs) if messengers else object()
        if self._init is None or run != self._run:
            self._init, self._run = self.generate(), run
        return self._init(site)


def init_to_generated(
    site: Site = None, generate: Callable[[], InitFn] = lambda: init_to_uniform
) -> Any:
    """Initialize with the strategy that ``generate()`` returns, asking for a new one
    once per run of the model (so its values may be random, but agree within a run).

    >>> import tracegraph.distributions as dist
    >>> init = init_to_generated(generate=lambda: init_to_value(values={"x": torch.tensor(2.0)}))
    >>> init({"name": "x", "fn": dist.Normal(0.0, 1.0)}).item()
    2.0
    """
    init = _InitToGenerated(generate)
    return init if site is None else init(site)


class InitMessenger(Messenger):
    """Set each unobserved sample site to the value of the strategy ``init_fn``
    instead of drawing it.

    :param init_fn: an initialization strategy (a function of the site).

    >>> import tracegraph, tracegraph.distributions as dist
    >>> with InitMessenger(init_to_mean):
    ...     tracegraph.sample("x", dist.Normal(4.0, 1.0)).item()
    4.0
    """

    def __init__(self, init_fn: InitFn) -> None:
        super().__init__()
        self.init_fn = init_fn
        self._runs = 0

    def __enter__(self) -> InitMessenger:
        self._runs += 1
        return super().__enter__()  # type: ignore[return-value]

    def _pyro_sample(self, msg: Message) -> None:
        if msg["value"] is not None or msg["done"] or site_is_subsample(msg):
            return
        with torch.no_grad(), helpful_support_errors(msg):
            value = self.init_fn(msg)
        msg["value"] = value
        msg["done"] = True

    def _pyro_get_init_messengers(self, msg: Message) -> None:
        msg["value"].append(self)
