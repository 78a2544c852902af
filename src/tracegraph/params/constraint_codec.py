"""Safe, exact encoding of ``torch.distributions`` constraints for param-store files.

Constraint objects are class instances, and storing them by pickling would force
``torch.load`` to construct arbitrary classes, which is how a malicious checkpoint
runs code. Instead each constraint is written as a *descriptor* built only from
``dict``, ``list``, ``str``, ``bool``, ``int``, ``float``, ``None`` and tensors -- the
types ``torch.load(..., weights_only=True)`` accepts -- and rebuilt from a closed
table of known constraint types. The grammar::

    descriptor := {"name": <registered singleton name>}
                | {"type": <registered type name>, "args": [arg, ...]}
    arg        := None | bool | int | float | Tensor | [arg, ...] | {"constraint": descriptor}

Singletons (``constraints.positive`` ...) decode to the very same object, so code
that tests ``constraint is constraints.positive`` keeps working after a reload.
Parametrized constraints decode to a new instance of the same class with the same
parameters (floats are stored as Python floats, tensors bitwise).

Extra constraints (for example ones ``tracegraph.distributions.constraints`` adds)
become saveable with :func:`register_constraint` and :func:`register_constraint_type`.

>>> from torch.distributions import constraints
>>> desc = encode_constraint(constraints.interval(0.0, 2.5))
>>> desc
{'type': 'interval', 'args': [0.0, 2.5]}
>>> decode_constraint(desc)
Interval(lower_bound=0.0, upper_bound=2.5)
>>> decode_constraint(encode_constraint(constraints.positive)) is constraints.positive
True
"""

from __future__ import annotations

import numbers
from typing import Any

import torch
from torch.distributions import constraints
from torch.distributions.constraints import Constraint

from tracegraph.errors import SiteError

__all__ = [
    "decode_constraint",
    "encode_constraint",
    "register_constraint",
    "register_constraint_type",
]

# name -> singleton instance, and type name -> (exact class, constructor argument
# names, each also an attribute of the instance).
_SINGLETONS: dict[str, Constraint] = {}
_TYPES: dict[str, tuple[type[Constraint], tuple[str, ...]]] = {}


def register_constraint(name: str, constraint: Constraint) -> None:
    """Make the singleton ``constraint`` saveable under ``name``.

    Saving matches singletons by identity, and loading returns the same object.

    :param name: a name unique among registered singletons and types.
    :param constraint: the constraint instance.
    :raises SiteError: if ``name`` is already registered for an object of another class.

    >>> from torch.distributions import constraints
    >>> register_constraint("my_positive", constraints.positive)
    >>> encode_constraint(constraints.positive)  # the first registration wins
    {'name': 'positive'}
    >>> decode_constraint({"name": "my_positive"}) is constraints.positive
    True
    """
    if not isinstance(constraint, Constraint):
        raise SiteError(
            f"register_constraint({name!r}, ...) expects a Constraint instance, got {constraint!r}"
        )
    known = _SINGLETONS.get(name)
    if (known is not None and not _same_class(type(known), type(constraint))) or name in _TYPES:
        raise SiteError(f"constraint name {name!r} is already registered; pick another name")
    _SINGLETONS[name] = constraint


def register_constraint_type(name: str, cls: type[Constraint], arg_names: tuple[str, ...]) -> None:
    """Make every instance of exactly ``cls`` saveable as ``cls(*args)``.

    :param name: a name unique among registered singletons and types.
    :param cls: the constraint class; subclasses are not covered (register them too).
    :param arg_names: the constructor's positional argument names, in order; each
        must also be an attribute holding that argument on the instance.
    :raises SiteError: if ``name`` is already registered for another class.

    >>> from torch.distributions import constraints
    >>> class AtLeastTwo(constraints._GreaterThan):
    ...     pass
    >>> register_constraint_type("at_least_two_doc", AtLeastTwo, ("lower_bound",))
    >>> encode_constraint(AtLeastTwo(2.0))
    {'type': 'at_least_two_doc', 'args': [2.0]}
    """
    known = _TYPES.get(name)
    if (known is not None and not _same_class(known[0], cls)) or name in _SINGLETONS:
        raise SiteError(f"constraint type name {name!r} is already registered; pick another name")
    _TYPES[name] = (cls, tuple(arg_names))


def _same_class(a: type, b: type) -> bool:
    # Re-running a definition (notebook cell, importlib.reload) creates a new class
    # object with the same name; re-registering it must replace, not fail.
    return (a.__module__, a.__qualname__) == (b.__module__, b.__qualname__)


# Only constraints that ``transform_to`` can map onto are listed: a param needs a
# bijection from unconstrained space, so discrete ones (boolean, integer_interval,
# ...) can never be in a param store and would be dead entries here.
for _name in (
    "real",
    "real_vector",
    "positive",
    "nonnegative",
    "unit_interval",
    "simplex",
    "lower_cholesky",
    "corr_cholesky",
    "positive_definite",
    "positive_semidefinite",
):
    if isinstance(getattr(constraints, _name, None), Constraint):
        register_constraint(_name, getattr(constraints, _name))

