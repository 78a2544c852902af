"""Param-store state dicts and the safe on-disk format.

A *state* is ``{"params": {name: unconstrained tensor}, "constraints": {name:
constraint}}`` (Pyro's shape). A *file* holds a payload of plain containers,
strings, numbers and tensors only, so ``torch.load(..., weights_only=True)`` reads
it and no class is ever unpickled::

    {"format": "tracegraph.ParamStoreDict", "version": 1,
     "params": {name: tensor}, "constraints": {name: descriptor}}

where descriptors come from :mod:`tracegraph.params.constraint_codec`.

>>> import torch
>>> from torch.distributions import constraints
>>> payload = to_payload({"s": torch.zeros(2)}, {"s": constraints.positive})
>>> payload["constraints"]
{'s': {'name': 'positive'}}
>>> tensor, constraint = from_payload(payload)["s"]
>>> constraint is constraints.positive, tensor.tolist()
(True, [0.0, 0.0])
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import IO, Any

import torch
from torch.distributions import constraints
from torch.distributions.constraints import Constraint

from tracegraph.errors import SiteError
from tracegraph.params.constrained_value import check_name, transform_for
from tracegraph.params.constraint_codec import decode_constraint, encode_constraint

__all__ = ["FileLike", "check_state", "from_payload", "read_file", "to_payload", "write_file"]

FileLike = str | os.PathLike[str] | IO[bytes]

_FORMAT = "tracegraph.ParamStoreDict"
_VERSION = 1


def check_state(state: Any) -> dict[str, tuple[torch.Tensor, Constraint]]:
    """Validate a state dict and pair each tensor with its constraint.

    A missing constraint means ``constraints.real``; any instance of the ``real``
    class becomes the singleton, so ``constraint is constraints.real`` holds.

    :raises SiteError: if the state is malformed.

    >>> import torch
    >>> check_state({"params": {"a": torch.zeros(1)}})["a"][1] is constraints.real
    True
    """
    if (
        not isinstance(state, Mapping)
        or "params" not in state
        or not set(state) <= {"params", "constraints"}
    ):
        keys = sorted(state) if isinstance(state, Mapping) else type(state).__name__
        raise SiteError(
            f"malformed param-store state: expected keys 'params' and 'constraints', got {keys}"
        )
    params, cons = state["params"], state.get("constraints", {})
    if not isinstance(params, Mapping) or not isinstance(cons, Mapping):
        raise SiteError("malformed param-store state: 'params' and 'constraints' must be dicts")
    extra = set(cons) - set(params)
    if extra:
        raise SiteError(
            f"malformed param-store state: constraints for missing params {sorted(extra)}"
        )
    entries = {}
    for name, tensor in params.items():
        check_name(name)
        constraint = cons.get(name, constraints.real)
        if not isinstance(tensor, torch.Tensor) or not (
            tensor.is_floating_point() or tensor.is_complex()
        ):
            raise SiteError(
                f"param {name!r}: expected a floating-point tensor in the state, got {tensor!r}"
            )
        if not isinstance(constraint, Constraint):
            raise SiteError(
                f"param {name!r}: expected a Constraint in the state, got {constraint!r}"
            )
        if type(constraint) is type(constraints.real):
            constraint = constraints.real  # canonical, as ParamStoreDict stores it
        transform_for(name, constraint)
        entries[name] = (tensor, constraint)
    return entries


def _compact(tensor: torch.Tensor) -> torch.Tensor:
    # torch.save writes a view's whole storage; copy views so a file never carries
    # (or leaks) bytes of a larger tensor. A copy is bitwise equal.
    tensor = tensor.detach()
    exact = (
        tensor.storage_offset() == 0
        and tensor.untyped_storage().nbytes() == tensor.numel() * tensor.element_size()
    )
    return tensor if exact else tensor.clone()


_PLAIN_ATOMS = (str, int, float, complex, bytes, type(None))


def _is_plain(name: Any) -> bool:
    # What torch.load(weights_only=True) reads back as it was written (bool is an int).
    if isinstance(name, tuple):
        return all(_is_plain(part) for part in name)
    return type(name) in _PLAIN_ATOMS or type(name) is bool


def to_payload(
    params: Mapping[str, torch.Tensor], cons: Mapping[str, Constraint]
) -> dict[str, Any]:
    """The weights-only-loadable payload for params and their constraints.

    :raises SiteError: naming the param, if a constraint has no safe encoding
        (raised before anything is written).

    >>> import torch
    >>> to_payload({"x": torch.zeros(1)}, {})
    Traceback (most recent call last):
    ...
    tracegraph.errors.SiteError: param 'x' has no constraint
    """
    for name in params:
        if name not in cons:
            raise SiteError(f"param {name!r} has no constraint")
        if not _is_plain(name):
            raise SiteError(
                f"param {name!r}: a name of type {type(name).__name__} cannot be saved in the "
                "safe format; hint: names may be str, int, float, bool, None, bytes or tuples "
                "of those"
            )
    encoded = {name: encode_constraint(cons[name], name) for name in params}
    tensors = {name: _compact(tensor) for name, tensor in params.items()}
    return {"format": _FORMAT, "version": _VERSION, "params": tensors, "constraints": encoded}


def from_payload(payload: Any) -> dict[str, tuple[torch.Tensor, Constraint]]:
    """Validate a loaded payload and pair each tensor with its decoded constraint.

    :raises SiteError: if the payload is not a param-store file of a known version,
        or is malformed.

    >>> from_payload({"weights": []})
    Traceback (most recent call last):
    ...
    tracegraph.errors.SiteError: not a tracegraph param-store file...
    """
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
        raise SiteError(
            "not a tracegraph param-store file (no 'format' marker). Hint: files written by "
            "ParamStoreDict.save() load here; Pyro's pickled files are refused for safety."
        )
    if payload.get("version") != _VERSION:
        raise SiteError(
            f"unsupported param-store file version {payload.get('version')!r}; expected {_VERSION}"
        )
    params, cons = payload.get("params"), payload.get("constraints")
    if not isinstance(params, dict) or not isinstance(cons, dict) or set(params) != set(cons):
        raise SiteError(
            "malformed param-store file: 'params' and 'constraints' must name the same params"
        )
    entries = {}
    for name, tensor in params.items():
        check_name(name)
        if not isinstance(tensor, torch.Tensor) or not (
            tensor.is_floating_point() or tensor.is_complex()
        ):
            raise SiteError(
                f"param {name!r}: expected a floating-point tensor in the file, got {type(tensor)}"
            )
        constraint = decode_constraint(cons[name], name)
        transform_for(name, constraint)
        entries[name] = (tensor, constraint)
    return entries


def write_file(payload: dict[str, Any], filename: FileLike) -> None:
    """``torch.save`` the payload; a path is written atomically (temp file + rename).

    >>> import io, torch
    >>> buffer = io.BytesIO(); write_file({"a": torch.zeros(1)}, buffer); buffer.tell() > 0
    True
    """
    if not isinstance(filename, str | os.PathLike):
        torch.save(payload, filename)
        return
    # A crash mid-write must not destroy the previous checkpoint at this path.
    path = os.fspath(filename)
    tmp = f"{path}.tmp-{os.getpid()}-{threading.get_ident()}"
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read_file(
    filename: FileLike, map_location: Any = None
) -> dict[str, tuple[torch.Tensor, Constraint]]:
    """Read a param-store file without unpickling any class (``weights_only=True``).

    :returns: name -> (fresh tensor, constraint).
    :raises pickle.UnpicklingError: if the file holds anything but plain data.
    :raises SiteError: if the data is not a valid param-store payload.

    >>> import io, pickle
    >>> read_file(io.BytesIO(pickle.dumps(print, protocol=2)))
    Traceback (most recent call last):
    ...
    _pickle.UnpicklingError: Weights only load failed...
    """
    return from_payload(torch.load(filename, map_location=map_location, weights_only=True))
