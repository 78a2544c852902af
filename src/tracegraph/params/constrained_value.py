"""How a constrained value maps to the stored unconstrained leaf, and back.

Writing a param stores ``transform_to(constraint).inv(value)`` as a leaf tensor;
reading it computes ``transform_to(constraint)(leaf)`` and attaches a callable
``.unconstrained`` attribute that returns the leaf.

>>> import torch
>>> from torch.distributions import constraints
>>> leaf = new_leaf("p", torch.tensor([0.5, 0.5]), constraints.simplex)
>>> leaf.is_leaf, leaf.requires_grad
(True, True)
>>> value = constrain(leaf, constraints.simplex)
>>> value.tolist(), value.unconstrained() is leaf
([0.5, 0.5], True)
"""

from __future__ import annotations

import copy
import weakref
from typing import Any

import torch
from torch.distributions import transform_to
from torch.distributions.constraints import Constraint

from tracegraph.errors import SiteError, SiteTypeError

__all__ = ["check_name", "constrain", "new_leaf", "transform_for"]


class _UnconstrainedRef:
    """The callable stored as ``value.unconstrained``; calling it returns the leaf.

    A leaf that is its own constrained value (``constraints.real``) refers to
    itself weakly, so the tensor never keeps itself alive through its ``__dict__``.
    Pickling and deep-copying must not fail (the attribute also sits on users'
    ``nn.Parameter`` objects): a copy of a self-reference cannot find its new host
    (torch copies ``__dict__`` before the host exists), so it becomes *unlinked*
    and calling it raises; a reference to another tensor copies that tensor along.
    """

    __slots__ = ("_strong", "_weak")

    def __init__(self, target: torch.Tensor | None = None) -> None:
        # Also the unpickling constructor, so it accepts nothing but a tensor.
        if target is not None and not isinstance(target, torch.Tensor):
            raise TypeError(f"expected a tensor, got {type(target).__name__}")
        self._strong = target
        self._weak: weakref.ref[torch.Tensor] | None = None

    @classmethod
    def to_self(cls, host: torch.Tensor) -> _UnconstrainedRef:
        ref = cls()
        ref._weak = weakref.ref(host)
        return ref

    def __call__(self) -> torch.Tensor:
        if self._strong is not None:
            return self._strong
        host = self._weak() if self._weak is not None else None
        if host is None:
            raise SiteError(
                "this tensor is a copy (pickled or deep-copied) of a param value and is no "
                "longer linked to a param store, so it has no unconstrained tensor. Hint: "
                "look the param up again with get_param_store()[name].unconstrained()."
            )
        return host

    def __reduce__(self) -> tuple[Any, ...]:
        return (_UnconstrainedRef, () if self._strong is None else (self._strong,))

    def __deepcopy__(self, memo: dict[int, Any]) -> _UnconstrainedRef:
        if self._strong is None:
            return _UnconstrainedRef()
        return _UnconstrainedRef(copy.deepcopy(self._strong, memo))


# A param of ``constraints.real`` is the leaf itself and carries the reference, so
# ``torch.save(param)`` pickles it; allowlisting this inert class (its constructor
# only stores a tensor) keeps ``torch.load``'s default ``weights_only=True`` working.
if hasattr(torch.serialization, "add_safe_globals"):
    torch.serialization.add_safe_globals([_UnconstrainedRef])


def transform_for(name: str, constraint: Constraint) -> Any:
    """``transform_to(constraint)``, or a :class:`SiteError` naming the param.

    >>> from torch.distributions import constraints
    >>> transform_for("p", constraints.boolean)
    Traceback (most recent call last):
    ...
    tracegraph.errors.SiteError: param 'p': constraint Boolean() has no transform_to bijection...
    """
    try:
        return transform_to(constraint)
    except NotImplementedError as exc:
        raise SiteError(
            f"param {name!r}: constraint {constraint!r} has no transform_to bijection, so it "
            "cannot constrain a learnable param. Hint: params need a continuous constraint "
            "(positive, interval, simplex, ...); discrete values belong to sample sites."
        ) from exc


def check_name(name: Any) -> None:
    """Raise :class:`~tracegraph.errors.SiteTypeError` (a ``TypeError``, as Pyro's
    dict raises) unless ``name`` is hashable: as in Pyro, any hashable object
    (a str, an int, a tuple ...) names a param.

    >>> check_name(("layer", 1))
    >>> check_name(["layer", 1])
    Traceback (most recent call last):
    ...
    tracegraph.errors.SiteTypeError: a param name must be hashable, got list: ['layer', 1]
    """
    try:
        hash(name)
    except TypeError:
        raise SiteTypeError(
            f"a param name must be hashable, got {type(name).__name__}: {name!r}"
        ) from None