for _name, _cls, _args in (
    ("greater_than", constraints._GreaterThan, ("lower_bound",)),
    ("greater_than_eq", constraints._GreaterThanEq, ("lower_bound",)),
    ("less_than", constraints._LessThan, ("upper_bound",)),
    ("interval", constraints._Interval, ("lower_bound", "upper_bound")),
    ("half_open_interval", constraints._HalfOpenInterval, ("lower_bound", "upper_bound")),
    (
        "independent",
        constraints._IndependentConstraint,
        ("base_constraint", "reinterpreted_batch_ndims"),
    ),
    ("cat", constraints._Cat, ("cseq", "dim", "lengths")),
    ("stack", constraints._Stack, ("cseq", "dim")),
):
    register_constraint_type(_name, _cls, _args)


def encode_constraint(constraint: Constraint, site: str = "<constraint>") -> dict[str, Any]:
    """Encode ``constraint`` as a descriptor that ``weights_only`` loading accepts.

    :param constraint: the constraint to encode.
    :param site: the param name, used in error messages.
    :returns: a descriptor (see the module docstring).
    :raises SiteError: if the constraint (or a nested one, or one of its
        parameters) has no registered encoding.

    >>> from torch.distributions import constraints
    >>> encode_constraint(constraints.independent(constraints.positive, 1))
    {'type': 'independent', 'args': [{'constraint': {'name': 'positive'}}, 1]}
    """
    for name, known in _SINGLETONS.items():
        if constraint is known:
            return {"name": name}
    for name, known in _SINGLETONS.items():
        # A fresh instance of a parameterless singleton class (``_Simplex()``) is
        # interchangeable with the singleton.
        if type(constraint) is type(known) and not vars(constraint) and not vars(known):
            return {"name": name}
    for name, (cls, arg_names) in _TYPES.items():
        if type(constraint) is cls:
            args = [_encode_arg(getattr(constraint, a), site, constraint) for a in arg_names]
            return {"type": name, "args": args}
    raise SiteError(
        f"param {site!r}: cannot save constraint {constraint!r} of type "
        f"{type(constraint).__qualname__}: it has no safe encoding. Hint: register it with "
        "tracegraph.params.register_constraint(name, instance) or "
        "tracegraph.params.register_constraint_type(name, cls, arg_names)."
    )


def _encode_arg(value: Any, site: str, owner: Constraint) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, Constraint):
        return {"constraint": encode_constraint(value, site)}
    if isinstance(value, list | tuple):
        return [_encode_arg(v, site, owner) for v in value]
    # Numpy scalars are not weights_only-loadable; int()/float() keep the value exactly.
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    raise SiteError(
        f"param {site!r}: cannot save constraint {owner!r}: parameter {value!r} of type "
        f"{type(value).__qualname__} is not a number, tensor, list or constraint"
    )


def decode_constraint(descriptor: Any, site: str = "<constraint>") -> Constraint:
    """Rebuild a constraint from :func:`encode_constraint`'s descriptor.

    Only registered singletons and types are ever constructed, so a descriptor from
    an untrusted file cannot run code.

    :param descriptor: the descriptor.
    :param site: the param name, used in error messages.
    :returns: the constraint.
    :raises SiteError: if the descriptor is malformed or names an unknown constraint.

    >>> decode_constraint({"type": "greater_than", "args": [1.5]})
    GreaterThan(lower_bound=1.5)
    """
    if isinstance(descriptor, dict) and set(descriptor) == {"name"}:
        known = _SINGLETONS.get(descriptor["name"])  # type: ignore[arg-type]
        if known is None:
            raise SiteError(
                f"param {site!r}: unknown constraint {descriptor['name']!r} in the file. "
                "Hint: register it (tracegraph.params.register_constraint) before loading."
            )
        return known
    if isinstance(descriptor, dict) and set(descriptor) == {"type", "args"}:
        entry = _TYPES.get(descriptor["type"])  # type: ignore[arg-type]
        args = descriptor["args"]
        if entry is None or not isinstance(args, list) or len(args) != len(entry[1]):
            raise SiteError(
                f"param {site!r}: unknown constraint type {descriptor['type']!r} or wrong "
                f"number of arguments in the file. Hint: register the type "
                "(tracegraph.params.register_constraint_type) before loading."
            )
        decoded = [_decode_arg(a, site) for a in args]
        try:
            return entry[0](*decoded)
        except (AssertionError, TypeError, ValueError, RuntimeError) as exc:
            # torch's constructors validate with assert; report it as a bad file.
            raise SiteError(
                f"param {site!r}: invalid arguments {decoded!r} for {entry[0].__name__}"
            ) from exc
    raise SiteError(f"param {site!r}: malformed constraint descriptor {descriptor!r} in the file")


def _decode_arg(value: Any, site: str) -> Any:
    if value is None or isinstance(value, bool | int | float | str | torch.Tensor):
        return value
    if isinstance(value, list):
        return [_decode_arg(v, site) for v in value]
    if isinstance(value, dict) and set(value) == {"constraint"}:
        return decode_constraint(value["constraint"], site)
    raise SiteError(f"param {site!r}: malformed constraint argument {value!r} in the file")
