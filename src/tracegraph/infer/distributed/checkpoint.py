"""Checkpoints of a data-parallel job: rank 0 writes, every rank loads.

Every rank holds the same params and optimizer state, so one copy is enough:
:func:`save_checkpoint` writes on rank 0 only (call it on every rank or on rank
0 alone).  The file is written next to its destination, flushed to disk, and
renamed over it (``os.replace`` is atomic), so a job killed while saving leaves
the previous checkpoint whole -- never a half-written one.

:func:`load_checkpoint` is called on every rank: rank 0 reads the file and
broadcasts its bytes, so the ranks need not share a file system, and each rank
restores params and optimizer state from the same bytes.  Files hold only
tensors, numbers and strings and are read with ``torch.load(...,
weights_only=True)``: loading never runs code.

>>> import os, tempfile, torch, tracegraph
>>> from tracegraph.optim import Adam
>>> tracegraph.clear_param_store(); _ = tracegraph.param("w", torch.ones(2))
>>> path = os.path.join(tempfile.mkdtemp(), "ckpt.pt")
>>> save_checkpoint(path, Adam({"lr": 0.1}), extra={"step": 7})
True
>>> tracegraph.clear_param_store(); load_checkpoint(path)
{'step': 7}
>>> tracegraph.param("w").tolist()
[1.0, 1.0]
"""

from __future__ import annotations

import io
import os
import tempfile
from typing import Any

import torch
import torch.distributed as dist

from tracegraph.errors import DistributedError
from tracegraph.infer.distributed.group import is_main_process, rank_info
from tracegraph.optim.optim import PyroOptim
from tracegraph.params import get_param_store
from tracegraph.params.state_format import from_payload, to_payload

__all__ = ["atomic_write", "load_checkpoint", "save_checkpoint"]

_FORMAT = "tracegraph-checkpoint"
_VERSION = 1


def _to_cpu(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


def atomic_write(data: bytes, filename: str | os.PathLike[str]) -> None:
    """Write ``data`` to ``filename`` so that the path holds either its old
    content or all of ``data``, whatever happens: a temporary file in the same
    directory, flushed to disk, then renamed over the path.

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "x.bin")
    >>> atomic_write(b"abc", path); os.listdir(os.path.dirname(path))
    ['x.bin']
    >>> with open(path, "rb") as f:
    ...     f.read()
    b'abc'
    """
    path = os.path.abspath(os.fspath(filename))
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    try:  # make the rename itself durable (POSIX); not possible everywhere
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def save_checkpoint(
    filename: str | os.PathLike[str],
    optim: PyroOptim | None = None,
    extra: dict[str, Any] | None = None,
) -> bool:
    """On rank 0 (or without a process group), write the param store, the
    optimizer's state and ``extra`` to ``filename``, atomically.

    :param filename: the checkpoint's path.
    :param optim: the optimizer whose state to save (optional).
    :param extra: more plain data to keep (a step count, a sampler seed).
    :returns: whether this rank wrote the file.
    :raises DistributedError: when the state holds something that would not
        load back safely (nothing is written then).

    >>> import os, tempfile, torch, tracegraph
    >>> path = os.path.join(tempfile.mkdtemp(), "ckpt.pt")
    >>> _ = tracegraph.param("w", torch.tensor(2.0))
    >>> save_checkpoint(path, extra={"step": 7})  # no process group: this is rank 0
    True
    >>> tracegraph.clear_param_store()
    >>> load_checkpoint(path), tracegraph.param("w").item()
    ({'step': 7}, 2.0)
    """
    if not is_main_process():
        return False
    state = get_param_store().get_state()
    payload = {
        "format": _FORMAT,
        "version": _VERSION,
        "param_store": to_payload(_to_cpu(state["params"]), state["constraints"]),
        "optim": None if optim is None else _to_cpu(optim.get_state()),
        "extra": _to_cpu(dict(extra or {})),
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    data = buffer.getvalue()
    try:
        torch.load(io.BytesIO(data), weights_only=True)
    except Exception as exc:
        raise DistributedError(
            f"save_checkpoint: the checkpoint would not load back safely (only tensors, "
            f"numbers, strings and containers of them are allowed, e.g. in extra=): {exc}"
        ) from exc
    atomic_write(data, filename)
    return True


def _read(filename: str | os.PathLike[str]) -> tuple[bytes | None, str | None]:
    try:
        with open(filename, "rb") as f:
            return f.read(), None
    except OSError as exc:
        return None, f"{type(exc).__name__}: {exc}"


def load_checkpoint(
    filename: str | os.PathLike[str],
    optim: PyroOptim | None = None,
    map_location: Any = None,
    group: Any = None,
) -> dict[str, Any]:
    """Restore a checkpoint of :func:`save_checkpoint` on every rank (a
    collective when a process group runs: call it on every rank).

    Params are merged into the param store; the optimizer gets its state (each
    param's optimizer when it is next made).

    :param filename: the checkpoint's path (read by rank 0 only).
    :param optim: the optimizer to restore (optional).
    :param map_location: as for ``torch.load``; by default the rank's device.
    :param group: the process group (the default group when None).
    :returns: the ``extra`` dict that was saved.
    :raises OSError: on rank 0 when the file cannot be read (the other ranks
        raise :class:`~tracegraph.errors.DistributedError`).
    :raises DistributedError: for a file that is not a tracegraph checkpoint.

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "not-a-checkpoint.pt")
    >>> with open(path, "wb") as f:
    ...     _ = f.write(b"junk")
    >>> try:
    ...     load_checkpoint(path)
    ... except DistributedError as e:
    ...     print(type(e).__name__)
    DistributedError
    """
    running = dist.is_available() and dist.is_initialized()
    if running and map_location is None:
        map_location = rank_info(group).device
    if running and dist.get_world_size(group) > 1:
        rank = dist.get_rank(group)
        box: list[Any] = [_read(filename) if rank == 0 else None]
        dist.broadcast_object_list(box, src=0, group=group)
        data, error = box[0]
        if error is not None:
            if rank == 0:
                raise OSError(f"load_checkpoint: cannot read {os.fspath(filename)!r}: {error}")
            raise DistributedError(
                f"load_checkpoint: rank 0 cannot read {os.fspath(filename)!r}: {error}"
            )
    else:
        with open(filename, "rb") as f:
            data = f.read()
    assert data is not None
    try:
        payload = torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    except Exception as exc:
        raise DistributedError(
            f"load_checkpoint: {os.fspath(filename)!r} is not a safe checkpoint: {exc}"
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
        raise DistributedError(
            f"load_checkpoint: {os.fspath(filename)!r} is not a tracegraph checkpoint "
            f"(write one with save_checkpoint)"
        )
    entries = from_payload(payload["param_store"])
    get_param_store().set_state(
        {
            "params": {name: tensor for name, (tensor, _) in entries.items()},
            "constraints": {name: c for name, (_, c) in entries.items()},
        }
    )
    if optim is not None and payload.get("optim") is not None:
        optim.set_state(payload["optim"])
    extra = payload.get("extra") or {}
    return dict(extra)
