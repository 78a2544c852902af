"""Data-parallel SVI on ``torch.distributed``: when one process is not enough.

Launch one process per core or GPU with ``torchrun``; every rank runs model and
guide on its own part of a subsampled data plate, gradients are averaged over
the ranks (gloo on CPUs, NCCL on GPUs), and every rank keeps identical params::

    # torchrun --nproc_per_node 2 train.py
    info = init_distributed()                      # reads torchrun's variables
    sampler = DataPlateSampler(len(data), batch_size=256)
    svi = DistributedSVI(model, guide, Adam({"lr": 0.01}), TraceGraph_ELBO())
    for step in range(num_steps):
        loss = svi.step(data, sampler.indices(step))   # the mean over the ranks
    save_checkpoint("ckpt.pt", svi.optim)          # rank 0 writes, atomically

The model gives the indices to its plate, ``plate("data", len(data),
subsample=indices)``.  What is shared and how is recorded in
``docs/design/distributed.md``; the parts live in modules of their own:

* :mod:`~tracegraph.infer.distributed.group` -- start the group, ask for rank and device;
* :mod:`~tracegraph.infer.distributed.protocol` -- the ranks agree before each
  collective; a failure on one rank stops all of them;
* :mod:`~tracegraph.infer.distributed.buckets` -- bucketed all-reduce and broadcast;
* :mod:`~tracegraph.infer.distributed.param_sync` -- new params broadcast from rank 0;
* :mod:`~tracegraph.infer.distributed.averaging` -- gradients, baselines and losses averaged;
* :mod:`~tracegraph.infer.distributed.svi` -- :class:`DistributedSVI`;
* :mod:`~tracegraph.infer.distributed.sampler` -- :class:`DataPlateSampler`;
* :mod:`~tracegraph.infer.distributed.checkpoint` -- rank 0 saves, every rank loads.

>>> info = init_distributed()   # plain python: a job of one rank
>>> info.world_size, DataPlateSampler(10, 4).indices(0).shape
(1, torch.Size([4]))
>>> shutdown_distributed()
"""

from tracegraph.errors import DistributedError
from tracegraph.infer.distributed.checkpoint import load_checkpoint, save_checkpoint
from tracegraph.infer.distributed.group import (
    RankInfo,
    init_distributed,
    is_main_process,
    rank_info,
    shutdown_distributed,
)
from tracegraph.infer.distributed.sampler import DataPlateSampler
from tracegraph.infer.distributed.svi import DistributedSVI

__all__ = [
    "DataPlateSampler",
    "DistributedError",
    "DistributedSVI",
    "RankInfo",
    "init_distributed",
    "is_main_process",
    "load_checkpoint",
    "rank_info",
    "save_checkpoint",
    "shutdown_distributed",
]
