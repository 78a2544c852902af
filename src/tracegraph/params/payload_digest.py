"""One digest over everything a param-store payload says.

Per-tensor digests (:func:`tensor_digest`) cover a
tensor's dtype, shape and bytes, but not the names the tensors are filed under,
the constraints paired with them or which entries exist: damage there (a renamed
key, a dropped entry, a constraint moved to another param) would load other
contents silently. :func:`payload_digest` closes that gap: it is one SHA-256
over a canonical serialization of the whole payload -- every key and value of
every container, in order, with each type tagged and each length prefixed so no
two different payloads serialize alike -- and of each tensor's dtype, shape,
bytes, strides, storage offset, ``requires_grad`` flag and which tensors share a
storage.

It detects damage, not forgery: anyone who can edit a file can recompute the
digest. That the loader never runs code is a separate guarantee (see
:mod:`tracegraph.params.param_file`).

>>> import torch
>>> one = {"params": {"a": torch.zeros(2)}, "constraints": {"a": {"name": "real"}}}
>>> payload_digest(one) == payload_digest(
...     {"params": {"a": torch.zeros(2)}, "constraints": {"a": {"name": "real"}}})
True
>>> payload_digest(one) == payload_digest(
...     {"params": {"b": torch.zeros(2)}, "constraints": {"b": {"name": "real"}}})
False
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from typing import Any

import torch

from tracegraph.errors import ParamFileError

__all__ = ["payload_digest", "tensor_digest"]


def tensor_digest(tensor: torch.Tensor) -> str:
    """A SHA-256 digest of a tensor's dtype, shape and bytes.

    >>> import torch
    >>> tensor_digest(torch.zeros(2)) == tensor_digest(torch.zeros(2))
    True
    >>> tensor_digest(torch.zeros(2)) == tensor_digest(torch.zeros(1, 2))
    False
    >>> tensor_digest(torch.zeros(()).expand(1)) == tensor_digest(torch.zeros(1))  # layout-free
    True
    """
    flat = tensor.detach().cpu().resolve_conj().resolve_neg().reshape(-1)
    if flat.numel() and flat.stride(0) != 1:
        # (.contiguous() keeps stride 0 on a size-1 dim, which a byte view refuses)
        flat = flat.clone(memory_format=torch.contiguous_format)
    digest = hashlib.sha256(f"{flat.dtype}|{tuple(tensor.shape)}|".encode())
    digest.update(flat.view(torch.uint8).numpy().tobytes())
    return f"sha256:{digest.hexdigest()}"


def payload_digest(
    payload: Any, digest_tensor: Callable[[torch.Tensor], str] = tensor_digest
) -> str:
    """A SHA-256 digest of a canonical serialization of ``payload``.

    :param payload: plain data: ``dict``, ``list``, ``tuple``, ``str``, ``bytes``,
        ``int``, ``float``, ``complex``, ``bool``, ``None`` and dense tensors
        (exact types only: a subclass is not what a file holds).
    :param digest_tensor: how a tensor's dtype, shape and bytes are digested
        (pass a caching function to hash each tensor's bytes only once).
    :returns: ``"sha256:<hex>"``.
    :raises ParamFileError: for any other object.

    >>> import torch
    >>> payload_digest({"x": 1}) == payload_digest({"x": 1.0})  # int and float differ
    False
    >>> t = torch.zeros(3)
    >>> payload_digest([t, t]) == payload_digest([t, t.clone()])  # shared storage differs
    False
    >>> payload_digest({"a": object()})
    Traceback (most recent call last):
    ...
    tracegraph.errors.ParamFileError: unexpected object of type object...
    """
    hasher = hashlib.sha256(b"tracegraph.payload_digest/1\0")
    _Serializer(hasher.update, digest_tensor).write(payload)
    return f"sha256:{hasher.hexdigest()}"


def _length(n: int) -> bytes:
    return n.to_bytes(8, "big")


class _Serializer:
    def __init__(self, emit: Callable[[bytes], None], tensor_digest: Callable[[torch.Tensor], str]):
        self._emit = emit
        self._tensor_digest = tensor_digest
        # storage (device, address) -> its ordinal, in order of first appearance.
        self._storages: dict[tuple[str, int], int] = {}

    def _text(self, tag: bytes, data: bytes) -> None:
        self._emit(tag + _length(len(data)) + data)

    def write(self, obj: Any) -> None:
        kind = type(obj)
        if obj is None:
            self._emit(b"N")
        elif kind is bool:
            self._emit(b"1" if obj else b"0")
        elif kind is int:
            self._text(b"i", str(obj).encode())
        elif kind is float:
            self._emit(b"f" + struct.pack(">d", obj))  # bitwise: -0.0 and NaNs differ
        elif kind is complex:
            self._emit(b"c" + struct.pack(">dd", obj.real, obj.imag))
        elif kind is str:
            # surrogatepass: any Python str, even one holding lone surrogates, is a name.
            self._text(b"s", obj.encode("utf-8", "surrogatepass"))
        elif kind is bytes:
            self._text(b"b", obj)
        elif kind in (list, tuple):
            self._emit((b"l" if kind is list else b"t") + _length(len(obj)))
            for item in obj:
                self.write(item)
        elif kind is dict:
            self._emit(b"d" + _length(len(obj)))
            for key, value in obj.items():
                self.write(key)
                self.write(value)
        elif kind is torch.Tensor and obj.layout == torch.strided and not obj.is_quantized:
            self._emit(b"T")
            self.write(
                (
                    self._tensor_digest(obj),
                    tuple(obj.stride()),
                    obj.storage_offset(),
                    obj.requires_grad,
                    self._storage_index(obj),
                )
            )
        else:
            raise ParamFileError(
                f"unexpected object of type {kind.__qualname__} (a param-store payload "
                "holds plain containers, numbers, strings and dense tensors only)"
            )

    def _storage_index(self, tensor: torch.Tensor) -> int | None:
        # Which earlier tensor (if any) shares this one's storage: a damaged
        # storage key could otherwise make two params alias one buffer unseen.
        storage = tensor.untyped_storage()
        if storage.nbytes() == 0:
            return None  # empty storages have no identity worth recording
        key = (str(tensor.device), storage.data_ptr())
        return self._storages.setdefault(key, len(self._storages))
