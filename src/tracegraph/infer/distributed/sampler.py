"""Disjoint subsample indices of a data plate for each rank, step after step
(what ``torch.utils.data.DistributedSampler`` is to a data loader).

Every rank draws the same global batch of ``batch_size`` indices (the seed is
shared, so no communication is needed) and takes its own contiguous slice of
``batch_size / world_size`` of them.  The batches walk through a fresh random
permutation of ``0 .. size-1`` per epoch, so within an epoch every data point is
used once, and every index of a batch is uniformly distributed over the data:
``size / batch_size`` times a sum over the batch is an unbiased estimate of the
sum over the data.

Give a rank's indices to the plate, ``plate(name, size, subsample=indices)``:
its log-likelihood is then scaled by ``size / local batch``
(:attr:`DataPlateSampler.scale`), and averaging the ranks' gradients -- as
:class:`~tracegraph.infer.distributed.svi.DistributedSVI` does -- turns that into
``size / global batch`` (:attr:`DataPlateSampler.global_scale`) for every data
point of the global batch: the single-process gradient on the concatenated batch.

>>> sampler = DataPlateSampler(10, 4, rank=1, world_size=2, shuffle=False)
>>> sampler.global_indices(0).tolist(), sampler.indices(0).tolist(), sampler.indices(1).tolist()
([0, 1, 2, 3], [2, 3], [6, 7])
>>> sampler.scale, sampler.global_scale
(5.0, 2.5)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
import torch.distributed as dist

__all__ = ["DataPlateSampler"]


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"DataPlateSampler: {name} must be an int >= {low}, got {value!r}")
    return value


class DataPlateSampler:
    """This rank's subsample indices of a data plate of ``size`` elements, for
    each step.

    :param size: the plate's full size ``N``.
    :param batch_size: the global batch size ``B``: indices per step over all
        ranks; ``world_size`` must divide it and it must not exceed ``size``.
    :param rank: this rank (by default from the running process group, else 0).
    :param world_size: the number of ranks (by default from the process group,
        else 1).
    :param shuffle: a new random permutation per epoch; False walks through
        ``0 .. N-1`` in order.
    :param seed: seed of the permutations; the same on every rank (the ranks'
        slices are disjoint only then).
    :param device: where the index tensors are made.
    :raises ValueError: for sizes that do not fit.

    >>> sampler = DataPlateSampler(100, 8, rank=0, world_size=2, seed=3)
    >>> a, b = sampler.indices(5), DataPlateSampler(100, 8, rank=1, world_size=2, seed=3).indices(5)
    >>> len(a), len(b), set(a.tolist()) & set(b.tolist())
    (4, 4, set())
    """

    def __init__(
        self,
        size: int,
        batch_size: int,
        *,
        rank: int | None = None,
        world_size: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        device: torch.device | str | None = None,
    ) -> None:
        running = dist.is_available() and dist.is_initialized()
        if rank is None:
            rank = dist.get_rank() if running else 0
        if world_size is None:
            world_size = dist.get_world_size() if running else 1
        self.size = _check_int("size", size, 1)
        self.batch_size = _check_int("batch_size", batch_size, 1)
        self.world_size = _check_int("world_size", world_size, 1)
        self.rank = _check_int("rank", rank, 0)
        if self.rank >= self.world_size:
            raise ValueError(f"DataPlateSampler: rank {rank} is not below world_size {world_size}")
        if batch_size > size:
            raise ValueError(
                f"DataPlateSampler: batch_size {batch_size} exceeds the plate's size {size}"
            )
        if batch_size % world_size:
            fits = batch_size - batch_size % world_size or world_size
            raise ValueError(
                f"DataPlateSampler: batch_size {batch_size} is not divisible by world_size "
                f"{world_size}; every rank needs an equal part (the gradient average weights "
                f"the ranks equally). Hint: batch_size={fits}"
            )
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self._epochs: dict[int, torch.Tensor] = {}

    @property
    def local_size(self) -> int:
        """Indices per step on this rank: ``batch_size / world_size``."""
        return self.batch_size // self.world_size

    @property
    def scale(self) -> float:
        """The plate's scale on this rank, ``size / local_size`` (what
        ``plate(..., subsample=indices)`` applies)."""
        return self.size / self.local_size

    @property
    def global_scale(self) -> float:
        """Each data point's weight in the averaged gradient, ``size / batch_size``."""
        return self.size / self.batch_size

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch not in self._epochs:
            if self.shuffle:
                generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
                perm = torch.randperm(self.size, generator=generator)
            else:
                perm = torch.arange(self.size)
            # Batches move forward: only the current and the next epoch are needed.
            self._epochs = {e: p for e, p in self._epochs.items() if e >= epoch - 1}
            self._epochs[epoch] = perm
        return self._epochs[epoch]

    def global_indices(self, step: int) -> torch.Tensor:
        """The indices of step ``step``'s global batch (every rank's, in rank order).

        >>> DataPlateSampler(5, 4, shuffle=False).global_indices(1).tolist()  # wraps around
        [4, 0, 1, 2]
        """
        _check_int("step", step, 0)
        start = step * self.batch_size
        parts: list[torch.Tensor] = []
        missing = self.batch_size
        while missing > 0:
            epoch, offset = divmod(start, self.size)
            take = min(self.size - offset, missing)
            parts.append(self._permutation(epoch)[offset : offset + take])
            start += take
            missing -= take
        return torch.cat(parts).to(self.device)

    def indices(self, step: int) -> torch.Tensor:
        """This rank's indices at step ``step``: its slice of the global batch."""
        local = self.local_size
        return self.global_indices(step)[self.rank * local : (self.rank + 1) * local]

    def __iter__(self) -> Iterator[torch.Tensor]:
        """This rank's indices for steps 0, 1, 2, ... (endless).

        >>> it = iter(DataPlateSampler(6, 2, shuffle=False)); next(it).tolist(), next(it).tolist()
        ([0, 1], [2, 3])
        """
        step = 0
        while True:
            yield self.indices(step)
            step += 1
