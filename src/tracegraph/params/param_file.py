"""Reading and writing param-store files safely.

A file is the zip archive ``torch.save`` writes for a payload of
:mod:`tracegraph.params.state_format`. Reading it never runs code the file
names and constructs nothing but tensors and plain containers. Two layers make
sure of that:

1. Before ``torch.load`` sees the file, its pickle (``data.pkl``, whose CRC-32
   the zip reader checks) is scanned opcode by opcode without being executed:
   the only globals it may name are the few functions and storage types with
   which ``torch.save`` writes a dense tensor, the opcodes that build objects
   of other kinds (``BUILD``, ``INST``, ``OBJ``, ``NEWOBJ`` ...) are refused,
   and so is any pickle protocol but 2 (the one :func:`write_file` uses).
   This holds whatever classes the process has allowlisted with
   ``torch.serialization.add_safe_globals``.
2. ``torch.load(..., weights_only=True)`` then reads it.

The payload is then verified against its digests
(:func:`~tracegraph.params.state_format.from_payload`). Any failure -- an
unreadable archive, a refused pickle, a digest mismatch, or an exception of
any other type raised by the zip reader, the unpickler or torch -- becomes a
:class:`~tracegraph.errors.ParamFileError` naming the file (the original
chained), and nothing is returned.

>>> import io, torch
>>> from torch.distributions import constraints
>>> from tracegraph.params.state_format import to_payload
>>> buffer = io.BytesIO()
>>> write_file(to_payload({"s": torch.ones(2)}, {"s": constraints.positive}), buffer)
>>> _ = buffer.seek(0)
>>> tensor, constraint = read_file(buffer)["s"]
>>> tensor.tolist(), constraint is constraints.positive
([1.0, 1.0], True)
"""

from __future__ import annotations

import io
import os
import pickle
import pickletools
import threading
import zipfile
from typing import IO, Any

import torch
from torch.distributions.constraints import Constraint

from tracegraph.errors import ParamFileError, TruncatedParamFileError, UnsafeParamFileError
from tracegraph.params.state_format import from_payload

__all__ = ["FileLike", "read_file", "write_file"]

FileLike = str | os.PathLike[str] | IO[bytes]

_ZIP_MAGIC = b"PK\x03\x04"
# The pickle protocol of every param-store file (torch.save's default, pinned).
_PROTOCOL = 2

# The globals torch.save names when it pickles dense tensors, and nothing else.
_DENSE_STORAGES = (
    "Float", "Double", "Half", "BFloat16", "ComplexFloat", "ComplexDouble",
    "Bool", "Byte", "Char", "Short", "Int", "Long",
)  # fmt: skip
_ALLOWED_GLOBALS = frozenset(
    {
        "torch._utils _rebuild_tensor_v2",
        "torch._utils _rebuild_tensor_v3",  # dtypes with no legacy storage class
        "torch.storage UntypedStorage",
        "collections OrderedDict",  # a tensor's (empty) backward hooks
    }
    | {f"torch {kind}Storage" for kind in _DENSE_STORAGES}
    | {f"torch {name}" for name, value in vars(torch).items() if isinstance(value, torch.dtype)}
)
# Opcodes that find or build objects other than plain containers: never needed.
_REFUSED_OPCODES = frozenset(
    {"STACK_GLOBAL", "INST", "OBJ", "NEWOBJ", "NEWOBJ_EX", "BUILD", "PERSID", "EXT1", "EXT2",
     "EXT4"}
)  # fmt: skip


def write_file(payload: dict[str, Any], filename: FileLike) -> None:
    """``torch.save`` the payload; a path is written atomically (temp file + rename).

    >>> import io, torch
    >>> buffer = io.BytesIO(); write_file({"a": torch.zeros(1)}, buffer); buffer.tell() > 0
    True
    """
    if not isinstance(filename, str | os.PathLike):
        torch.save(payload, filename, pickle_protocol=_PROTOCOL)
        return
    # A crash mid-write must not destroy the previous checkpoint at this path.
    path = os.fspath(filename)
    tmp = f"{path}.tmp-{os.getpid()}-{threading.get_ident()}"
    try:
        torch.save(payload, tmp, pickle_protocol=_PROTOCOL)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def describe(filename: FileLike) -> str:
    """How messages name a file: its path, a file object's ``name``, or neither.

    >>> describe("ckpt.pt")
    "param-store file 'ckpt.pt'"
    >>> import io
    >>> describe(io.BytesIO())
    'param-store file object'
    """
    if isinstance(filename, str | os.PathLike):
        return f"param-store file {os.fspath(filename)!r}"
    name = getattr(filename, "name", None)
    return f"param-store file {name!r}" if isinstance(name, str) else "param-store file object"


