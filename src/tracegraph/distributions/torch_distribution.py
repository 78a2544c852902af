"""What tracegraph adds on top of ``torch.distributions``, and the wrappers it returns.

:class:`TorchDistributionMixin` gives any ``torch.distributions.Distribution``
subclass Pyro's extra methods: calling the distribution draws a sample,
``to_event``, ``expand_by``, ``mask``, a per-instance ``has_rsample`` switch and
``score_parts``.  The wrappers those methods return (:class:`Independent`,
:class:`MaskedDistribution`, :class:`ExpandedDistribution`) live here too, since
each is built by a mixin method and is itself a mixin instance.

The mixin comes *first* in every wrapped class's bases, so its ``has_rsample``
property (settable) wins over torch's class attribute or read-only property.

>>> import tracegraph.distributions as dist
>>> d = dist.Normal(torch.zeros(3), 1.0).to_event(1)
>>> d.batch_shape, d.event_shape
(torch.Size([]), torch.Size([3]))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

import torch
from torch.distributions import constraints

from tracegraph.distributions.tracked import (
    leaf_provenance,
    retrack,
    tag_output,
    value_provenance,
)
from tracegraph.distributions.util import ScoreParts, broadcast_shape, sum_rightmost
from tracegraph.errors import ShapeError, SiteError
from tracegraph.ops.provenance import aligning, reduce_untracked, tag_in_place, untracked

__all__ = [
    "ExpandedDistribution",
    "Independent",
    "MaskedDistribution",
    "TorchDistribution",
    "TorchDistributionMixin",
]

Shape = torch.Size | tuple[int, ...] | list[int]

_NO_PROVENANCE: frozenset[str] = frozenset()

# The mixin only ever sits in front of a torch Distribution; telling mypy so lets
# it check the mixin's use of ``batch_shape``, ``log_prob`` and friends.
if TYPE_CHECKING:
    _MixinBase = torch.distributions.Distribution
else:
    _MixinBase = object


def _check_flag(flag: object) -> None:
    if not isinstance(flag, bool):
        raise SiteError(f"has_rsample must be True or False, got {flag!r}")


def _default_score_parts(log_prob: torch.Tensor, reparameterized: bool) -> ScoreParts:
    # Pyro's convention: a reparameterized sample carries its gradient through
    # the value (entropy term); otherwise the score function carries it.
    if reparameterized:
        return ScoreParts(log_prob=log_prob, score_function=0.0, entropy_term=log_prob)
    return ScoreParts(log_prob=log_prob, score_function=log_prob, entropy_term=0.0)


def _score_parts(fn: torch.distributions.Distribution, value: torch.Tensor) -> ScoreParts:
    if isinstance(fn, TorchDistributionMixin):
        return fn.score_parts(value)
    return _default_score_parts(fn.log_prob(value), bool(fn.has_rsample))


def _expand(fn: torch.distributions.Distribution, batch_shape: torch.Size) -> Any:
    try:
        return fn.expand(batch_shape)
    except NotImplementedError:
        # A plain torch subclass that never implemented expand() (the mixin's
        # own expand already falls back by itself).
        return ExpandedDistribution(fn, batch_shape)


_EXPAND_KNOWS_INIT: dict[type, bool] = {}


def _expand_knows_init(cls: type) -> bool:
    # torch's rule, applied below the mixin: an expand() may build an instance only
    # if the class that defines it also defines the __init__ in use (otherwise the
    # __init__ may set state that expand() would not copy).
    known = _EXPAND_KNOWS_INIT.get(cls)
    if known is None:
        mro = cls.__mro__
        below = mro[mro.index(TorchDistributionMixin) + 1 :]
        init_owner = next((c for c in below if "__init__" in vars(c)), None)
        expand_owner = next((c for c in below if "expand" in vars(c)), None)
        known = init_owner is not None and init_owner is expand_owner
        _EXPAND_KNOWS_INIT[cls] = known
    return known


class TorchDistributionMixin(_MixinBase):
    """Pyro's distribution methods for any ``torch.distributions`` class.

    Every class in :mod:`tracegraph.distributions` inherits this mixin; a plain
    ``torch.distributions`` object gets it from ``as_tracegraph_distribution``
    (see :mod:`tracegraph.distributions.generic`).

    >>> import tracegraph.distributions as dist
    >>> d = dist.Normal(torch.zeros(2), 1.0)
    >>> d().shape, d.shape((5,)), d.event_dim
    (torch.Size([2]), torch.Size([5, 2]), 0)
    """

    # -- provenance fast path (see tracegraph.distributions.tracked) ------------
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        prov = leaf_provenance(args, kwargs)
        if prov is None:
            super().__init__(*args, **kwargs)
            return
        if prov and not aligning():
            with untracked():
                super().__init__(*args, **kwargs)
            # Arguments stored as they are stay the caller's plain tensors.
            retrack(self, prov, keep=(*args, *kwargs.values()))
        else:
            # (In an estimator's completely tracked run the stored parameters keep
            # their plate claims: tracegraph.ops.provenance.claims.)
            super().__init__(*args, **kwargs)
        # A leaf distribution: its arguments carry all the provenance it has.
        self._tg_leaf_provenance = prov

    def _untracked_call(self, method: Any, value_prov: frozenset[str] | None, *args: Any) -> Any:
        # Returns NotImplemented when the fast path does not apply.
        prov: frozenset[str] | None = self.__dict__.get("_tg_leaf_provenance")
        if prov is None or value_prov is None:
            return NotImplemented
        full = prov | value_prov if value_prov else prov
        if not full:
            return NotImplemented
        state = self.__dict__
        size = len(state)
        with untracked():
            out = method(*args)
        if len(state) != size:
            # Lazy properties cached during the call: computed from this leaf's
            # attributes only (the instance may have no provenance of its own).
            for key in list(state)[size:]:
                v = state[key]
                if type(v) is torch.Tensor:
                    if prov:
                        tag_in_place(v, prov)
                elif prov:
                    retrack(self, prov)
                    break
        return tag_output(out, full, (*args, *state.values()))

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        out = self._untracked_call(super().log_prob, value_provenance(value), value)
        if out is NotImplemented:
            return super().log_prob(value)  # type: ignore[misc]
        return out  # type: ignore[no-any-return]

    def sample(self, sample_shape: Shape = torch.Size()) -> torch.Tensor:
        shape = torch.Size(sample_shape)
        out = self._untracked_call(super().sample, _NO_PROVENANCE, shape)
        if out is NotImplemented:
            return super().sample(shape)  # type: ignore[misc]
        return out  # type: ignore[no-any-return]

    def rsample(self, sample_shape: Shape = torch.Size()) -> torch.Tensor:
        shape = torch.Size(sample_shape)
        out = self._untracked_call(super().rsample, _NO_PROVENANCE, shape)
        if out is NotImplemented:
            return super().rsample(shape)  # type: ignore[misc]
        return out  # type: ignore[no-any-return]

    def _validate_sample(self, value: torch.Tensor) -> None:
        # Sample validation only decides "raise or go on" and produces nothing, so
        # it runs untracked: tracked values (tracegraph.ops.provenance) would pay
        # the tracking cost on every check and record the check as control flow.
        with untracked():
            super()._validate_sample(value)  # type: ignore[misc]

    def __call__(self, sample_shape: Shape = ()) -> torch.Tensor:
        """Draw a sample: ``rsample`` if :attr:`has_rsample`, else ``sample``.

        :param sample_shape: extra leading dims of independent draws.
        :returns: a tensor of shape ``self.shape(sample_shape)``.

        >>> import tracegraph.distributions as dist
        >>> loc = torch.tensor(0.0, requires_grad=True)
        >>> dist.Normal(loc, 1.0)((3,)).requires_grad
        True
        """
        shape = torch.Size(sample_shape)
        return self.rsample(shape) if self.has_rsample else self.sample(shape)

    @property
    def has_rsample(self) -> bool:
        """Whether samples are reparameterized (gradients flow through the value).

        Defaults to the class's torch value.  Setting it changes this instance
        only: with ``False``, calling the distribution uses ``sample`` (no gradient
        path) and :meth:`score_parts` uses the score function.  ``rsample`` itself
        stays callable.  :meth:`expand` keeps the setting.

        >>> import tracegraph.distributions as dist
        >>> d = dist.Normal(0.0, 1.0)
        >>> d.has_rsample = False
        >>> d.has_rsample, dist.Normal(0.0, 1.0).has_rsample
        (False, True)
        """
        override = self.__dict__.get("_has_rsample_override")
        if override is not None:
            return bool(override)
        return self._native_has_rsample()

    @has_rsample.setter
    def has_rsample(self, flag: bool) -> None:
        _check_flag(flag)
        self.__dict__["_has_rsample_override"] = flag

    def _native_has_rsample(self) -> bool:
        # What the wrapped torch class says; wrappers around a base distribution
        # override this to ask the base instead.
        return bool(super().has_rsample)

    def has_rsample_(self, flag: bool) -> Self:
        """Set :attr:`has_rsample` in place and return ``self`` (for chaining).

        :param flag: ``True`` for reparameterized samples, ``False`` for detached ones.
        :returns: this distribution.
        :raises SiteError: if ``flag`` is not a bool.

        >>> import tracegraph.distributions as dist
        >>> dist.Normal(0.0, 1.0).has_rsample_(False).has_rsample
        False
        """
        _check_flag(flag)
        self.has_rsample = flag
        return self

    def _keep_has_rsample(self, new: Any) -> Any:
        # Copy a per-instance has_rsample setting onto an expanded copy, so that
        # broadcasting a site inside a plate cannot silently switch it back.
        # (Cheap test first: expand runs for every site inside a plate.)
        state = self.__dict__
        if "_has_rsample_override" not in state and "has_rsample" not in state:
            return new
        if new.has_rsample != self.has_rsample:
            new.has_rsample = self.has_rsample
        return new

    @property
    def event_dim(self) -> int:
        """The number of event dims, ``len(self.event_shape)``.

        >>> import tracegraph.distributions as dist
        >>> dist.MultivariateNormal(torch.zeros(3), torch.eye(3)).event_dim
        1
        """
        return len(self.event_shape)

    def shape(self, sample_shape: Shape = ()) -> torch.Size:
        """The shape of a sample: ``sample_shape + batch_shape + event_shape``.

        :param sample_shape: leading dims of independent draws.
        :returns: the full sample shape.

        >>> import tracegraph.distributions as dist
        >>> dist.Dirichlet(torch.ones(4, 3)).shape((2,))
        torch.Size([2, 4, 3])
        """
        return torch.Size(sample_shape) + self.batch_shape + self.event_shape

    def expand(self, batch_shape: Shape, _instance: Any = None) -> Any:
        """Torch's ``expand``, keeping the wrapped class and the ``has_rsample`` setting.

        Classes whose torch ``expand`` is missing get an :class:`ExpandedDistribution`.

        :param batch_shape: the new batch shape; existing dims must broadcast to it.
        :returns: an expanded distribution of the same class.

        >>> import tracegraph.distributions as dist
        >>> type(dist.Normal(0.0, 1.0).expand((2, 3))).__module__
        'tracegraph.distributions.torch'
        """
        batch_shape = torch.Size(batch_shape)
        prov: frozenset[str] | None = self.__dict__.get("_tg_leaf_provenance")
        if _instance is None and _expand_knows_init(type(self)):
            # torch refuses to build the instance itself for classes with their own
            # __init__ (the mixin's); it fills in one we make.
            _instance = type(self).__new__(type(self))
        try:
            if prov and not aligning():
                with untracked():
                    new = super().expand(batch_shape, _instance)
                retrack(new, prov)
            else:
                new = super().expand(batch_shape, _instance)
        except NotImplementedError:
            return ExpandedDistribution(self, batch_shape)
        if prov is not None and type(new) is type(self):
            # Expanded attributes are functions of this leaf's attributes.
            new._tg_leaf_provenance = prov
        return self._keep_has_rsample(new)

    def expand_by(self, sample_shape: Shape) -> Any:
        """Prepend ``sample_shape`` to the batch shape.

        :param sample_shape: dims to add on the left of ``batch_shape``.
        :returns: ``self.expand(sample_shape + self.batch_shape)``.

        >>> import tracegraph.distributions as dist
        >>> dist.Bernoulli(torch.full((3,), 0.5)).expand_by((2,)).batch_shape
        torch.Size([2, 3])
        """
        return self.expand(torch.Size(sample_shape) + self.batch_shape)

    def to_event(self, reinterpreted_batch_ndims: int | None = None) -> Any:
        """Reinterpret the rightmost batch dims as event dims.

        :param reinterpreted_batch_ndims: how many; ``None`` means all batch dims.
        :returns: an :class:`Independent`, or ``self`` when the number is 0.
        :raises ShapeError: if the number is negative or exceeds the batch dims.

        >>> import tracegraph.distributions as dist
        >>> d = dist.Normal(torch.zeros(2, 3), 1.0)
        >>> d.to_event(1).event_shape, d.to_event().event_shape, d.to_event(0) is d
        (torch.Size([3]), torch.Size([2, 3]), True)
        """
        ndims = len(self.batch_shape)
        n = ndims if reinterpreted_batch_ndims is None else reinterpreted_batch_ndims
        if not 0 <= n <= ndims:
            raise ShapeError(
                f"to_event({n}) on {type(self).__name__} with batch_shape "
                f"{tuple(self.batch_shape)}: expected 0 <= reinterpreted_batch_ndims <= "
                f"{ndims}; hint: expand the distribution first, or call to_event() to move "
                "every batch dim"
            )
        return self if n == 0 else Independent(self, n)

    def mask(self, mask: torch.Tensor | bool) -> MaskedDistribution:
        """Zero the log-density wherever ``mask`` is ``False``.

        :param mask: a bool, or a bool tensor that broadcasts with ``batch_shape``.
        :returns: a :class:`MaskedDistribution`.
        :raises SiteError: if ``mask`` is not a bool or bool tensor.
        :raises ShapeError: if ``mask`` does not broadcast with ``batch_shape``.

        >>> import tracegraph.distributions as dist
        >>> d = dist.Normal(torch.zeros(2), 1.0).mask(torch.tensor([True, False]))
        >>> d.log_prob(torch.zeros(2))
        tensor([-0.9189, 0.0000])
        """
        return MaskedDistribution(self, mask)

    def score_parts(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> ScoreParts:
        """The log-density terms for the ELBO, by Pyro's convention.

        Reparameterized: ``(log_prob, 0.0, log_prob)``.  Otherwise:
        ``(log_prob, log_prob, 0.0)``.  See :class:`~tracegraph.distributions.util.ScoreParts`.

        :param x: the sampled value.
        :returns: ``ScoreParts(log_prob, score_function, entropy_term)``.

        >>> import tracegraph.distributions as dist
        >>> dist.Bernoulli(0.5).score_parts(torch.tensor(1.0)).entropy_term
        0.0
        """
        return _default_score_parts(self.log_prob(x, *args, **kwargs), self.has_rsample)


class TorchDistribution(TorchDistributionMixin, torch.distributions.Distribution):
    """Base class for new distributions: torch's ``Distribution`` plus the mixin.

    Subclasses implement torch's interface (``sample``/``rsample``, ``log_prob``,
    ``arg_constraints``, ``support``, ``expand``); without an ``expand`` they are
    expanded by :class:`ExpandedDistribution`.

    >>> class Coin(TorchDistribution):
    ...     arg_constraints = {}
    ...     def sample(self, sample_shape=torch.Size()):
    ...         return torch.ones(sample_shape)
    >>> Coin()((2,)), type(Coin().expand((3,))).__name__
    (tensor([1., 1.]), 'ExpandedDistribution')
    """


class Independent(TorchDistributionMixin, torch.distributions.Independent):
    """``torch.distributions.Independent`` with the mixin; :meth:`to_event` builds it.

    >>> import tracegraph.distributions as dist
    >>> d = Independent(dist.Normal(torch.zeros(3), 1.0), 1)
    >>> d.log_prob(torch.zeros(3))
    tensor(-2.7568)
    """

    def score_parts(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> ScoreParts:
        """Sum the base distribution's score parts over the reinterpreted dims.

        Asking the base keeps a base's own ``score_parts`` (if it defines one).

        >>> import tracegraph.distributions as dist
        >>> d = Independent(dist.Normal(torch.zeros(3), 1.0), 1)
        >>> d.score_parts(torch.zeros(3)).score_function
        0.0
        """
        if self.has_rsample != bool(self.base_dist.has_rsample):
            return super().score_parts(x, *args, **kwargs)
        lp, sf, et = _score_parts(self.base_dist, x)
        n = self.reinterpreted_batch_ndims
        summed = _sum_events(lp, n)
        # The parts are often one tensor (or 0.0) twice: sum it once.
        return ScoreParts(
            summed,
            summed if sf is lp else _sum_events(sf, n),
            summed if et is lp else _sum_events(et, n),
        )

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """Torch's ``Independent.log_prob``; a tracked log-density is summed untracked
        (the sum depends on exactly what its summands do)."""
        return _sum_events(self.base_dist.log_prob(value), self.reinterpreted_batch_ndims)


def _sum_events(t: Any, n: int) -> Any:
    # sum_rightmost; a tracked log-density's sum runs untracked (same provenance).
    if n == 0 or not isinstance(t, torch.Tensor):
        return sum_rightmost(t, n)
    return reduce_untracked(t, lambda x: sum_rightmost(x, n))


class MaskedDistribution(TorchDistribution):
    """A distribution whose log-density is zero where a bool mask is ``False``.

    Sampling is unchanged.  A tensor mask broadcasts with the base's batch
    shape; both are expanded to the broadcast shape.

    :param base_dist: any ``torch.distributions`` object.
    :param mask: a bool, or a bool tensor.
    :raises SiteError: if ``mask`` is not a bool or bool tensor.
    :raises ShapeError: if ``mask`` does not broadcast with the base's batch shape.

    >>> import tracegraph.distributions as dist
    >>> d = MaskedDistribution(dist.Normal(0.0, 1.0), torch.tensor([False, True]))
    >>> d.batch_shape, d.log_prob(torch.zeros(2))
    (torch.Size([2]), tensor([ 0.0000, -0.9189]))
    """

    arg_constraints: dict[str, constraints.Constraint] = {}

    def __init__(self, base_dist: torch.distributions.Distribution, mask: torch.Tensor | bool):
        batch_shape = base_dist.batch_shape
        if isinstance(mask, torch.Tensor) and mask.dtype == torch.bool:
            batch_shape = broadcast_shape(mask.shape, base_dist.batch_shape)
            mask = mask.expand(batch_shape)
            if base_dist.batch_shape != batch_shape:
                base_dist = _expand(base_dist, batch_shape)
        elif not isinstance(mask, bool):
            got = mask.dtype if isinstance(mask, torch.Tensor) else type(mask).__name__
            raise SiteError(
                f"expected mask to be a bool or a bool tensor, got {got}; hint: use "
                "`mask.bool()` or a comparison such as `x > 0`"
            )
        self.base_dist = base_dist
        self._mask = mask
        super().__init__(batch_shape, base_dist.event_shape, validate_args=False)

    def _native_has_rsample(self) -> bool:
        return bool(self.base_dist.has_rsample)

    def expand(self, batch_shape: Shape, _instance: Any = None) -> MaskedDistribution:
        batch_shape = torch.Size(batch_shape)
        mask = self._mask if isinstance(self._mask, bool) else self._mask.expand(batch_shape)
        new = MaskedDistribution(_expand(self.base_dist, batch_shape), mask)
        return self._keep_has_rsample(new)

    @property
    def support(self) -> Any:
        return self.base_dist.support

    @property
    def has_enumerate_support(self) -> bool:  # type: ignore[override]
        return bool(self.base_dist.has_enumerate_support)

    def enumerate_support(self, expand: bool = True) -> torch.Tensor:
        return self.base_dist.enumerate_support(expand)

    @property
    def mean(self) -> torch.Tensor:
        return self.base_dist.mean

    @property
    def variance(self) -> torch.Tensor:
        return self.base_dist.variance

    def sample(self, sample_shape: Shape = ()) -> torch.Tensor:
        return self.base_dist.sample(torch.Size(sample_shape))

    def rsample(self, sample_shape: Shape = ()) -> torch.Tensor:
        return self.base_dist.rsample(torch.Size(sample_shape))

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._mask is False:
            # Skip the base entirely: a fully masked value may lie outside its support.
            shape = broadcast_shape(value.shape[: value.dim() - self.event_dim], self.batch_shape)
            dtype = value.dtype if value.is_floating_point() else torch.get_default_dtype()
            return torch.zeros(shape, dtype=dtype, device=value.device)
        log_prob = self.base_dist.log_prob(value)
        if self._mask is True:
            return log_prob
        return torch.where(self._mask, log_prob, log_prob.new_zeros(()))

    def score_parts(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> ScoreParts:
        if self._mask is False or self.has_rsample != bool(self.base_dist.has_rsample):
            return super().score_parts(x, *args, **kwargs)
        return _score_parts(self.base_dist, x).scale_and_mask(mask=self._mask)


class ExpandedDistribution(TorchDistribution):
    """A base distribution broadcast to a larger batch shape, with independent draws.

    Used for distributions that cannot ``expand`` themselves.  New dims on the
    left and size-1 dims that grow get fresh draws, never copies.

    :param base_dist: any ``torch.distributions`` object.
    :param batch_shape: the new batch shape; the base's must broadcast to it.
    :raises ShapeError: if the base's batch shape does not broadcast to ``batch_shape``.

    >>> import tracegraph.distributions as dist
    >>> d = ExpandedDistribution(dist.Normal(torch.zeros(3, 1), 1.0), (2, 3, 4))
    >>> d.sample().shape, d.log_prob(torch.zeros(2, 3, 4)).shape
    (torch.Size([2, 3, 4]), torch.Size([2, 3, 4]))
    """

    arg_constraints: dict[str, constraints.Constraint] = {}

    def __init__(self, base_dist: torch.distributions.Distribution, batch_shape: Shape = ()):
        batch_shape = torch.Size(batch_shape)
        try:
            fits = broadcast_shape(base_dist.batch_shape, batch_shape) == batch_shape
        except ShapeError:
            fits = False
        if not fits:
            raise ShapeError(
                f"cannot expand {type(base_dist).__name__} with batch_shape "
                f"{tuple(base_dist.batch_shape)} to {tuple(batch_shape)}: a dim may only "
                "grow from 1 or be added on the left"
            )
        self.base_dist = base_dist
        super().__init__(batch_shape, base_dist.event_shape, validate_args=False)

    def _native_has_rsample(self) -> bool:
        return bool(self.base_dist.has_rsample)

    def expand(self, batch_shape: Shape, _instance: Any = None) -> ExpandedDistribution:
        return self._keep_has_rsample(ExpandedDistribution(self.base_dist, batch_shape))

    @property
    def support(self) -> Any:
        return self.base_dist.support

    @property
    def mean(self) -> torch.Tensor:
        return self.base_dist.mean.expand(self.shape())

    @property
    def variance(self) -> torch.Tensor:
        return self.base_dist.variance.expand(self.shape())

    def _draw(self, sample_shape: Shape, draw: Any) -> torch.Tensor:
        base_batch = self.base_dist.batch_shape
        lead = self.batch_shape[: len(self.batch_shape) - len(base_batch)]
        tail = self.batch_shape[len(lead) :]
        grown = [i for i, (old, new) in enumerate(zip(base_batch, tail)) if old != new]
        outer = torch.Size(sample_shape) + lead
        # Grown size-1 dims are drawn as extra leading sample dims, then moved into place.
        extra = torch.Size(tail[i] for i in grown)
        value = draw(outer + extra)
        if not grown:
            return value
        kept = torch.Size(size for i, size in enumerate(base_batch) if i not in grown)
        value = value.reshape(outer + extra + kept + self.event_shape)
        start = len(outer)
        return value.movedim(
            tuple(range(start, start + len(extra))), tuple(start + i for i in grown)
        )

    def sample(self, sample_shape: Shape = ()) -> torch.Tensor:
        return self._draw(sample_shape, self.base_dist.sample)

    def rsample(self, sample_shape: Shape = ()) -> torch.Tensor:
        return self._draw(sample_shape, self.base_dist.rsample)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        log_prob = self.base_dist.log_prob(value)
        return log_prob.expand(broadcast_shape(log_prob.shape, self.batch_shape))
