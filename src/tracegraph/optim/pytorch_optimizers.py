"""Pyro-style wrappers of the ``torch.optim`` optimizers and learning-rate schedulers.

``Adam(optim_args, clip_args=None)`` is ``PyroOptim(torch.optim.Adam, optim_args,
clip_args)``, and likewise for every optimizer class in ``torch.optim`` except
``LBFGS``, whose step needs a closure that re-evaluates the loss many times: one
closure cannot serve many per-param optimizers. ``ExponentialLR(optim_args,
clip_args=None)`` is ``PyroLRScheduler(torch.optim.lr_scheduler.ExponentialLR,
...)``, and likewise for every scheduler, the base classes ``LRScheduler`` and
``_LRScheduler`` included.  ``SequentialLR`` and ``ChainedScheduler`` are built
from other schedulers: give those as factories of the optimizer (see
:class:`~tracegraph.optim.lr_scheduler.PyroLRScheduler`).

Classes present in every supported torch (>= 2.1) get one assignment each, so type
checkers and readers see the names; classes a newer torch adds (``Adafactor``,
``Muon``, ...) are wrapped by the loop at the bottom and listed in
:data:`EXTRA_NAMES`.

>>> import torch
>>> Adam({"lr": 0.01}).pt_optim_constructor is torch.optim.Adam
True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import torch
from torch.optim import lr_scheduler

from tracegraph.optim.lr_scheduler import PyroLRScheduler
from tracegraph.optim.options import OptimArgs
from tracegraph.optim.pyro_optim import WRAPPED_OPTIMIZERS, PyroOptim

# Not wrapped, with the reason; tracegraph.optim's __getattr__ reports it.
UNWRAPPED = {
    "LBFGS": "its step needs a closure re-evaluating the loss, which one closure cannot "
    "do for many per-param optimizers; use torch.optim.LBFGS on the param tensors directly",
}

# Scheduler options and step() arguments for a minimal working docstring example.
_SCHEDULER_EXAMPLES = {
    "ConstantLR": ("", ""),
    "CosineAnnealingLR": (', "T_max": 10', ""),
    "CosineAnnealingWarmRestarts": (', "T_0": 10', ""),
    "CyclicLR": (', "base_lr": 0.01, "max_lr": 0.1', ""),
    "ExponentialLR": (', "gamma": 0.9', ""),
    "LambdaLR": (', "lr_lambda": lambda epoch: 0.9**epoch', ""),
    "LinearLR": ("", ""),
    "MultiStepLR": (', "milestones": [2, 4]', ""),
    "MultiplicativeLR": (', "lr_lambda": lambda epoch: 0.9', ""),
    "OneCycleLR": (', "max_lr": 0.1, "total_steps": 10', ""),
    "PolynomialLR": ("", ""),
    "ReduceLROnPlateau": ("", "0.5"),
    "StepLR": (', "step_size": 2', ""),
}


class OptimizerWrapper(Protocol):
    """The type of ``Adam``, ``SGD``, ...: options in, :class:`PyroOptim` out.

    >>> wrapper: OptimizerWrapper = SGD
    >>> type(wrapper({"lr": 0.1})).__name__
    'PyroOptim'
    """

    def __call__(self, optim_args: OptimArgs, clip_args: OptimArgs | None = None) -> Any: ...


class SchedulerWrapper(Protocol):
    """The type of ``StepLR``, ``ExponentialLR``, ...: options in, scheduler out.

    >>> import torch
    >>> wrapper: SchedulerWrapper = ExponentialLR
    >>> options = {"optimizer": torch.optim.SGD, "optim_args": {"lr": 1.0}, "gamma": 0.5}
    >>> type(wrapper(options)).__name__
    'PyroLRScheduler'
    """

    def __call__(
        self, optim_args: Mapping[str, Any], clip_args: OptimArgs | None = None
    ) -> Any: ...


def _wrap_optimizer(cls: type[torch.optim.Optimizer]) -> OptimizerWrapper:
    def wrapper(optim_args: OptimArgs, clip_args: OptimArgs | None = None) -> PyroOptim:
        return PyroOptim(cls, optim_args, clip_args)

    name = cls.__name__
    wrapper.__name__ = wrapper.__qualname__ = name
    wrapper.__doc__ = f"""One :class:`torch.optim.{name}` per param, Pyro-style.

    :param optim_args: options of ``torch.optim.{name}`` (all but ``params``), or a
        callable from param name to such a dict.
    :param clip_args: optional ``{{"clip_norm": x}}`` / ``{{"clip_value": x}}``
        gradient clipping before each step, per param.
    :returns: a :class:`~tracegraph.optim.optim.PyroOptim`.
    :raises ~tracegraph.errors.OptimizerError: for an option
        ``torch.optim.{name}`` does not take.

    >>> import torch
    >>> from tracegraph.optim import {name}
    >>> {name}({{"lr": 0.01}}).pt_optim_constructor is torch.optim.{name}
    True
    """
    WRAPPED_OPTIMIZERS[wrapper] = cls
    return wrapper


def _wrap_scheduler(cls: type) -> SchedulerWrapper:
    def wrapper(
        optim_args: Mapping[str, Any], clip_args: OptimArgs | None = None
    ) -> PyroLRScheduler:
        return PyroLRScheduler(cls, optim_args, clip_args)

    name = cls.__name__
    wrapper.__name__ = wrapper.__qualname__ = name
    example = ""
    if name in _SCHEDULER_EXAMPLES:
        options, step_args = _SCHEDULER_EXAMPLES[name]
        example = f"""
    >>> import torch
    >>> from tracegraph.optim import {name}
    >>> x = torch.zeros(2, 2, requires_grad=True); x.grad = torch.ones(2, 2)
    >>> sgd = {{"lr": 0.1, "momentum": 0.9}}
    >>> scheduler = {name}({{"optimizer": torch.optim.SGD, "optim_args": sgd{options}}})
    >>> scheduler([x]); scheduler.step({step_args})
    >>> type(scheduler.optim_objs[x]).__name__
    '{name}'
    """
    wrapper.__doc__ = f"""One :class:`torch.optim.lr_scheduler.{name}` per param, Pyro-style.

    :param optim_args: ``{{"optimizer": torch.optim.<Class>, "optim_args": {{...}},
        **options of {name}}}``.
    :param clip_args: optional gradient clipping, as for
        :class:`~tracegraph.optim.optim.PyroOptim`.
    :returns: a :class:`~tracegraph.optim.lr_scheduler.PyroLRScheduler`; call it to
        step the optimizers and call its ``step()`` to step the schedulers.
    :raises ~tracegraph.errors.OptimizerError: for a missing ``optimizer`` or an
        option that the optimizer or ``{name}`` does not take.
    {example}"""
    return wrapper


def _discover() -> dict[str, tuple[type, bool]]:
    """Every wrappable class in the installed torch: name -> (class, is_scheduler)."""
    found: dict[str, tuple[type, bool]] = {}
    for name, obj in vars(torch.optim).items():
        if (
            isinstance(obj, type)
            and issubclass(obj, torch.optim.Optimizer)
            and obj is not torch.optim.Optimizer
        ):
            found[name] = (obj, False)
    scheduler_bases = (lr_scheduler.LRScheduler, lr_scheduler.ReduceLROnPlateau)
    for name, obj in vars(lr_scheduler).items():
        if isinstance(obj, type) and issubclass(obj, scheduler_bases):
            if obj is not lr_scheduler.LRScheduler:
                found[name] = (obj, True)
    return {
        name: entry
        for name, entry in found.items()
        if not name.startswith("_") and name not in UNWRAPPED
    }


ASGD = _wrap_optimizer(torch.optim.ASGD)
Adadelta = _wrap_optimizer(torch.optim.Adadelta)
Adagrad = _wrap_optimizer(torch.optim.Adagrad)
Adam = _wrap_optimizer(torch.optim.Adam)
AdamW = _wrap_optimizer(torch.optim.AdamW)
Adamax = _wrap_optimizer(torch.optim.Adamax)
NAdam = _wrap_optimizer(torch.optim.NAdam)
RAdam = _wrap_optimizer(torch.optim.RAdam)
RMSprop = _wrap_optimizer(torch.optim.RMSprop)
Rprop = _wrap_optimizer(torch.optim.Rprop)
SGD = _wrap_optimizer(torch.optim.SGD)
SparseAdam = _wrap_optimizer(torch.optim.SparseAdam)

ConstantLR = _wrap_scheduler(lr_scheduler.ConstantLR)
CosineAnnealingLR = _wrap_scheduler(lr_scheduler.CosineAnnealingLR)
CosineAnnealingWarmRestarts = _wrap_scheduler(lr_scheduler.CosineAnnealingWarmRestarts)
CyclicLR = _wrap_scheduler(lr_scheduler.CyclicLR)
ExponentialLR = _wrap_scheduler(lr_scheduler.ExponentialLR)
LambdaLR = _wrap_scheduler(lr_scheduler.LambdaLR)
LinearLR = _wrap_scheduler(lr_scheduler.LinearLR)
MultiStepLR = _wrap_scheduler(lr_scheduler.MultiStepLR)
MultiplicativeLR = _wrap_scheduler(lr_scheduler.MultiplicativeLR)
OneCycleLR = _wrap_scheduler(lr_scheduler.OneCycleLR)
PolynomialLR = _wrap_scheduler(lr_scheduler.PolynomialLR)
ReduceLROnPlateau = _wrap_scheduler(lr_scheduler.ReduceLROnPlateau)
StepLR = _wrap_scheduler(lr_scheduler.StepLR)
SequentialLR = _wrap_scheduler(lr_scheduler.SequentialLR)
ChainedScheduler = _wrap_scheduler(lr_scheduler.ChainedScheduler)
LRScheduler = _wrap_scheduler(lr_scheduler.LRScheduler)
_LRScheduler = _wrap_scheduler(lr_scheduler._LRScheduler)

__all__ = [
    "ASGD",
    "Adadelta",
    "ChainedScheduler",
    "LRScheduler",
    "SequentialLR",
    "_LRScheduler",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "ConstantLR",
    "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts",
    "CyclicLR",
    "ExponentialLR",
    "LambdaLR",
    "LinearLR",
    "MultiStepLR",
    "MultiplicativeLR",
    "NAdam",
    "OneCycleLR",
    "OptimizerWrapper",
    "PolynomialLR",
    "RAdam",
    "RMSprop",
    "ReduceLROnPlateau",
    "Rprop",
    "SGD",
    "SchedulerWrapper",
    "SparseAdam",
    "StepLR",
]

#: Wrappers for classes that only newer torch versions have (e.g. ``Adafactor``).
EXTRA_NAMES: list[str] = []
for _name, (_cls, _is_scheduler) in sorted(_discover().items()):
    if _name not in globals():
        globals()[_name] = _wrap_scheduler(_cls) if _is_scheduler else _wrap_optimizer(_cls)
        EXTRA_NAMES.append(_name)
__all__ += EXTRA_NAMES
