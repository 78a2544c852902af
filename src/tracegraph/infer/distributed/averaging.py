"""The end of a data-parallel step: gradients, decaying-average baselines and the
loss averaged over the ranks, in one bucketed all-reduce.

Each rank contributes, in an order every rank agrees on (params by name, then
baselines by name, then a float64 vector of losses and counts):

* the gradient of every param its step touched (zeros where it has none);
* each decaying-average baseline its step updated;
* its loss, and for each entry whether it had one (1 or 0).

After the sum, a gradient is divided by the number of ranks -- a rank whose
loss does not depend on a param contributes the zero gradient it has -- and a
param no rank has a gradient for keeps none (so no optimizer state is made for
it, as in single-process SVI).  A baseline is divided by the number of ranks
that updated it.  Every rank runs the same arithmetic on the same sums, so the
results are identical bit for bit.

Usually every rank touched the same params and updated the same baselines, and
the header's digest says so.  When they differ (a site present on some ranks
only), the ranks gather their layouts, reduce over the union, and refuse only
what cannot be reconciled: one name with two shapes.

>>> import torch
>>> from tracegraph.infer.distributed.group import init_distributed, shutdown_distributed
>>> from tracegraph.infer.distributed.protocol import Channel
>>> _ = init_distributed()
>>> w = torch.zeros(2, requires_grad=True); w.grad = torch.ones(2)
>>> losses, stepped = average_step(Channel(10.0), 1, {"w": w}, {}, [3.5])
>>> losses, stepped[0] is w
([3.5], True)
>>> shutdown_distributed()
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from tracegraph.errors import DistributedError
from tracegraph.infer.distributed.buckets import (
    DEFAULT_CAP_BYTES,
    all_reduce_sum,
    unflatten_into,
)
from tracegraph.infer.distributed.group import comm_device, rank_info
from tracegraph.infer.distributed.protocol import Channel, Kind
from tracegraph.params import get_param_store

__all__ = ["average_losses", "average_step"]

#: (kind, name, shape, dtype) of one reduced tensor; kind is "grad" or "avg".
Entry = tuple[str, str, tuple[int, ...], str]


def _entries(
    grads: Mapping[str, torch.Tensor], baselines: Mapping[str, torch.Tensor]
) -> list[Entry]:
    out: list[Entry] = [("grad", n, tuple(p.shape), str(p.dtype)) for n, p in sorted(grads.items())]
    out += [("avg", n, tuple(t.shape), str(t.dtype)) for n, t in sorted(baselines.items())]
    return out


def _union(layouts: Sequence[tuple[list[Entry], int]]) -> list[Entry]:
    arities = {n for _, n in layouts}
    if len(arities) > 1:
        raise DistributedError(
            f"the ranks' losses have different numbers of terms: "
            f"{[n for _, n in layouts]} (rank order)"
        )
    seen: dict[tuple[str, str], tuple[Entry, int]] = {}
    for rank, (entries, _) in enumerate(layouts):
        for entry in entries:
            known = seen.setdefault(entry[:2], (entry, rank))
            if known[0] != entry:
                what = "param" if entry[0] == "grad" else "baseline state"
                raise DistributedError(
                    f"{what} {entry[1]!r} has shape {known[0][2]} ({known[0][3]}) on rank "
                    f"{known[1]} but {entry[2]} ({entry[3]}) on rank {rank}; every rank must "
                    f"give a param the same shape (size data-dependent params by the full "
                    f"data set, not by a rank's part)"
                )
    grads = sorted(e for e, _ in seen.values() if e[0] == "grad")
    avgs = sorted(e for e, _ in seen.values() if e[0] == "avg")
    return grads + avgs


def _dtype(name: str) -> torch.dtype:
    dtype = getattr(torch, name.removeprefix("torch."), None)
    assert isinstance(dtype, torch.dtype), name
    return dtype


def _meta_dtype(tensors: Sequence[torch.Tensor], group: Any) -> torch.dtype:
    # Losses and counts ride in the gradients' bucket when their dtype holds them
    # well (counts are small integers, losses came from the model in that dtype):
    # one collective per step instead of two.
    device = comm_device(group)
    for t in tensors:
        if t.dtype in (torch.float32, torch.float64) and t.device == device:
            return t.dtype
    return torch.float64


def _contributions(
    entries: Sequence[Entry],
    grads: Mapping[str, torch.Tensor],
    baselines: Mapping[str, torch.Tensor],
    channel: Channel,
    group: Any,
) -> tuple[list[torch.Tensor], list[float]]:
    # This rank's tensor for each entry (a gradient itself, to be overwritten in
    # place; zeros where it has none) and whether it has one.
    store = get_param_store()
    tensors: list[torch.Tensor] = []
    present: list[float] = []
    for kind, name, shape, dtype in entries:
        if kind == "grad":
            leaf = grads.get(name)
            if leaf is None:
                leaf = dict(store.named_parameters()).get(name)
                if leaf is None:
                    raise DistributedError(
                        f"param {name!r} has a gradient on another rank but does not exist "
                        f"on rank {channel.rank}; every rank must create the same params"
                    )
            grad = leaf.grad
            present.append(0.0 if grad is None else 1.0)
            tensors.append(torch.zeros_like(leaf) if grad is None else grad)
        else:
            value = baselines.get(name)
            present.append(0.0 if value is None else 1.0)
            if value is None:  # only when the layouts differed: rare
                device = rank_info(group).device
                tensors.append(torch.zeros(shape, dtype=_dtype(dtype), device=device))
            else:
                tensors.append(value.detach().clone())
    return tensors, present


def average_step(
    channel: Channel,
    step: int,
    grads: Mapping[str, torch.Tensor],
    baselines: Mapping[str, torch.Tensor],
    losses: Sequence[float],
    cap_bytes: int = DEFAULT_CAP_BYTES,
    group: Any = None,
) -> tuple[list[float], list[torch.Tensor]]:
    """Average gradients, updated baselines and losses over the ranks, in place.

    :param channel: where the ranks agree first.
    :param step: this step's number.
    :param grads: the params the step touched, by name (their ``.grad`` is
        replaced by the average; None stays None only if it is None everywhere).
    :param baselines: the decaying-average entries of the param store this step
        updated, by name (replaced in the store by their average).
    :param losses: this rank's loss terms.
    :param cap_bytes: the largest bucket.
    :param group: the data-plane group (the default group when None).
    :returns: the mean of each loss term over the ranks, and the params that now
        have a gradient (those of other ranks' layouts included): the ones to step.
    :raises DistributedError: when the ranks' layouts cannot be reconciled.
    """
    if channel.world_size == 1:  # gradients and baselines are the averages already
        return list(losses), [p for p in grads.values() if p.grad is not None]
    entries = _entries(grads, baselines)
    key = f"{entries!r}|losses={len(losses)}"
    store = get_param_store()
    tensors, present = _contributions(entries, grads, baselines, channel, group)
    # Small enough, and on the CPU: the numbers travel with the agreement itself
    # (one exchange per step), and each rank adds the ranks' rows in rank order.
    numbers = sum(t.numel() for t in tensors) + len(losses) + len(present)
    payload = None
    if channel.fits(numbers) and all(t.device.type == "cpu" for t in tensors):
        flat = [t.detach().reshape(-1).to(torch.float64) for t in tensors]
        payload = torch.cat([*flat, torch.tensor([*losses, *present], dtype=torch.float64)])
    same = channel.agree(
        Kind.STEP,
        step,
        key,
        lambda: f"finished step {step} and averages the gradients of {len(grads)} param(s)",
        payload,
    )
    rows = channel.payloads
    if same and rows is not None:
        total = rows[0].clone()
        for row in rows[1:]:
            total += row  # elementwise, in rank order: the same bits on every rank
        done = numbers - len(losses) - len(present)
        unflatten_into(total[:done], tensors)
        sums = total[done:].tolist()
    else:
        if not same:
            layouts = channel.gather(
                (entries, len(losses)), lambda: f"compares layouts of step {step}"
            )
            entries = _union(layouts)
            tensors, present = _contributions(entries, grads, baselines, channel, group)
        meta = torch.tensor(
            [*losses, *present], dtype=_meta_dtype(tensors, group), device=comm_device(group)
        )
        all_reduce_sum([*tensors, meta], cap_bytes, group)
        sums = meta.tolist()
    world = channel.world_size
    counts = sums[len(losses) :]
    stepped = []
    for (kind, name, _, _), tensor, count in zip(entries, tensors, counts):
        if kind == "grad":
            leaf = grads[name] if name in grads else dict(store.named_parameters())[name]
            if count > 0:
                tensor.div_(world)
                if leaf.grad is None:
                    leaf.grad = tensor
                stepped.append(leaf)
        elif count > 0:
            with torch.no_grad():
                store[name] = tensor.div_(count)
    return [s / world for s in sums[: len(losses)]], stepped


def average_losses(
    channel: Channel, step: int, losses: Sequence[float], group: Any = None
) -> list[float]:
    """The mean of each loss term over the ranks (for ``evaluate_loss``).

    >>> from tracegraph.infer.distributed.group import init_distributed, shutdown_distributed
    >>> _ = init_distributed()
    >>> average_losses(Channel(10.0), 0, [1.5, 2.0])
    [1.5, 2.0]
    >>> shutdown_distributed()
    """
    channel.agree(
        Kind.EVALUATE,
        step,
        f"losses={len(losses)}",
        lambda: f"evaluates the loss (after step {step})",
    )
    meta = torch.tensor(list(losses), dtype=torch.float64, device=comm_device(group))
    all_reduce_sum([meta], group=group)
    return [s / channel.world_size for s in meta.tolist()]
