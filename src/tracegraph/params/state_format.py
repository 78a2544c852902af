"""Param-store state dicts and the payload a param-store file holds.

A *state* is ``{"params": {name: unconstrained tensor}, "constraints": {name:
constraint}}`` (Pyro's shape). A *payload* is what a file holds: plain
containers, strings, numbers and tensors only, so that no class is ever
unpickled to read it (see :mod:`tracegraph.params.param_file`). Version 2::

    {"format": "tracegraph.ParamStoreDict", "version": 2,
     "params": {name: tensor}, "constraints": {name: descriptor},
     "digests": {name: "sha256:<hex>"}, "record_digest": "sha256:<hex>"}

Descriptors come from :mod:`tracegraph.params.constraint_codec`. Each entry of
``"digests"`` (:func:`tensor_digest`) covers one tensor's dtype, shape and bytes,
so a damaged tensor is reported by its param's name; ``"record_digest"``
(:func:`~tracegraph.params.payload_digest.payload_digest`) covers everything
else the payload says too -- the format marker and version, every name, every
constraint descriptor, the set and order of entries, the per-tensor digests and
each tensor's layout -- so damage anywhere is refused instead of loading other
contents (the zip archive ``torch.save`` writes has no checksum that
``torch.load`` checks).

Version 1 files (written before the record digest existed) still load: their
``"version"`` says which checks apply, and a version-2 file damaged into looking
like version 1 is still refused, because it keeps its ``"record_digest"`` key,
which version 1 never has. They are checked as before, their tensors against
their digests (if they have any), but their names and constraints cannot be
checked; saving them again writes version 2.

>>> import torch
>>> from torch.distributions import constraints
>>> payload = to_payload({"s": torch.zeros(2)}, {"s": constraints.positive})
>>> payload["constraints"], payload["version"]
({'s': {'name': 'positive'}}, 2)
>>> tensor, constraint = from_payload(payload)["s"]
>>> constraint is constraints.positive, tensor.tolist()
(True, [0.0, 0.0])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch.distributions import constraints
from torch.distributions.constraints import Constraint

from tracegraph.errors import MalformedParamFileError, ParamFileError, SiteError
from tracegraph.params.constrained_value import check_name, transform_for
from tracegraph.params.constraint_codec import decode_constraint, encode_constraint
from tracegraph.params.payload_digest import payload_digest, tensor_digest

__all__ = [
    "check_state",
    "from_payload",
    "tensor_digest",
    "to_payload",
]

_FORMAT = "tracegraph.ParamStoreDict"
_VERSION = 2
# version -> (keys a payload must have, keys it may have)
_KEYS = {
    1: (
        {"format", "version", "params", "constraints"},
        {"format", "version", "params", "constraints", "digests"},
    ),
    2: (
        {"format", "version", "params", "constraints", "digests", "record_digest"},
        {"format", "version", "params", "constraints", "digests", "record_digest"},
    ),
}


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
    # (or leaks) bytes of a larger tensor. A copy is bitwise equal. Conjugate and
    # negative views are resolved first, so the tensor saved is the one digested.
    tensor = tensor.detach().resolve_conj().resolve_neg()
    exact = (
        tensor.storage_offset() == 0
        and tensor.is_contiguous()
        and tensor.untyped_storage().nbytes() == tensor.numel() * tensor.element_size()
    )
    return tensor if exact else tensor.clone(memory_format=torch.contiguous_format)


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
    digest_of = _DigestCache()
    payload: dict[str, Any] = {
        "format": _FORMAT,
        "version": _VERSION,
        "params": tensors,
        "constraints": encoded,
        "digests": {name: digest_of(tensor) for name, tensor in tensors.items()},
    }
    payload["record_digest"] = payload_digest(payload, digest_of)
    return payload


class _DigestCache:
    # tensor_digest, computed once per tensor object, so checking the per-tensor
    # digests and then the record digest hashes each tensor's bytes only once.
    def __init__(self) -> None:
        self._known: dict[int, tuple[torch.Tensor, str]] = {}

    def __call__(self, tensor: torch.Tensor) -> str:
        known = self._known.get(id(tensor))
        if known is None or known[0] is not tensor:
            known = self._known[id(tensor)] = (tensor, tensor_digest(tensor))
        return known[1]


def _check_tensor_digests(
    params: dict[Any, Any], digests: Any, source: str, digest_of: Callable[[torch.Tensor], str]
) -> None:
    if type(digests) is not dict or set(digests) != set(params):
        raise ParamFileError(
            f"{source}: malformed param-store file: 'digests' must name the same params as "
            "'params' (the file is damaged); nothing was loaded"
        )
    for name, tensor in params.items():
        if type(tensor) is not torch.Tensor:
            raise ParamFileError(
                f"{source}: param {name!r}: expected a tensor, got {type(tensor).__name__} "
                "(the file is damaged); nothing was loaded"
            )
        if digest_of(tensor) != digests[name]:
            raise ParamFileError(
                f"{source}: param {name!r}: the tensor's dtype, shape or bytes do not match "
                "the digest recorded when the file was saved, so the file is damaged; "
                "nothing was loaded. Hint: load an intact copy of the checkpoint"
            )


def _check_record_digest(
    payload: dict[str, Any], source: str, digest_of: Callable[[torch.Tensor], str]
) -> None:
    recorded = payload["record_digest"]
    body = {key: value for key, value in payload.items() if key != "record_digest"}
    try:
        actual = payload_digest(body, digest_of)
    except ParamFileError as exc:
        raise ParamFileError(f"{source}: {exc} (the file is damaged); nothing was loaded") from exc
    if type(recorded) is not str or actual != recorded:
        raise ParamFileError(
            f"{source}: the record digest does not match the file's contents: its param "
            "names, constraints or set of entries differ from what was saved, so the file "
            "is damaged; nothing was loaded. Hint: load an intact copy of the checkpoint"
        )


def from_payload(
    payload: Any, source: str = "param-store file"
) -> dict[str, tuple[torch.Tensor, Constraint]]:
    """Verify a loaded payload and pair each tensor with its decoded constraint.

    Every check runs before anything is returned, and any failure, expected or
    not, is a :class:`~tracegraph.errors.ParamFileError` naming ``source``.

    :param source: how errors name the file.
    :raises MalformedParamFileError: (also a ``SiteError``) if the payload is not
        a param-store payload of a known version, is malformed, or names a
        constraint this process cannot rebuild.
    :raises ParamFileError: if a tensor does not match its digest (naming the
        param) or the record does not match the record digest.

    >>> from_payload({"weights": []}, "param-store file 'w.pt'")
    Traceback (most recent call last):
    ...
    tracegraph.errors.MalformedParamFileError: param-store file 'w.pt' is not a tracegraph...
    """
    try:
        return _from_payload(payload, source)
    except ParamFileError:
        raise
    except SiteError as exc:
        # Decoding errors come after the digests matched: the file is intact but
        # uses something (a constraint type) this process has not registered.
        raise MalformedParamFileError(f"{source}: {exc}") from exc
    except Exception as exc:
        raise ParamFileError(
            f"{source} could not be loaded ({type(exc).__name__}: {exc}); it is damaged or "
            "was not written by ParamStoreDict.save(); nothing was loaded"
        ) from exc


def _from_payload(payload: Any, source: str) -> dict[str, tuple[torch.Tensor, Constraint]]:
    marker = payload.get("format") if type(payload) is dict else None
    if type(marker) is not str or marker != _FORMAT:
        raise MalformedParamFileError(
            f"{source} is not a tracegraph param-store file (no 'format' marker). Hint: files "
            "written by ParamStoreDict.save() load here; Pyro's pickled files are refused for "
            "safety."
        )
    version = payload.get("version")
    if type(version) is not int or version not in _KEYS:
        raise MalformedParamFileError(
            f"{source}: unsupported param-store file version {version!r}; this version of "
            f"tracegraph reads versions {sorted(_KEYS)} (the file was written by a newer one, "
            "or it is damaged)"
        )
    required, allowed = _KEYS[version]
    if not required <= set(payload) <= allowed:
        raise MalformedParamFileError(
            f"{source}: malformed param-store file of version {version}: expected keys "
            f"{sorted(required)}, got {sorted(map(str, payload))}"
        )
    params, cons = payload["params"], payload["constraints"]
    if type(params) is not dict or type(cons) is not dict or set(params) != set(cons):
        raise MalformedParamFileError(
            f"{source}: malformed param-store file: 'params' and 'constraints' must name "
            "the same params"
        )
    digest_of = _DigestCache()
    if "digests" in payload:  # version 1 files written before digests have none
        _check_tensor_digests(params, payload["digests"], source, digest_of)
    if version >= 2:
        _check_record_digest(payload, source, digest_of)
    entries = {}
    for name, tensor in params.items():
        check_name(name)
        if not isinstance(tensor, torch.Tensor) or not (
            tensor.is_floating_point() or tensor.is_complex()
        ):
            raise MalformedParamFileError(
                f"{source}: param {name!r}: expected a floating-point tensor in the file, "
                f"got {type(tensor).__name__}"
                + (f" of dtype {tensor.dtype}" if isinstance(tensor, torch.Tensor) else "")
            )
        constraint = decode_constraint(cons[name], name)
        transform_for(name, constraint)
        entries[name] = (tensor, constraint)
    return entries
