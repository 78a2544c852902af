"""What tracegraph adds on top of ``torch.distributions``: :class:`TorchDistributionMixin`.

The mixin gives any ``torch.distributions.Distribution`` subclass Pyro's
distribution API: calling the distribution draws a sample, ``to_event``,
``expand_by``, ``mask``, a per-instance ``has_rsample`` switch, ``score_parts``,
``infer_shapes``, ``conjugate_update``, ``rv``, ...  :class:`TorchDistribution`
is the base of new distributions.  The wrappers the mixin's methods return
(``Independent``, ``MaskedDistribution``, ``ExpandedDistribution``) are mixin
instances themselves, so they live in modules of their own and register here
(:func:`register_wrapper`); :mod:`tracegraph.distributions.torch_distribution`
gathers everything at Pyro's path.

The mixin comes *first* in every wrapped class's bases, so its ``has_rsample``
property (settable) wins over torch's class attribute or read-only property.

>>> import tracegraph.distributions as dist
>>> d = dist.Normal(torch.zeros(3), 1.0).to_event(1)
>>> d.batch_shape, d.event_shape
(torch.Size([]), torch.Size([3]))
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, Self

import torch

from tracegraph.distributions.distribution import Distribution, check_has_rsample_flag
from tracegraph.distributions.score_parts import ScoreParts
from tracegraph.distributions.shape_inference import infer_shapes_from_constraints
from tracegraph.distributions.tracked import ProvenanceFastPath, Shape, retrack
from tracegraph.errors import ShapeError
from tracegraph.ops.provenance import aligning, untracked

__all__ = [
    "Shape",
    "TorchDistribution",
    "TorchDistributionMixin",
    "expand_or_wrap",
    "register_wrapper",
    "score_parts_of",
    "too_many_event_dims",
]

# The mixin only ever sits in front of a torch Distribution; telling mypy so lets
# it check the mixin's use of ``batch_shape``, ``log_prob`` and friends.
if TYPE_CHECKING:
    _MixinBase = torch.distributions.Distribution
else:
    _MixinBase = object

# "independent", "masked", "expanded" -> the wrapper class, set by its module.
_WRAPPERS: dict[str, Any] = {}


def register_wrapper(role: str, cls: type) -> None:
    """Record the class the mixin builds for ``role`` (``"independent"``,
    ``"masked"`` or ``"expanded"``); each wrapper's module calls this once.

    >>> register_wrapper("masked", _WRAPPERS["masked"])
    """
    _WRAPPERS[role] = cls


_MISSING = object()


def _default_score_parts(log_prob: torch.Tensor, reparameterized: bool) -> ScoreParts:
    # Pyro's convention: a reparameterized sample carries its gradient through
    # the value (entropy term); otherwise the score function carries it.
    if reparameterized:
        return ScoreParts(log_prob=log_prob, score_function=0, entropy_term=log_prob)
    return ScoreParts(log_prob=log_prob, score_function=log_prob, entropy_term=0)


def score_parts_of(fn: torch.distributions.Distribution, value: torch.Tensor) -> ScoreParts:
    """``fn.score_parts(value)``, for plain torch objects too (Pyro's convention).

    >>> score_parts_of(torch.distributions.Bernoulli(0.5), torch.tensor(1.0)).entropy_term
    0
    """
    if isinstance(fn, TorchDistributionMixin):
        return fn.score_parts(value)
    return _default_score_parts(fn.log_prob(value), bool(fn.has_rsample))


def expand_or_wrap(fn: torch.distributions.Distribution, batch_shape: torch.Size) -> Any:
    """``fn.expand(batch_shape)``, or an ``ExpandedDistribution`` where ``expand`` is missing.

    >>> expand_or_wrap(torch.distributions.Normal(0.0, 1.0), torch.Size([2])).batch_shape
    torch.Size([2])
    """
    try:
        return fn.expand(batch_shape)
    except NotImplementedError:
        # A plain torch subclass that never implemented expand() (the mixin's
        # own expand already falls back by itself).
        return _WRAPPERS["expanded"](fn, batch_shape)


_EXPAND_KNOWS_INIT: dict[type, bool] = {}


def _expand_knows_init(cls: type) -> bool:
    # torch's rule, applied below the mixin: an expand() may build an instance only
    # if the class that defines it also defines the __init__ in use (otherwise the
    # __init__ may set state that expand() would not copy).
    known = _EXPAND_KNOWS_INIT.get(cls)
    if known is None:
        mro = cls.__mro__
        below = mro[mro.index(ProvenanceFastPath) + 1 :]
        init_owner = next((c for c in below if "__init__" in vars(c)), None)
        expand_owner = next((c for c in below if "expand" in vars(c)), None)
        known = init_owner is not None and init_owner is expand_owner
        _EXPAND_KNOWS_INIT[cls] = known
    return known


class TorchDistributionMixin(ProvenanceFastPath, _MixinBase):
    """Pyro's distribution methods for any ``torch.distributions`` class.

    Every class in :mod:`tracegraph.distributions` inherits this mixin; a plain
    ``torch.distributions`` object gets it from ``as_tracegraph_distribution``
    (see :mod:`tracegraph.distributions.generic`).

    >>> import tracegraph.distributions as dist
    >>> d = dist.Normal(torch.zeros(2), 1.0)
    >>> d().shape, d.shape((5,)), d.event_dim
    (torch.Size([2]), torch.Size([5, 2]), 0)
    """

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
    def has_rsample(self, value: bool) -> None:
        check_has_rsample_flag(value)
        self.__dict__["_has_rsample_override"] = value

    def _native_has_rsample(self) -> bool:
        # What the wrapped torch class says; wrappers around a base distribution
        # override this to ask the base instead.
        return bool(super().has_rsample)

    def has_rsample_(self, value: bool) -> Self:
        """Set :attr:`has_rsample` in place and return ``self`` (for chaining).

        :param value: ``True`` for reparameterized samples, ``False`` for detached ones.
        :returns: this distribution.
        :raises SiteError: (a ``ValueError``) if ``value`` is not a bool.

        >>> import tracegraph.distributions as dist
        >>> dist.Normal(0.0, 1.0).has_rsample_(False).has_rsample
        False
        """
        self.has_rsample = value
        return self

    @property
    def has_enumerate_support(self) -> bool:
        """Whether :meth:`enumerate_support` works: the torch class's answer unless
        set on this instance.

        >>> import tracegraph.distributions as dist
        >>> dist.Bernoulli(0.5).has_enumerate_support, dist.Normal(0.0, 1.0).has_enumerate_support
        (True, False)
        """
        override = self.__dict__.get("_has_enumerate_support_override", _MISSING)
        if override is not _MISSING:
            return bool(override)
        return bool(super().has_enumerate_support)

    @has_enumerate_support.setter
    def has_enumerate_support(self, value: bool) -> None:
        self.__dict__["_has_enumerate_support_override"] = value

    def enumerate_support(self, expand: bool = True) -> torch.Tensor:
        """Torch's ``enumerate_support``: every value, along a new leftmost dim.

        :param expand: expand the values over ``batch_shape`` (else size-1 dims).
        :raises NotImplementedError: for distributions that are not discrete.

        >>> import tracegraph.distributions as dist
        >>> dist.Bernoulli(torch.full((2,), 0.5)).enumerate_support().shape
        torch.Size([2, 2])
        """
        return super().enumerate_support(expand)  # type: ignore[no-any-return]

    conjugate_update = Distribution.conjugate_update
    rv = Distribution.rv

    @property
    def batch_shape(self) -> torch.Size:
        """The shape over which parameters are batched.

        >>> import tracegraph.distributions as dist
        >>> dist.Normal(torch.zeros(2, 3), 1.0).batch_shape
        torch.Size([2, 3])
        """
        return self._batch_shape

    @property
    def event_shape(self) -> torch.Size:
        """The shape of one draw, without batching.

        >>> import tracegraph.distributions as dist
        >>> dist.Dirichlet(torch.ones(2, 3)).event_shape
        torch.Size([3])
        """
        return self._event_shape

    @classmethod
    def infer_shapes(cls, **arg_shapes: Any) -> tuple[torch.Size, torch.Size]:
        """``(batch_shape, event_shape)`` of an instance made from arguments of the
        given shapes, without making one.

        The default reads each argument's event dims off ``arg_constraints`` and
        supports distributions with scalar events; classes with larger events
        override it.

        :param arg_shapes: argument name to shape.
        :returns: the two shapes.
        :raises NotImplementedError: when events are not scalar and the class has
            no rule of its own.

        >>> import tracegraph.distributions as dist
        >>> dist.Normal.infer_shapes(loc=(2, 3), scale=(3,))
        (torch.Size([2, 3]), torch.Size([]))
        """
        return infer_shapes_from_constraints(cls, arg_shapes)

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
            return _WRAPPERS["expanded"](self, batch_shape)
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

        On an :class:`Independent`, a negative number gives event dims back to the
        batch.

        :param reinterpreted_batch_ndims: how many; ``None`` means all batch dims.
        :returns: an :class:`Independent`, or ``self`` when the number is 0.
        :raises ShapeError: (a ``ValueError``) if the number exceeds the batch dims,
            or is negative on a distribution that is not an ``Independent``.

        >>> import tracegraph.distributions as dist
        >>> d = dist.Normal(torch.zeros(2, 3), 1.0)
        >>> d.to_event(1).event_shape, d.to_event().event_shape, d.to_event(0) is d
        (torch.Size([3]), torch.Size([2, 3]), True)
        """
        ndims = len(self.batch_shape)
        n = ndims if reinterpreted_batch_ndims is None else reinterpreted_batch_ndims
        if n == 0:
            return self
        if n < 0:
            raise ShapeError(
                f"Cannot remove event dimensions from {type(self)}: to_event({n}) undoes "
                "event dims only of an Independent (one made by to_event)"
            )
        if n > ndims:
            raise too_many_event_dims(self, n)
        return _WRAPPERS["independent"](self, n)

    def independent(self, reinterpreted_batch_ndims: int | None = None) -> Any:
        """Deprecated name of :meth:`to_event` (warns ``DeprecationWarning``).

        >>> import warnings
        >>> import tracegraph.distributions as dist
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore", DeprecationWarning)
        ...     dist.Normal(torch.zeros(3), 1.0).independent(1).event_shape
        torch.Size([3])
        """
        warnings.warn(
            "independent is deprecated; use to_event instead", DeprecationWarning, stacklevel=2
        )
        return self.to_event(reinterpreted_batch_ndims=reinterpreted_batch_ndims)

    def reshape(
        self, sample_shape: Shape | None = None, extra_event_dims: int | None = None
    ) -> Any:
        """Removed: raises, naming the replacement ``expand_by(...).to_event(...)``.

        >>> import tracegraph.distributions as dist
        >>> dist.Normal(0.0, 1.0).reshape((2,))
        Traceback (most recent call last):
        ...
        Exception: .reshape(sample_shape=s, extra_event_dims=n) was renamed and split into ...
        """
        raise Exception(
            ".reshape(sample_shape=s, extra_event_dims=n) was renamed and split into "
            ".expand_by(sample_shape=s).to_event(reinterpreted_batch_ndims=n)."
        )

    def mask(self, mask: torch.Tensor | bool) -> Any:
        """Zero the log-density wherever ``mask`` is false.

        :param mask: a bool, or a bool or 0/1 tensor that broadcasts with
            ``batch_shape`` (``.mask(z)`` with a sampled Bernoulli ``z`` works).
        :returns: a :class:`MaskedDistribution`.
        :raises SiteError: for another kind of mask, or a tensor with values other
            than 0 and 1 (checked while validation is on).
        :raises ShapeError: if ``mask`` does not broadcast with ``batch_shape``.

        >>> import tracegraph.distributions as dist
        >>> d = dist.Normal(torch.zeros(2), 1.0).mask(torch.tensor([1.0, 0.0]))
        >>> d.log_prob(torch.zeros(2))
        tensor([-0.9189, 0.0000])
        """
        return _WRAPPERS["masked"](self, mask)

    def score_parts(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> ScoreParts:
        """The log-density terms for the ELBO, by Pyro's convention.

        Reparameterized: ``(log_prob, 0, log_prob)``.  Otherwise:
        ``(log_prob, log_prob, 0)``.  See :class:`~tracegraph.distributions.util.ScoreParts`.

        :param x: the sampled value.
        :returns: ``ScoreParts(log_prob, score_function, entropy_term)``.

        >>> import tracegraph.distributions as dist
        >>> dist.Bernoulli(0.5).score_parts(torch.tensor(1.0)).entropy_term
        0
        """
        return _default_score_parts(self.log_prob(x, *args, **kwargs), self.has_rsample)


# Every tracegraph distribution counts as a Distribution (isinstance/issubclass),
# while torch's methods keep precedence over the abstract ones.
Distribution.register(TorchDistributionMixin)


def too_many_event_dims(fn: Any, n: int) -> ShapeError:
    ndims = len(fn.batch_shape)
    return ShapeError(
        f"Expected reinterpreted_batch_ndims <= len(base_distribution.batch_shape), actual "
        f"{n} vs {ndims}: to_event({n}) on {type(fn).__name__} with batch_shape "
        f"{tuple(fn.batch_shape)}; hint: expand the distribution first, or call to_event() "
        "to move every batch dim"
    )


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
