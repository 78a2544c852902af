"""DataPlateSampler: disjoint parts of one global batch per rank, every data
point once per epoch, and the plate scales that make the average right."""

from __future__ import annotations

import pytest
import torch

from tracegraph.infer.distributed import DataPlateSampler


def _ranks(size, batch, world, **kw):
    return [DataPlateSampler(size, batch, rank=r, world_size=world, **kw) for r in range(world)]


def test_sampler_ranks_get_disjoint_slices_of_the_global_batch():
    samplers = _ranks(50, 12, 3, seed=4)
    for step in range(10):
        parts = [s.indices(step) for s in samplers]
        assert [len(p) for p in parts] == [4, 4, 4]
        assert torch.equal(torch.cat(parts), samplers[0].global_indices(step))
        assert len(set(torch.cat(parts).tolist())) == 12


def test_sampler_each_point_once_per_epoch():
    sampler = DataPlateSampler(24, 8, rank=0, world_size=2, seed=1)
    epoch = torch.cat([sampler.global_indices(step) for step in range(3)])
    assert sorted(epoch.tolist()) == list(range(24))
    # A new permutation next epoch.
    nxt = torch.cat([sampler.global_indices(step) for step in range(3, 6)])
    assert sorted(nxt.tolist()) == list(range(24)) and not torch.equal(nxt, epoch)


def test_sampler_batches_wrap_into_the_next_epoch():
    sampler = DataPlateSampler(10, 4, shuffle=False)
    assert [sampler.global_indices(s).tolist() for s in range(3)] == [
        [0, 1, 2, 3],
        [4, 5, 6, 7],
        [8, 9, 0, 1],
    ]


def test_sampler_same_seed_same_batches_and_iter_matches_indices():
    a, b = DataPlateSampler(30, 6, seed=9), DataPlateSampler(30, 6, seed=9)
    it = iter(a)
    for step in range(7):
        assert torch.equal(next(it), b.indices(step))
    assert not torch.equal(DataPlateSampler(30, 6, seed=10).indices(0), b.indices(0))


def test_sampler_scales():
    sampler = DataPlateSampler(100, 20, rank=1, world_size=4)
    assert (sampler.local_size, sampler.scale, sampler.global_scale) == (5, 20.0, 5.0)


def test_sampler_indices_are_uniform_over_the_data():
    # Over many steps (many epochs) each index appears equally often: the count of
    # each of 10 indices in 500 draws is 50 exactly, as each epoch covers all once.
    sampler = DataPlateSampler(10, 4, rank=0, world_size=2, seed=3)
    counts = torch.bincount(
        torch.cat([sampler.global_indices(s) for s in range(125)]), minlength=10
    )
    assert counts.tolist() == [50] * 10


def test_sampler_device_and_dtype():
    idx = DataPlateSampler(10, 4, device="cpu").indices(0)
    assert idx.dtype == torch.int64 and idx.device.type == "cpu"


@pytest.mark.parametrize(
    "args,kwargs,match",
    [
        ((10, 5), {"rank": 0, "world_size": 2}, "not divisible by world_size 2"),
        ((10, 12), {}, "exceeds the plate's size 10"),
        ((10, 4), {"rank": 2, "world_size": 2}, "rank 2 is not below world_size 2"),
        ((0, 4), {}, "size must be an int >= 1"),
        ((10, 4.0), {}, "batch_size must be an int"),
    ],
)
def test_sampler_rejects_sizes_that_do_not_fit(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        DataPlateSampler(*args, **kwargs)


def test_sampler_defaults_to_the_running_group(one_rank):
    sampler = DataPlateSampler(10, 4)
    assert (sampler.rank, sampler.world_size) == (0, 1)
