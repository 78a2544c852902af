"""Plate claims through a distribution: which batch element reads which input element.

A distribution's batch elements are independent by contract (that is what
``batch_shape`` means in ``torch.distributions``): element ``b`` of its
``log_prob`` and of its samples reads element ``b`` of every parameter, broadcast
right-aligned against ``batch_shape + (param event dims)``.  So the plate claims
of a site's cost and of its value follow from the claims of the tensors the
distribution stores, whatever its ``log_prob`` computes inside:
:func:`batch_claims` walks the object (nested distributions, transforms) and
returns claims in *batch coordinates* (dim ``-1`` is the rightmost batch dim).

Only classes of ``torch.distributions`` and ``tracegraph.distributions`` are
read this way; any other class might keep inputs where the walk cannot see
them, so every claim found in it is mixed.

>>> import torch.distributions as D
>>> from tracegraph.ops.provenance.claims import Claim, aligned_dim
>>> from tracegraph.ops.provenance.tensor import ProvenanceTensor
>>> loc = ProvenanceTensor(torch.zeros(3, 2), {"z"})
>>> loc._provenance = loc._provenance | {Claim("z", "p", -2)}
>>> claims = batch_claims(D.Independent(D.Normal(loc, 1.0), 1))  # batch (3,), event (2,)
>>> aligned_dim(claims, "z", "p")
-1
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.distributions import Distribution
from torch.distributions.transforms import ComposeTransform, Transform
from torch.distributions.utils import lazy_property

from tracegraph.ops.provenance.claims import Claim, claims_of, names_of
from tracegraph.ops.provenance.tensor import ProvenanceTensor, call_disabled, provenance_of

__all__ = ["batch_claims", "value_claims"]

Tensor = torch.Tensor
Shift = Callable[[int], "int | None"]
_SHAPE_GET: Any = Tensor.shape.__get__  # type: ignore[attr-defined]
_TRUSTED = ("torch.distributions", "tracegraph.distributions")
_MAX_DEPTH = 8


def batch_claims(fn: Any, value: Any = None, *others: Any) -> frozenset[Claim]:
    """The plate claims of a site's cost (and of a value drawn from ``fn``), in the
    batch coordinates of ``fn``: from the tensors ``fn`` stores, ``value`` (with
    ``fn``'s event dims) and ``others`` (tensors broadcast against the batch shape:
    a mask, a scale).

    :param fn: the site's distribution.
    :param value: the site's value, if it enters the cost.
    :param others: more tensors of event rank 0.
    :returns: claims whose ``dim`` is a batch dim (negative) or ``None``.

    >>> import tracegraph.distributions as dist
    >>> batch_claims(dist.Normal(torch.zeros(3), 1.0))  # untracked inputs: none
    frozenset()
    """
    out: set[Claim] = set()
    if not isinstance(fn, Distribution):
        return frozenset()
    nb = len(fn.batch_shape)
    _walk(fn, _identity, out, 0)
    if isinstance(value, ProvenanceTensor):
        _tensor(value, len(fn.event_shape), nb, _identity, out)
    for t in others:
        if isinstance(t, ProvenanceTensor):
            _tensor(t, 0, nb, _identity, out)
    return frozenset(out)


def value_claims(fn: Any, value: Tensor, name: Any, frames: Any, drawn: bool) -> frozenset[Claim]:
    """The plate claims of a sample site's value, in its own dims: the site's own
    (its index along each vectorized plate it is in, where the value has that
    plate's size) and, for a value ``drawn`` from ``fn``, those of ``fn``'s inputs
    (a batch element of a draw reads only that batch element of the parameters).
    A value not drawn from ``fn`` (a recorded computation) keeps the claims its
    ops gave it.

    :param frames: the site's ``cond_indep_stack``.

    >>> from collections import namedtuple
    >>> import tracegraph.distributions as dist
    >>> Frame = namedtuple("Frame", "name dim size")  # as a cond_indep_stack entry
    >>> d = dist.Normal(torch.zeros(3), 1.0)
    >>> value_claims(d, torch.zeros(3), "x", (Frame("p", -1, 3),), drawn=True)
    frozenset({Claim(site='x', plate='p', dim=-1)})
    """
    event = len(getattr(fn, "event_shape", ()))
    shape = tuple(call_disabled(_SHAPE_GET, (), (value,)))
    out: set[Claim] = set()
    prov = provenance_of(value) if isinstance(value, ProvenanceTensor) else frozenset()
    if drawn:
        for c in batch_claims(fn):
            out.add(c if c.dim is None else Claim(c.site, c.plate, c.dim - event))
        # A name the distribution's inputs do not explain (no walkable input
        # carries a claim for it) proves nothing: mixed.
        covered = {c.site for c in out}
        out.update(Claim(e, None, None) for e in names_of(prov) if e not in covered)
    else:
        out.update(claims_of(prov))
    for f in frames:
        if f.dim is None:
            continue
        d = f.dim - event
        if -len(shape) <= d and shape[d] == f.size:
            out.add(Claim(name, f.name, d))
    return frozenset(out)


def _identity(b: int) -> int | None:
    return b


def _tensor(t: ProvenanceTensor, rank: int | None, nb: int, shift: Shift, out: set) -> None:
    # ``t``'s claims in the batch coordinates of the outermost distribution.
    for c in claims_of(provenance_of(t)):
        if c.dim is None:
            out.add(c)
            continue
        b = None if rank is None else c.dim + rank
        if b is not None and -nb <= b < 0:
            b = shift(b)
        else:
            b = None  # on an event dim (or beyond the batch): read mixed
        out.add(c if b == c.dim else Claim(c.site, c.plate, b))


def _mix(t: ProvenanceTensor, out: set) -> None:
    out.update(Claim(c.site, c.plate, None) for c in claims_of(provenance_of(t)))


def _trusted(obj: Any) -> bool:
    return type(obj).__module__.startswith(_TRUSTED)


_LAZY: Any = object()
_BY_SHAPE: Any = object()
# (class, attribute) -> the attribute's event rank from its constraint, _LAZY for
# a lazily cached attribute, _BY_SHAPE when the constraint does not say.
_RANKS: dict[tuple[type, str], Any] = {}


def _rank(d: Distribution, name: str, t: Tensor) -> Any:
    # The event rank of a stored parameter (None: unknown), or _LAZY.
    cls = type(d)
    rank = _RANKS.get((cls, name))
    if rank is None:
        rank = _static_rank(cls, name)
        if rank is None:  # arg_constraints is computed per instance
            rank = _constraint_rank(d.arg_constraints.get(name))
        else:
            _RANKS[(cls, name)] = rank
    if rank is not _BY_SHAPE:
        return rank
    # From the shape, when it is ``batch_shape + event`` (broadcast, as torch
    # stores its parameters).
    batch = tuple(d.batch_shape)
    shape = tuple(call_disabled(_SHAPE_GET, (), (t,)))
    if shape[: len(batch)] == batch:
        return len(shape) - len(batch)
    return None


def _static_rank(cls: type, name: str) -> Any:
    if isinstance(getattr(cls, name, None), lazy_property):
        return _LAZY  # a function of the other attributes
    for klass in cls.__mro__:
        if "arg_constraints" in vars(klass):
            constraints = vars(klass)["arg_constraints"]
            if not isinstance(constraints, dict):
                return None
            return _constraint_rank(constraints.get(name))
    return _BY_SHAPE


def _constraint_rank(constraint: Any) -> Any:
    if constraint is None:
        return _BY_SHAPE
    try:
        return int(constraint.event_dim)
    except (NotImplementedError, TypeError, AttributeError):
        return _BY_SHAPE


def _nested_shift(d: Distribution, inner: Distribution, attr: str, shift: Shift) -> Shift | None:
    # Batch dims of a distribution ``d`` holds, in ``d``'s batch coordinates.
    outer, batch = tuple(d.batch_shape), tuple(inner.batch_shape)
    if batch == outer:
        return shift
    if len(batch) > len(outer) and batch[: len(outer)] == outer:
        extra = len(batch) - len(outer)  # Independent, MixtureSameFamily, Transformed

        def shifted(b: int) -> int | None:
            return shift(b + extra) if b + extra < 0 else None

        return shifted
    if attr == "base_dist" and len(batch) <= len(outer):
        # Expanded (or masked) base: broadcast right-aligned into the batch.
        if all(i == 1 or i == o for i, o in zip(batch[::-1], outer[::-1])):
            return shift
    return None


def _walk(d: Distribution, shift: Shift, out: set, depth: int) -> None:
    if depth > _MAX_DEPTH or not _trusted(d):
        for t in _all_tensors(d, 0):
            _mix(t, out)
        return
    nb = len(d.batch_shape)
    for name, v in vars(d).items():
        if isinstance(v, Tensor):
            if isinstance(v, ProvenanceTensor):
                rank = _rank(d, name, v)
                if rank is not _LAZY:
                    _tensor(v, rank, nb, shift, out)
        elif isinstance(v, Distribution):
            inner = _nested_shift(d, v, name, shift)
            if inner is None:
                for t in _all_tensors(v, 0):
                    _mix(t, out)
            else:
                _walk(v, inner, out, depth + 1)
        elif isinstance(v, (Transform, list, tuple)) and not isinstance(v, torch.Size):
            # Transforms act on values of shape batch + event: their parameters
            # broadcast against that.
            rank = len(d.event_shape) if _trusted_items(v) else None
            for t in _transform_tensors(v, 0):
                _tensor(t, rank, nb, shift, out)


def _trusted_items(v: Any) -> bool:
    # Transforms of the two libraries (a distribution in a list: not walked).
    items = v if isinstance(v, (list, tuple)) else [v]
    return all(
        not isinstance(i, (Transform, Distribution)) or (isinstance(i, Transform) and _trusted(i))
        for i in items
    )


def _transform_tensors(v: Any, depth: int) -> list[ProvenanceTensor]:
    if depth > _MAX_DEPTH:
        return []
    found: list[ProvenanceTensor] = []
    items = v if isinstance(v, (list, tuple)) else [v]
    for item in items:
        if isinstance(item, ProvenanceTensor):
            found.append(item)
        elif isinstance(item, Transform):
            for w in vars(item).values():
                found.extend(_transform_tensors(w, depth + 1))
            if isinstance(item, ComposeTransform):
                found.extend(_transform_tensors(item.parts, depth + 1))
        elif isinstance(item, (list, tuple)):
            found.extend(_transform_tensors(item, depth + 1))
        elif isinstance(item, Distribution):
            found.extend(_all_tensors(item, depth + 1))
    return found


def _all_tensors(obj: Any, depth: int) -> list[ProvenanceTensor]:
    # Every tracked tensor reachable from ``obj`` (for classes the walk does not trust).
    if depth > _MAX_DEPTH:
        return []
    if isinstance(obj, ProvenanceTensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [t for item in obj for t in _all_tensors(item, depth + 1)]
    if isinstance(obj, dict):
        return [t for item in obj.values() for t in _all_tensors(item, depth + 1)]
    state = getattr(obj, "__dict__", None)
    if isinstance(obj, (Distribution, Transform)) and state:
        return [t for item in state.values() for t in _all_tensors(item, depth + 1)]
    return []
