"""Data-parallel SVI: every rank steps on its own part of a data plate, and every
rank ends each step with the same params.

:class:`DistributedSVI` is :class:`~tracegraph.infer.svi.SVI` with a step that

1. shares params that entered the store since the last step (from rank 0);
2. runs the loss under :class:`~tracegraph.infer.distributed.param_sync.StepWatcher`,
   which shares each param created during the run before it is used;
3. averages gradients, decaying-average baselines and the loss over the ranks
   (:func:`~tracegraph.infer.distributed.averaging.average_step`);
4. steps the optimizer -- any :mod:`tracegraph.optim` optimizer, unchanged: same
   params and same gradients on every rank give the same optimizer state.

A rank that raises during a step tells the others, which stop with a
:class:`~tracegraph.errors.DistributedError` naming its rank and its site.

>>> import torch, tracegraph
>>> import tracegraph.distributions as dist
>>> from tracegraph.infer import Trace_ELBO
>>> from tracegraph.optim import Adam
>>> from tracegraph.infer.distributed.group import init_distributed, shutdown_distributed
>>> _ = init_distributed(); tracegraph.clear_param_store()
>>> def model():
...     tracegraph.sample("z", dist.Normal(1.0, 1.0))
>>> def guide():
...     tracegraph.sample("z", dist.Normal(tracegraph.param("loc", torch.tensor(0.0)), 1.0))
>>> svi = DistributedSVI(model, guide, Adam({"lr": 0.1}), Trace_ELBO())
>>> _ = [svi.step() for _ in range(200)]
>>> abs(tracegraph.param("loc").item() - 1.0) < 0.2
True
>>> shutdown_distributed()
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

from tracegraph.errors import DistributedError
from tracegraph.infer.distributed.averaging import average_losses, average_step
from tracegraph.infer.distributed.buckets import DEFAULT_CAP_BYTES
from tracegraph.infer.distributed.group import DEFAULT_TIMEOUT, rank_info
from tracegraph.infer.distributed.param_sync import (
    ParamRegistry,
    StepWatcher,
    is_baseline_state,
)
from tracegraph.infer.distributed.protocol import Channel, failure_site
from tracegraph.infer.elbo import ELBO
from tracegraph.infer.numeric import torch_item, zero_grads
from tracegraph.infer.svi import SVI
from tracegraph.optim.optim import PyroOptim
from tracegraph.params import get_param_store
from tracegraph.poutine.trace_messenger import TraceMessenger

__all__ = ["DEFAULT_INLINE_BYTES", "DistributedSVI"]

#: Room for gradients in the agreement of each step (8192 float64 numbers).
DEFAULT_INLINE_BYTES = 64 * 1024


class _State:
    """What the ranks share across steps; one object, so that a shallow copy of
    the SVI (as :func:`~tracegraph.infer.fit.fit` makes) shares it too."""

    def __init__(self, timeout: float, cap_bytes: int, inline_bytes: int, group: Any) -> None:
        self.group = group
        self.cap_bytes = cap_bytes
        self.channel = Channel(timeout, group, inline_bytes)
        self.registry = ParamRegistry(self.channel, cap_bytes, group, self.communication)
        self.steps = 0
        self.communicating = False
        self.timings = {"steps": 0.0, "total": 0.0, "communication": 0.0}

    @contextmanager
    def guard(self, step: int, watcher: StepWatcher) -> Iterator[None]:
        # An error of this rank's own computation is told to the others; an error
        # of an exchange is already known to them (or they are gone).
        try:
            yield
        except BaseException as exc:
            if (
                self.communicating
                or isinstance(exc, DistributedError)
                or not isinstance(exc, Exception | KeyboardInterrupt)
            ):
                raise
            site = failure_site(exc, watcher.current, watcher.last)
            self.channel.report(step, exc, site)
            raise
        finally:
            self.communicating = False

    @contextmanager
    def communication(self) -> Iterator[None]:
        start = time.perf_counter()
        self.communicating = True
        try:
            yield
        finally:
            self.timings["communication"] += time.perf_counter() - start
        # Reached only without an error: an error raised in an exchange leaves the
        # flag set, so that guard() does not try to report it over the same wire.
        self.communicating = False


def _numbers(loss: Any) -> tuple[list[float], Callable[[list[float]], Any]]:
    # A loss may be a tuple of terms (a custom loss): each term is averaged.
    if isinstance(loss, tuple):
        return [float(torch_item(x)) for x in loss], lambda xs: type(loss)(xs)
    return [float(torch_item(loss))], lambda xs: xs[0]


class DistributedSVI(SVI):
    """:class:`~tracegraph.infer.svi.SVI` over the ranks of a ``torch.distributed``
    job (gloo on CPUs, NCCL on GPUs): each rank runs model and guide on its own
    part of the data, and each step applies the gradient averaged over all ranks.

    Give each rank disjoint indices of the data plate (see
    :class:`~tracegraph.infer.distributed.sampler.DataPlateSampler`) through
    ``plate(name, size, subsample=indices)``: its scale is then ``size / local
    batch``, and averaging over the ranks weights every data point by ``size /
    global batch`` -- the single-process gradient on the concatenated batch.

    The process group must be running (:func:`init_distributed
    <tracegraph.infer.distributed.group.init_distributed>` under ``torchrun``,
    or the launcher's own), and every rank must build its ``DistributedSVI``
    objects in the same order.

    :param model: the model.
    :param guide: the guide.
    :param optim: a :mod:`tracegraph.optim` optimizer.
    :param loss: an :class:`~tracegraph.infer.elbo.ELBO`, or a callable loss as for SVI.
    :param loss_and_grads: as for SVI.
    :param group: the process group (the default group when None).
    :param timeout: seconds a rank waits for the others at an exchange before
        it stops with a :class:`~tracegraph.errors.DistributedError`.
    :param bucket_cap_mb: the largest all-reduce bucket, in MiB.
    :param inline_bytes: gradients, baselines and losses of CPU tensors that fit
        in this many bytes (as float64) travel with the ranks' agreement itself:
        one exchange per step instead of two (the agreement always carries this
        many bytes; 0 turns it off).
    :param kwargs: as for SVI.
    :raises DistributedError: when no process group is running.

    >>> import torch, tracegraph
    >>> import tracegraph.distributions as dist
    >>> from tracegraph.infer import Trace_ELBO
    >>> from tracegraph.optim import SGD
    >>> from tracegraph.infer.distributed.group import init_distributed, shutdown_distributed
    >>> _ = init_distributed(); tracegraph.clear_param_store()
    >>> def guide():
    ...     tracegraph.sample("z", dist.Normal(tracegraph.param("m", torch.tensor(0.0)), 1.0))
    >>> svi = DistributedSVI(lambda: tracegraph.sample("z", dist.Normal(0.0, 1.0)), guide,
    ...                      SGD({"lr": 0.1}), Trace_ELBO())
    >>> isinstance(svi.step(), float), svi.world_size
    (True, 1)
    >>> shutdown_distributed()
    """

    def __init__(
        self,
        model: Callable[..., Any],
        guide: Callable[..., Any],
        optim: PyroOptim,
        loss: ELBO | Callable[..., Any],
        loss_and_grads: Callable[..., Any] | None = None,
        num_samples: int = 0,
        num_steps: int = 0,
        *,
        group: Any = None,
        timeout: float = DEFAULT_TIMEOUT,
        bucket_cap_mb: float = DEFAULT_CAP_BYTES / 2**20,
        inline_bytes: int = DEFAULT_INLINE_BYTES,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            model, guide, optim, loss, loss_and_grads, num_samples, num_steps, **kwargs
        )
        info = rank_info(group)
        self.rank = info.rank
        self.world_size = info.world_size
        cap_bytes = max(1, int(bucket_cap_mb * 2**20))
        self._sync = _State(timeout, cap_bytes, inline_bytes, group)

    @property
    def timings(self) -> dict[str, float]:
        """Seconds spent in steps (``total``); within them, in exchanges with the
        other ranks (``communication``: agreeing, broadcasting new params,
        averaging); within those, in agreeing (``agreement``: mostly waiting for
        the slowest rank to finish its computation); and the number of steps.

        >>> from tracegraph.infer.distributed.group import init_distributed, shutdown_distributed
        >>> from tracegraph.infer import Trace_ELBO
        >>> from tracegraph.optim import SGD
        >>> _ = init_distributed()
        >>> sorted(DistributedSVI(lambda: None, lambda: None, SGD({}), Trace_ELBO()).timings)
        ['agreement', 'communication', 'steps', 'total']
        >>> shutdown_distributed()
        """
        return dict(self._sync.timings, agreement=self._sync.channel.seconds)

    def step(self, *args: Any, **kwargs: Any) -> Any:
        """Take one data-parallel step: this rank's loss and gradient, averaged
        with every other rank's, then one optimizer step on each param.

        :returns: the loss averaged over the ranks (a tuple for a tuple loss).
        :raises DistributedError: when another rank failed or the ranks disagree
            (this rank's own errors are raised as they are, after the others
            were told).
        """
        s = self._sync
        s.steps += 1
        step = s.steps
        start = time.perf_counter()
        watcher = StepWatcher(s.registry, step)
        with s.guard(step, watcher):
            before = s.registry.sync_store(step)
            with watcher, TraceMessenger(param_only=True) as capture:
                loss = self.loss_and_grads(self.model, self.guide, *args, **kwargs)
            params = {
                name: site["value"].unconstrained() for name, site in capture.trace.nodes.items()
            }
            updated = _updated_baselines(before)
            values, rebuild = _numbers(loss)
            with s.communication():
                means, stepped = average_step(
                    s.channel, step, params, updated, values, s.cap_bytes, s.group
                )
            self.optim(stepped)
            zero_grads(stepped)
        s.timings["steps"] += 1
        s.timings["total"] += time.perf_counter() - start
        return rebuild(means)

    def evaluate_loss(self, *args: Any, **kwargs: Any) -> Any:
        """The loss at the current params averaged over the ranks, with no step.

        :returns: the mean loss (a tuple for a tuple loss).
        """
        s = self._sync
        watcher = StepWatcher(s.registry, s.steps)
        with s.guard(s.steps, watcher):
            s.registry.sync_store(s.steps)
            with watcher, torch.no_grad():
                loss = self.loss(self.model, self.guide, *args, **kwargs)
            values, rebuild = _numbers(loss)
            with s.communication():
                means = average_losses(s.channel, s.steps, values, s.group)
        return rebuild(means)


def _updated_baselines(before: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # DecayingAverage installs a new tensor at each update: a changed identity
    # means this step updated the entry.
    return {
        name: leaf
        for name, leaf in get_param_store().named_parameters()
        if is_baseline_state(name) and before.get(name) is not leaf
    }
