"""Learning-rate schedulers over per-parameter optimizers, Pyro's ``PyroLRScheduler``.

Each param gets a torch optimizer *and* a ``torch.optim.lr_scheduler`` object
around it. Calling the wrapper steps the optimizers (as :class:`PyroOptim` does);
:meth:`PyroLRScheduler.step` steps the schedulers, typically once per epoch.

Unlike Pyro, whose scheduler ``get_state`` returns only the schedulers' state and
so drops the optimizers' moments, each entry here is
``{"optimizer": optimizer state_dict, "scheduler": scheduler state_dict}``, so a
checkpoint resumes training exactly.

>>> import torch
>>> from tracegraph.params.param_store import clear_param_store, get_param_store
>>> clear_param_store(); get_param_store()["w"] = torch.tensor(0.0)
>>> w = get_param_store()["w"].unconstrained(); w.grad = torch.tensor(1.0)
>>> scheduler = PyroLRScheduler(
...     torch.optim.lr_scheduler.StepLR,
...     {"optimizer": torch.optim.SGD, "optim_args": {"lr": 1.0}, "step_size": 1, "gamma": 0.5},
... )
>>> scheduler([w]); scheduler.step(); scheduler([w])
>>> w.item(), sorted(scheduler.get_state()["w"])
(-1.5, ['optimizer', 'scheduler'])
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch.optim import lr_scheduler

from tracegraph.optim.options import OptimArgs, OptimizerError, check_kwargs
from tracegraph.optim.pyro_optim import WRAPPED_OPTIMIZERS, PyroOptim
from tracegraph.optim.state import load_optimizer_state

__all__ = ["PyroLRScheduler"]


def _chained_scheduler_options(optimizer: Any, schedulers: Any) -> None:
    """ChainedScheduler's options as the wrapper takes them (the optimizer first)."""


def _signature_of(constructor: Any) -> Any:
    # What option checking should read: ChainedScheduler takes its schedulers
    # first and the optimizer as a keyword, unlike every other scheduler.
    if constructor is lr_scheduler.ChainedScheduler:
        return _chained_scheduler_options
    return constructor


def _make_scheduler(entry: Any, optimizer: torch.optim.Optimizer) -> Any:
    if isinstance(entry, lr_scheduler.LRScheduler | lr_scheduler.ReduceLROnPlateau):
        return entry  # as Pyro: torch decides whether it fits this optimizer
    if not callable(entry):
        raise OptimizerError(
            f"'schedulers' entries must be callables taking the optimizer (e.g. "
            f"functools.partial(torch.optim.lr_scheduler.ExponentialLR, gamma=0.9)), "
            f"got {entry!r}"
        )
    return entry(optimizer)


