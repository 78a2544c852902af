"""Collectives over many tensors in few calls: tensors of one device and dtype are
flattened into buckets of at most ``cap_bytes`` and each bucket is reduced (or
broadcast) by one asynchronous call, all calls in flight at once.

One call per tensor would pay the collective's latency once per param (tens of
microseconds with gloo, more with NCCL); one call for everything would need a
copy of every gradient at once.  Buckets bound the extra memory and keep the
number of calls small, as ``torch.nn.parallel.DistributedDataParallel`` does.

With a group that speaks only NCCL, a CPU tensor travels through the rank's
current GPU and comes back; with gloo (or a mixed ``cpu:gloo,cuda:nccl``
group) every tensor stays where it is.

>>> import torch
>>> from tracegraph.infer.distributed.group import init_distributed, shutdown_distributed
>>> _ = init_distributed()
>>> a, b = torch.ones(2), torch.full((3,), 2.0)
>>> all_reduce_sum([a, b], cap_bytes=8)  # two buckets with one process
>>> a.tolist(), b.tolist()
([1.0, 1.0], [2.0, 2.0, 2.0])
>>> shutdown_distributed()
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.distributed as dist

__all__ = [
    "DEFAULT_CAP_BYTES",
    "all_reduce_sum",
    "broadcast_from_zero",
    "plan_buckets",
    "unflatten_into",
]

#: Bucket size: DistributedDataParallel's default.
DEFAULT_CAP_BYTES = 25 * 1024 * 1024


def _wire_device(device: torch.device, group: Any) -> torch.device:
    if device.type == "cpu" and str(dist.get_backend(group)) == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return device


def _world_size(group: Any) -> int:
    return dist.get_world_size(group)


def plan_buckets(tensors: Sequence[torch.Tensor], cap_bytes: int) -> list[list[int]]:
    """Indices of ``tensors`` grouped into buckets: same device and dtype, at most
    ``cap_bytes`` each (a larger tensor gets a bucket of its own), in order.

    >>> import torch
    >>> plan_buckets([torch.zeros(2), torch.zeros(2, dtype=torch.float64), torch.zeros(3)], 32)
    [[0, 2], [1]]
    >>> plan_buckets([torch.zeros(2), torch.zeros(3)], 8)
    [[0], [1]]
    """
    by_kind: dict[tuple[torch.device, torch.dtype], list[list[int]]] = {}
    sizes: dict[tuple[torch.device, torch.dtype], int] = {}
    for i, t in enumerate(tensors):
        kind = (t.device, t.dtype)
        nbytes = t.numel() * t.element_size()
        buckets = by_kind.setdefault(kind, [])
        if not buckets or (sizes[kind] + nbytes > cap_bytes and buckets[-1]):
            buckets.append([])
            sizes[kind] = 0
        buckets[-1].append(i)
        sizes[kind] += nbytes
    return [bucket for buckets in by_kind.values() for bucket in buckets]


def _flatten(tensors: Sequence[torch.Tensor], device: torch.device) -> torch.Tensor:
    return torch.cat([t.detach().reshape(-1).to(device) for t in tensors])


def unflatten_into(flat: torch.Tensor, tensors: Sequence[torch.Tensor]) -> None:
    """Copy consecutive pieces of the 1-d ``flat`` into ``tensors``, in place
    (converting dtype and device as needed).

    >>> import torch
    >>> a, b = torch.zeros(2), torch.zeros(1, dtype=torch.float64)
    >>> unflatten_into(torch.arange(3.0), [a, b]); a.tolist(), b.tolist()
    ([0.0, 1.0], [2.0])
    """
    offset = 0
    with torch.no_grad():
        for t in tensors:
            n = t.numel()
            t.copy_(flat[offset : offset + n].view(t.shape))
            offset += n


def _run(tensors: Sequence[torch.Tensor], cap_bytes: int, group: Any, broadcast: bool) -> None:
    if not tensors or _world_size(group) == 1:
        return  # one rank: the sum and the broadcast are the tensors themselves
    flats = []
    works = []
    for bucket in plan_buckets(tensors, cap_bytes):
        members = [tensors[i] for i in bucket]
        flat = _flatten(members, _wire_device(members[0].device, group))
        if broadcast:
            work = dist.broadcast(flat, src=0, group=group, async_op=True)
        else:
            work = dist.all_reduce(flat, op=dist.ReduceOp.SUM, group=group, async_op=True)
        flats.append((flat, members))
        works.append(work)
    for work in works:
        if work is not None:
            work.wait()
    for flat, members in flats:
        unflatten_into(flat, members)


def all_reduce_sum(
    tensors: Sequence[torch.Tensor], cap_bytes: int = DEFAULT_CAP_BYTES, group: Any = None
) -> None:
    """Replace every tensor, in place, by its sum over the ranks of ``group``.

    :param tensors: tensors to reduce, in the same order and shapes on every rank.
    :param cap_bytes: the largest bucket.
    :param group: the process group (the default group when None).
    """
    _run(tensors, cap_bytes, group, broadcast=False)


def broadcast_from_zero(
    tensors: Sequence[torch.Tensor], cap_bytes: int = DEFAULT_CAP_BYTES, group: Any = None
) -> None:
    """Replace every tensor, in place, by rank 0's (the source of ``group``).

    :param tensors: tensors to overwrite, same order and shapes on every rank.
    :param cap_bytes: the largest bucket.
    :param group: the process group (the default group when None).

    >>> import torch
    >>> from tracegraph.infer.distributed.group import init_distributed, shutdown_distributed
    >>> _ = init_distributed(); x = torch.arange(3.0); broadcast_from_zero([x]); x.tolist()
    [0.0, 1.0, 2.0]
    >>> shutdown_distributed()
    """
    _run(tensors, cap_bytes, group, broadcast=True)
