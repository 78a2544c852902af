"""The process group of a data-parallel job: start it the way ``torchrun``
launches ranks, and ask who this rank is, which device it computes on and
whether it is the main process (the one that prints and saves).

Nothing here talks to other ranks except :func:`init_distributed`, which calls
``torch.distributed.init_process_group`` once.  Launchers that start the group
themselves (PyTorch Lightning, Ray Train, Accelerate) skip it: every other
function reads the group that is already there.

>>> info = init_distributed()  # no torchrun variables: a group of one process
>>> info.rank, info.world_size, info.backend, is_main_process()
(0, 1, 'gloo', True)
>>> shutdown_distributed()
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from tracegraph.errors import DistributedError

__all__ = [
    "RankInfo",
    "comm_device",
    "init_distributed",
    "is_main_process",
    "rank_info",
    "shutdown_distributed",
]

#: Seconds a collective may wait for the other ranks before it fails.
DEFAULT_TIMEOUT = 300.0


@dataclass(frozen=True)
class RankInfo:
    """Who this process is in the job.

    :param rank: its rank, ``0 <= rank < world_size``.
    :param world_size: how many ranks the job has.
    :param local_rank: its index on this machine (``LOCAL_RANK``; selects the GPU).
    :param backend: the group's backend (``"gloo"``, ``"nccl"``, or a per-device
        list such as ``"cpu:gloo,cuda:nccl"``).
    :param device: where this rank computes: its current GPU under NCCL (set by
        :func:`init_distributed`), else the CPU.

    >>> RankInfo(0, 2, 0, "gloo", torch.device("cpu")).world_size
    2
    """

    rank: int
    world_size: int
    local_rank: int
    backend: str
    device: torch.device


def _require_distributed() -> None:
    if not dist.is_available():
        raise DistributedError(
            "this torch build has no torch.distributed; data-parallel SVI needs a build "
            "with it (the standard Linux and macOS wheels have it)"
        )


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise DistributedError(
            f"environment variable {name}={value!r} is not an integer; torchrun sets it"
        ) from None


def init_distributed(
    backend: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    init_method: str | None = None,
    rank: int | None = None,
    world_size: int | None = None,
) -> RankInfo:
    """Start the default process group, unless one is already running.

    Under ``torchrun`` the rank, world size and rendezvous address come from the
    environment variables it sets (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
    ``MASTER_ADDR``, ``MASTER_PORT``).  Without them (and without
    ``init_method``) the group has this one process, so a script written for
    ``torchrun`` also runs as plain ``python script.py``.

    With NCCL each rank first selects its GPU, ``torch.cuda.set_device(local_rank)``,
    so that every collective and every ``cuda`` tensor without an index lands on
    the rank's own device.

    :param backend: ``"gloo"`` (CPU) or ``"nccl"`` (CUDA); by default NCCL when
        CUDA is available and the job has several ranks, else gloo.
    :param timeout: seconds a collective waits for the other ranks before failing.
    :param init_method: a rendezvous URL (``"tcp://host:port"``,
        ``"file:///path"``) instead of torchrun's variables; then ``rank`` and
        ``world_size`` are needed too.
    :param rank: this process's rank (with ``init_method``).
    :param world_size: the number of ranks (with ``init_method``).
    :returns: this rank's :class:`RankInfo`.
    :raises DistributedError: without ``torch.distributed``, for NCCL without
        CUDA, or for an ``init_method`` without rank and world size.

    >>> init_distributed().world_size
    1
    >>> shutdown_distributed()
    """
    _require_distributed()
    if dist.is_initialized():
        return rank_info()
    env_rank, env_world = _env_int("RANK"), _env_int("WORLD_SIZE")
    local_rank = _env_int("LOCAL_RANK")
    kwargs: dict[str, Any] = {"timeout": datetime.timedelta(seconds=timeout)}
    if init_method is not None:
        if rank is None or world_size is None:
            raise DistributedError(
                f"init_distributed(init_method={init_method!r}) needs rank= and world_size="
            )
        kwargs.update(init_method=init_method, rank=rank, world_size=world_size)
    elif env_rank is not None and env_world is not None:
        rank, world_size = env_rank, env_world
        kwargs.update(init_method="env://", rank=rank, world_size=world_size)
    else:
        rank, world_size = 0, 1
        kwargs.update(store=dist.HashStore(), rank=0, world_size=1)
    if local_rank is None:
        local_rank = rank if init_method is not None else 0
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() and world_size > 1 else "gloo"
    if "nccl" in backend:
        if not torch.cuda.is_available():
            raise DistributedError(
                f"backend {backend!r} needs CUDA, which this machine lacks; use 'gloo'"
            )
        # Before the group exists: NCCL binds each rank to the current device.  A
        # launcher that shows each process its own GPU only (CUDA_VISIBLE_DEVICES)
        # leaves one device, index 0, whatever the local rank.
        torch.cuda.set_device(local_rank % torch.cuda.device_count())
    dist.init_process_group(backend, **kwargs)
    return rank_info()


def shutdown_distributed() -> None:
    """Destroy the default process group if there is one (the last call of a job).

    >>> shutdown_distributed()  # nothing to do
    """
    if dist.is_available() and dist.is_initialized():
        if dist.get_world_size() > 1:
            # Every rank reaches here (the last call, from a ``finally``): wait for
            # all before tearing the group down, so no rank destroys it while
            # another still has work in flight (gloo can abort the process then).
            try:
                dist.barrier()
            except Exception:  # a rank that is gone: tear down all the same
                pass
        dist.destroy_process_group()


def rank_info(group: Any = None) -> RankInfo:
    """This rank's place in ``group`` (the default group when None).

    :raises DistributedError: if no process group is running.

    >>> _ = init_distributed(); rank_info().device
    device(type='cpu')
    >>> shutdown_distributed()
    """
    _require_distributed()
    if not dist.is_initialized():
        raise DistributedError(
            "no torch.distributed process group is running; call "
            "tracegraph.infer.distributed.init_distributed() first (launch with torchrun)"
        )
    backend = str(dist.get_backend(group))
    local_rank = _env_int("LOCAL_RANK")
    if local_rank is None:
        local_rank = torch.cuda.current_device() if "nccl" in backend else 0
    device = torch.device("cpu")
    if "nccl" in backend:
        device = torch.device("cuda", torch.cuda.current_device())
    return RankInfo(
        rank=dist.get_rank(group),
        world_size=dist.get_world_size(group),
        local_rank=local_rank,
        backend=backend,
        device=device,
    )


def comm_device(group: Any = None) -> torch.device:
    """Where tensors must be for ``group``'s collectives: the current GPU for a
    group that speaks only NCCL, else the CPU (gloo also takes CUDA tensors).

    >>> _ = init_distributed(); comm_device()
    device(type='cpu')
    >>> shutdown_distributed()
    """
    if str(dist.get_backend(group)) == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def is_main_process() -> bool:
    """Whether this process prints and saves: rank 0, or any process when no
    process group is running.

    >>> is_main_process()
    True
    """
    if not (dist.is_available() and dist.is_initialized()):
        return True
    return dist.get_rank() == 0