class PyroLRScheduler(PyroOptim):
    """A torch optimizer plus a learning-rate scheduler for every param.

    :param scheduler_constructor: a ``torch.optim.lr_scheduler`` class.
    :param optim_args: ``{"optimizer": torch optimizer class, "optim_args": its
        options (a dict, or a callable from param name to a dict), **scheduler
        options}``. The dict is not modified.  For ``SequentialLR`` and
        ``ChainedScheduler``, the ``schedulers`` option lists callables that make
        a scheduler from an optimizer (such as ``functools.partial(ExponentialLR,
        gamma=0.9)``): each param's optimizer gets its own (Pyro passes the list
        as it is, which cannot work with per-param optimizers).
    :param clip_args: gradient clipping, as for :class:`PyroOptim`.
    :raises OptimizerError: when ``optimizer`` is missing or not an optimizer class,
        or an option is unknown to the optimizer or the scheduler.

    >>> import torch
    >>> x = torch.zeros(1, requires_grad=True); x.grad = torch.ones(1)
    >>> scheduler = PyroLRScheduler(
    ...     torch.optim.lr_scheduler.ExponentialLR,
    ...     {"optimizer": torch.optim.SGD, "optim_args": {"lr": 1.0}, "gamma": 0.1},
    ... )
    >>> scheduler([x]); scheduler.step(); scheduler([x])
    >>> round(x.item(), 4)
    -1.1
    """

    def __init__(
        self,
        scheduler_constructor: Callable[..., Any],
        optim_args: Mapping[str, Any],
        clip_args: OptimArgs | None = None,
    ) -> None:
        sched = getattr(scheduler_constructor, "__name__", repr(scheduler_constructor))
        if not isinstance(optim_args, Mapping) or "optimizer" not in optim_args:
            raise OptimizerError(
                f"{sched} expects optim_args = {{'optimizer': torch.optim.<Class>, "
                f"'optim_args': {{...}}, **scheduler options}}, got {optim_args!r}"
            )
        # Copy before taking keys out: Pyro pops them from the caller's dict.
        kwargs = dict(optim_args)
        optimizer = kwargs.pop("optimizer")
        inner_args = kwargs.pop("optim_args", {})
        if not (isinstance(optimizer, type) and issubclass(optimizer, torch.optim.Optimizer)):
            hint = ""
            wrapped = WRAPPED_OPTIMIZERS.get(optimizer)
            if wrapped is not None:
                hint = f"; pass the class {wrapped.__module__}.{wrapped.__qualname__} itself"
            raise OptimizerError(
                f"{sched}: 'optimizer' must be a torch.optim.Optimizer class, got "
                f"{optimizer!r}{hint}"
            )
        check_kwargs(_signature_of(scheduler_constructor), kwargs, f"{sched} options")
        self.pt_scheduler_constructor = scheduler_constructor
        self.kwargs = kwargs
        super().__init__(optimizer, inner_args, clip_args)

    def __call__(self, params: Iterable[torch.Tensor], *args: Any, **kwargs: Any) -> None:
        """Step every param's optimizer, as :meth:`PyroOptim.__call__` does.

        :param params: unconstrained param tensors.

        >>> import torch
        >>> x = torch.zeros(1, requires_grad=True); x.grad = torch.ones(1)
        >>> scheduler = PyroLRScheduler(
        ...     torch.optim.lr_scheduler.StepLR,
        ...     {"optimizer": torch.optim.SGD, "optim_args": {"lr": 0.5}, "step_size": 1},
        ... )
        >>> scheduler([x]); x.item()
        -0.5
        """
        super().__call__(params, *args, **kwargs)

    def step(self, *args: Any, **kwargs: Any) -> None:
        """Step every param's scheduler (e.g. ``step(val_loss)`` for ReduceLROnPlateau).

        >>> import torch
        >>> x = torch.zeros(1, requires_grad=True); x.grad = torch.ones(1)
        >>> scheduler = PyroLRScheduler(
        ...     torch.optim.lr_scheduler.ReduceLROnPlateau,
        ...     {"optimizer": torch.optim.SGD, "optim_args": {"lr": 1.0}, "patience": 0},
        ... )
        >>> scheduler([x]); scheduler.step(1.0); scheduler.step(1.0)
        >>> [s.optimizer.param_groups[0]["lr"] for s in scheduler.optim_objs.values()]
        [0.1]
        """
        for scheduler in self.optim_objs.values():
            scheduler.step(*args, **kwargs)

    def _get_optim(self, param: torch.Tensor) -> Any:
        optimizer = super()._get_optim(param)
        kwargs = dict(self.kwargs)
        if "schedulers" in kwargs:
            # SequentialLR/ChainedScheduler: each param's optimizer gets its own
            # sub-schedulers, made by the factories given (scheduler objects,
            # tied to one optimizer, cannot serve every param).
            kwargs["schedulers"] = [_make_scheduler(s, optimizer) for s in kwargs["schedulers"]]
        if self.pt_scheduler_constructor is lr_scheduler.ChainedScheduler:
            # Its first parameter is the schedulers; the optimizer is a keyword.
            return lr_scheduler.ChainedScheduler(optimizer=optimizer, **kwargs)
        return self.pt_scheduler_constructor(optimizer, **kwargs)

    def _torch_optimizer(self, obj: Any) -> torch.optim.Optimizer:
        return obj.optimizer  # type: ignore[no-any-return]

    def _state_of(self, obj: Any) -> Any:
        return {"optimizer": obj.optimizer.state_dict(), "scheduler": obj.state_dict()}

    def _check_state_entry(self, entry: Any, what: str) -> None:
        if not (
            isinstance(entry, Mapping)
            and set(entry) == {"optimizer", "scheduler"}
            and isinstance(entry["scheduler"], Mapping)
        ):
            raise OptimizerError(
                f"{what} is not a scheduler state (expected {{'optimizer': ..., "
                f"'scheduler': ...}} from PyroLRScheduler.get_state()), got "
                f"{type(entry).__name__}"
            )
        super()._check_state_entry(entry["optimizer"], f"{what}['optimizer']")

    def _load_state(self, obj: Any, param: torch.Tensor, state: Any, what: str) -> None:
        load_optimizer_state(obj.optimizer, param, state["optimizer"], what)
        obj.load_state_dict(dict(state["scheduler"]))
