"""The guide families of :class:`~tracegraph.infer.autoguide.AutoDiscrete`: for
each discrete prior, the distribution the guide samples, its one unconstrained
parameter (logits, or a log-rate) and its initial value.

============================  ==========================================  ==========================
prior                         guide family (parameter)                    initial value
============================  ==========================================  ==========================
``Bernoulli``, boolean        ``Bernoulli(logits)``                       probability 1/2
``Categorical``               ``Categorical(logits)``                     uniform
``OneHotCategorical``         ``OneHotCategorical(logits)``               uniform
``Binomial(n, .)``            ``Binomial(n, logits)``                     probability 1/2
``Geometric``                 ``Geometric(logits)``                       the prior's
``Poisson``                   ``Poisson(exp(log_rate))``                  the prior's
``integer_interval(a, b)``    :class:`BoundedCategorical` over a..b       uniform
``max_values={site: k}``      :class:`BoundedCategorical` over 0..k       the prior's, truncated
============================  ==========================================  ==========================

>>> import torch
>>> import tracegraph.distributions as dist
>>> family, init = choose_family("n", dist.Poisson(torch.tensor(3.0)), None)
>>> family.name, round(init.exp().item(), 4)
('poisson', 3.0)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch.distributions import constraints

import tracegraph.distributions as dist
from tracegraph.infer.autoguide.utils import UnsupportedSiteError

__all__ = ["BoundedCategorical", "Family", "choose_family", "unwrap_prior"]

#: The type of supports ``{k, k + 1, ...}`` (``nonnegative_integer`` and friends).
_INTEGER_GREATER_THAN = type(constraints.nonnegative_integer)


class BoundedCategorical(dist.Categorical):
    """A categorical distribution over the integers ``low, ..., low + K - 1`` (``K``
    the last dim of ``logits``), with values in ``dtype`` like the prior's.

    >>> import torch
    >>> d = BoundedCategorical(logits=torch.zeros(3), low=2)
    >>> d.support.lower_bound, d.support.upper_bound
    (2, 4)
    >>> round(d.log_prob(torch.tensor(4.0)).exp().item(), 4)
    0.3333
    """

    def __init__(
        self,
        probs: torch.Tensor | None = None,
        logits: torch.Tensor | None = None,
        validate_args: bool | None = None,
        low: int = 0,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.low = int(low)
        self.value_dtype = dtype
        super().__init__(probs=probs, logits=logits, validate_args=validate_args)

    @constraints.dependent_property(is_discrete=True, event_dim=0)
    def support(self) -> Any:
        return constraints.integer_interval(self.low, self.low + self._num_events - 1)

    def expand(self, batch_shape: Any, _instance: Any = None) -> BoundedCategorical:
        new = self._get_checked_instance(BoundedCategorical, _instance)
        new.low, new.value_dtype = self.low, self.value_dtype
        return super().expand(batch_shape, _instance=new)  # type: ignore[no-any-return]

    def sample(self, sample_shape: Any = torch.Size()) -> torch.Tensor:
        return (super().sample(sample_shape) + self.low).to(self.value_dtype)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        return super().log_prob((value - self.low).long())

    def enumerate_support(self, expand: bool = True) -> torch.Tensor:
        return (super().enumerate_support(expand) + self.low).to(self.value_dtype)


@dataclass
class Family:
    """One site's guide family: :meth:`make` turns the parameter into the guide's
    distribution (before the site's reinterpreted event dims).  Plain data, so
    guides pickle.

    >>> Family("poisson").make(torch.zeros(2)).rate.tolist()
    [1.0, 1.0]
    """

    name: str
    #: The parameter's dims right of the base distribution's batch dims.
    param_dims: int = 0
    #: Whether values are ordered (a median exists) rather than labels.
    ordered: bool = True
    #: A binomial's total count.
    total_count: torch.Tensor | None = None
    #: The smallest value of a bounded family, and the dtype of its values.
    low: int = 0
    dtype: torch.dtype = torch.float32

    def make(self, param: torch.Tensor) -> Any:
        """The guide's distribution with parameter ``param``."""
        name = self.name
        if name == "bernoulli":
            return dist.Bernoulli(logits=param)
        if name == "categorical":
            return dist.Categorical(logits=param)
        if name == "one_hot_categorical":
            return dist.OneHotCategorical(logits=param)
        if name == "binomial":
            return dist.Binomial(total_count=self.total_count, logits=param)
        if name == "geometric":
            return dist.Geometric(logits=param)
        if name == "poisson":
            return dist.Poisson(param.exp())
        return BoundedCategorical(logits=param, low=self.low, dtype=self.dtype)


def unwrap_prior(fn: Any) -> tuple[Any, int]:
    """The innermost distribution of ``fn`` (under ``Independent`` and masks) and
    how many of its batch dims ``fn`` reinterprets as event dims.

    >>> import tracegraph.distributions as dist
    >>> base, n = unwrap_prior(dist.Bernoulli(torch.full((2, 3), 0.5)).to_event(1))
    >>> type(base).__name__, n
    ('Bernoulli', 1)
    """
    reinterpreted = 0
    while True:
        if isinstance(fn, torch.distributions.Independent):
            reinterpreted += fn.reinterpreted_batch_ndims
            fn = fn.base_dist
        elif isinstance(fn, dist.MaskedDistribution):
            fn = fn.base_dist
        else:
            return fn, reinterpreted


def _scalar_bound(bound: Any) -> int | None:
    t = torch.as_tensor(bound)
    if t.numel() == 0:
        return None
    if t.numel() > 1 and not bool((t == t.reshape(-1)[0]).all()):
        return None
    return int(t.reshape(-1)[0])


def choose_family(
    name: str, prior: Any, max_value: int | None
) -> tuple[Family, torch.Tensor]:
    """The guide family of site ``name`` with distribution ``prior``, and its
    parameter's initial value (the prior's batch shape plus the family's dims).

    :param max_value: use a categorical over ``0..max_value`` (for a site with
        values 0, 1, 2, ...), whatever the prior.
    :raises UnsupportedSiteError: (a ``ValueError``) naming the site, for a
        continuous site or a discrete support no family fits.

    >>> family, init = choose_family("c", dist.Categorical(torch.ones(2, 3)), None)
    >>> family.name, tuple(init.shape)
    ('categorical', (2, 3))
    """
    base, _ = unwrap_prior(prior)
    support = prior.support
    shape = base.batch_shape
    dtype = _value_dtype(base)
    if not getattr(support, "is_discrete", False):
        raise UnsupportedSiteError(
            f"AutoDiscrete got site {name!r} with the continuous support {support}; hint: "
            f"leave it to a continuous guide: AutoDiscrete(poutine.block(model, "
            f"hide=[{name!r}])) next to AutoNormal(poutine.block(model, expose=[{name!r}])) "
            "in an AutoGuideList, or AutoMixed(model)"
        )
    if max_value is not None:
        return _bounded(base, 0, int(max_value), dtype, truncate=True)
    zeros = torch.zeros(shape)
    if isinstance(base, torch.distributions.Bernoulli) or support is constraints.boolean:
        return Family("bernoulli"), zeros
    if isinstance(base, torch.distributions.OneHotCategorical):
        k = base.event_shape[-1]
        return Family("one_hot_categorical", 1, ordered=False), torch.zeros(shape + (k,))
    if isinstance(base, torch.distributions.Categorical):
        k = base._num_events
        return Family("categorical", 1, ordered=False), torch.zeros(shape + (k,))
    if isinstance(base, torch.distributions.Binomial):
        return Family("binomial", total_count=base.total_count.detach()), zeros
    if isinstance(base, torch.distributions.Geometric):
        return Family("geometric"), base.logits.detach().expand(shape)
    if isinstance(base, torch.distributions.Poisson):
        return Family("poisson"), base.rate.detach().log().expand(shape)
    if isinstance(support, constraints.integer_interval):
        low, high = _scalar_bound(support.lower_bound), _scalar_bound(support.upper_bound)
        if low is not None and high is not None:
            return _bounded(base, low, high, dtype, truncate=False)
    hint = (
        f"pass max_values={{{name!r}: K}} to guide it with a categorical over 0..K"
        if isinstance(support, _INTEGER_GREATER_THAN)
        else "write a guide for it by hand and combine them with AutoGuideList"
    )
    raise UnsupportedSiteError(
        f"AutoDiscrete cannot guide site {name!r}: no guide family for "
        f"{type(base).__name__} with support {support}; {hint}"
    )


def _value_dtype(base: Any) -> torch.dtype:
    for attr in ("probs", "logits", "rate", "total_count"):
        value = base.__dict__.get(attr)
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            return value.dtype
    return torch.get_default_dtype()


def _bounded(
    base: Any, low: int, high: int, dtype: torch.dtype, truncate: bool
) -> tuple[Family, torch.Tensor]:
    k = high - low + 1
    if k < 1:
        raise UnsupportedSiteError(f"a bounded guide family needs low <= high, got {low}..{high}")
    shape = base.batch_shape
    if truncate:
        # The prior's probabilities of low..high (renormalized by the softmax).
        values = torch.arange(low, high + 1, dtype=dtype).reshape((k,) + (1,) * len(shape))
        with torch.no_grad():
            logp = base.log_prob(values.expand((k,) + shape)).clamp(min=-30.0)
        init = logp.movedim(0, -1).contiguous()
    else:
        init = torch.zeros(shape + (k,))
    return Family("bounded", 1, low=low, dtype=dtype), init