def _summary(value: torch.Tensor) -> str:
    # One line, bounded: error messages must stay readable for large params.
    text = " ".join(repr(value).split())
    return text if len(text) <= 80 else f"of shape {tuple(value.shape)}"


def new_leaf(name: str, constrained_value: Any, constraint: Constraint) -> torch.Tensor:
    """The unconstrained leaf to store for ``constrained_value``, after validation.

    As in Pyro, a value outside the support is accepted whenever the inverse
    transform maps it to a finite value: the param then holds its projection,
    ``transform_to(constraint)`` of that value (an unnormalised ``simplex`` value
    is normalised, a ``lower_cholesky`` value loses its upper triangle, ...).

    :param name: the param name, for error messages.
    :param constrained_value: a tensor (or number), normally in the support of
        ``constraint``.
    :param constraint: the param's constraint.
    :returns: a new leaf with ``requires_grad=True`` holding the inverse transform;
        the value itself when it already is a trainable leaf and the transform is
        the identity.
    :raises SiteError: if the value maps to a non-finite unconstrained value (where
        Pyro would store NaN or infinity), or is not floating point.

    >>> import torch
    >>> from torch.distributions import constraints
    >>> new_leaf("rate", torch.tensor(1.0), constraints.positive)
    tensor(0., requires_grad=True)
    >>> constrain(new_leaf("q", torch.tensor([3.0, 1.0]), constraints.simplex), constraints.simplex)
    tensor([0.7500, 0.2500], grad_fn=<...>)
    >>> new_leaf("rate", torch.tensor(-1.0), constraints.positive)
    Traceback (most recent call last):
    ...
    tracegraph.errors.SiteError: param 'rate': value tensor(-1.) is outside the support of ...
    """
    value = (
        constrained_value
        if isinstance(constrained_value, torch.Tensor)
        else torch.as_tensor(constrained_value)
    )
    transform = transform_for(name, constraint)
    hint = (
        "Hint: pass a value strictly inside the support; the store keeps "
        "transform_to(constraint).inv(value)."
    )
    with torch.no_grad():
        try:
            in_support = bool(constraint.check(value).all())
            unconstrained = transform.inv(value)
        except (RuntimeError, IndexError, ValueError) as exc:
            exc.add_note(
                f"while setting param {name!r} with constraint {constraint!r} "
                f"to a value of shape {tuple(value.shape)}"
            )
            raise
        if not (unconstrained.is_floating_point() or unconstrained.is_complex()):
            raise SiteError(
                f"param {name!r}: params must be floating point, got dtype {unconstrained.dtype}. "
                "Hint: write torch.tensor(1.0) rather than torch.tensor(1)."
            )
        if not bool(torch.isfinite(unconstrained).all()):
            where = (
                "it is on the boundary of the support"
                if in_support
                else f"it is outside the support of {constraint!r}"
            )
            raise SiteError(
                f"param {name!r}: value {_summary(value)} is outside the support of "
                f"{constraint!r} or on its boundary: it maps to a non-finite unconstrained "
                f"value ({where}). {hint}"
            )
    if unconstrained is value and value.is_leaf and value.requires_grad:
        # The caller's own trainable leaf (e.g. an nn.Parameter registered by
        # ``module``) is kept by identity, so optimizing the store trains the module.
        return value
    # Anything else becomes a private copy: the caller's tensor (maybe a data set)
    # is never made trainable or updated in place by an optimizer.
    return unconstrained.detach().clone(memory_format=torch.contiguous_format).requires_grad_(True)


def constrain(unconstrained: torch.Tensor, constraint: Constraint) -> torch.Tensor:
    """The constrained value of a leaf, with ``.unconstrained()`` returning the leaf.

    :param unconstrained: the stored leaf.
    :param constraint: its constraint.
    :returns: ``transform_to(constraint)(unconstrained)``; the leaf itself when the
        transform is the identity (``constraints.real``).

    >>> import torch
    >>> from torch.distributions import constraints
    >>> leaf = torch.zeros(2, requires_grad=True)
    >>> constrain(leaf, constraints.real) is leaf, constrain(leaf, constraints.positive).tolist()
    (True, [1.0, 1.0])
    """
    value = transform_to(constraint)(unconstrained)
    if value is unconstrained:
        # Attach once: the leaf lives in the store and is handed out repeatedly.
        if not isinstance(unconstrained.__dict__.get("unconstrained"), _UnconstrainedRef):
            setattr(unconstrained, "unconstrained", _UnconstrainedRef.to_self(unconstrained))  # noqa: B010
    else:
        setattr(value, "unconstrained", _UnconstrainedRef(unconstrained))  # noqa: B010
    return value