def read_file(
    filename: FileLike, map_location: Any = None
) -> dict[str, tuple[torch.Tensor, Constraint]]:
    """Read and verify a param-store file without running any code it names.

    :param filename: a path, or a readable binary file object (read from its
        current position to the end).
    :param map_location: as for ``torch.load``.
    :returns: name -> (fresh tensor, constraint).
    :raises FileNotFoundError: if the path does not exist.
    :raises ParamFileError: naming the file (and the param, when one tensor is
        damaged) for every other failure. Its subclasses keep the types such
        files raised before: :class:`~tracegraph.errors.TruncatedParamFileError`
        (an ``EOFError``) for an empty file,
        :class:`~tracegraph.errors.UnsafeParamFileError` (a
        ``pickle.UnpicklingError``) for a file that is not plain data, and
        :class:`~tracegraph.errors.MalformedParamFileError` (a ``SiteError``)
        for plain data that is not a param-store payload.

    >>> import io, pickle
    >>> read_file(io.BytesIO(pickle.dumps(print, protocol=2)))
    Traceback (most recent call last):
    ...
    tracegraph.errors.UnsafeParamFileError: param-store file object is not the zip archive...
    >>> read_file(io.BytesIO(b""))
    Traceback (most recent call last):
    ...
    tracegraph.errors.TruncatedParamFileError: param-store file object is empty...
    """
    source = describe(filename)
    if isinstance(filename, str | os.PathLike):
        try:
            with open(filename, "rb") as f:
                # One open file for the scan and the load: what is scanned is loaded.
                payload = _load(f, source, map_location)
        except (FileNotFoundError, ParamFileError):
            raise
        except (OSError, ValueError) as exc:  # (ValueError: a NUL in the path)
            raise ParamFileError(f"{source} cannot be opened: {_reason(exc)}") from exc
    else:
        try:
            data = filename.read()
        except Exception as exc:
            raise ParamFileError(f"{source} cannot be read: {_reason(exc)}") from exc
        if not isinstance(data, bytes | bytearray):
            raise ParamFileError(
                f"{source} is not a binary file object (read() returned "
                f"{type(data).__name__}); hint: open the file with mode 'rb'"
            )
        payload = _load(io.BytesIO(data), source, map_location)
    return from_payload(payload, source)


def _load(f: IO[bytes], source: str, map_location: Any) -> Any:
    try:
        head = f.read(len(_ZIP_MAGIC))
        f.seek(0)
        if not head:
            raise TruncatedParamFileError(
                f"{source} is empty (truncated or damaged); hint: was it copied or written "
                "completely?"
            )
        if head != _ZIP_MAGIC:
            if _ZIP_MAGIC.startswith(head):
                raise TruncatedParamFileError(
                    f"{source} ends after {len(head)} bytes (truncated or damaged); hint: was "
                    "it copied or written completely?"
                )
            raise UnsafeParamFileError(
                f"{source} is not the zip archive ParamStoreDict.save() writes (it may be a "
                "bare pickle, another format or a damaged copy), so it was refused unread; "
                "do not load it with weights_only=False unless you trust where it came from"
            )
        _scan_archive(f, source)
        f.seek(0)
        return torch.load(f, map_location=map_location, weights_only=True)
    except ParamFileError:
        raise
    except pickle.UnpicklingError as exc:
        raise UnsafeParamFileError(
            f"{source} holds something other than plain data and tensors "
            f"({_reason(exc)}), so it was not written by ParamStoreDict.save() or it is "
            "damaged; nothing was loaded"
        ) from exc
    except Exception as exc:
        raise ParamFileError(
            f"{source} is not a readable param-store archive (truncated or damaged: "
            f"{_reason(exc)}); hint: files written by ParamStoreDict.save() load here, "
            "a damaged copy does not"
        ) from exc


def _scan_archive(f: IO[bytes], source: str) -> None:
    try:
        archive = zipfile.ZipFile(f)
    except zipfile.BadZipFile as exc:
        raise ParamFileError(
            f"{source} is truncated or damaged: it starts as a zip archive but is not a "
            f"complete one ({_reason(exc)}); hint: was it copied or written completely?"
        ) from exc
    with archive:
        infos = archive.infolist()
        names = [info.filename for info in infos]
        if not names or len(set(names)) != len(names):
            raise ParamFileError(
                f"{source} is damaged: its zip archive has no entries or repeats one"
            )
        # torch reads the records under the first entry's directory.
        pickle_name = f"{names[0].split('/', 1)[0]}/data.pkl"
        if pickle_name not in names:
            raise ParamFileError(f"{source} is damaged: its archive has no {pickle_name!r}")
        for info in infos:
            if "/data/" not in info.filename:  # not a tensor: small, read to check its CRC-32
                try:
                    data = archive.read(info)
                except zipfile.BadZipFile as exc:
                    raise ParamFileError(
                        f"{source} is damaged: its record {info.filename!r} fails the zip "
                        f"archive's check ({_reason(exc)}); nothing was loaded"
                    ) from exc
                if info.filename == pickle_name:
                    pickled = data
    _scan_pickle(pickled, source)


def _scan_pickle(pickled: bytes, source: str) -> None:
    # pickletools only parses: nothing named in the stream is imported or called.
    for opcode, arg, _ in pickletools.genops(pickled):
        refused = (
            opcode.name in _REFUSED_OPCODES
            or (opcode.name == "GLOBAL" and arg not in _ALLOWED_GLOBALS)
            or (opcode.name == "PROTO" and arg != _PROTOCOL)
        )
        if refused:
            what = (
                f"pickles the global {arg!r}"
                if opcode.name == "GLOBAL"
                else f"uses pickle protocol {arg!r}"
                if opcode.name == "PROTO"
                else f"uses the pickle opcode {opcode.name}"
            )
            raise UnsafeParamFileError(
                f"{source} {what}, which a param-store file never does: it was not written "
                "by ParamStoreDict.save() (Pyro's files pickle constraint objects) or it is "
                "damaged, so it was refused unread and nothing was run; do not load it with "
                "weights_only=False unless you trust where it came from"
            )


def _reason(exc: BaseException) -> str:
    # What went wrong, in one clause, without torch's internal class names.
    text = str(exc).replace("PytorchStreamReader failed ", "").strip()
    text = text.split(". ")[0].rstrip(".")
    if isinstance(exc, RuntimeError) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
