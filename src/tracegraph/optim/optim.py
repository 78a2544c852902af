"""Pyro's ``pyro.optim.optim`` path: :class:`PyroOptim` and the wrappers of Pyro's own
optimizers.

:class:`PyroOptim` lives in :mod:`tracegraph.optim.pyro_optim`; the torch
optimizers behind :func:`ClippedAdam`, :func:`AdagradRMSProp` and
:func:`DCTAdam` in their own modules (importable here as ``pt_ClippedAdam``,
``pt_AdagradRMSProp`` and ``pt_DCTAdam``).  Like Pyro's module, this one also
binds ``Tensor``, ``Optimizer``, ``clip_grad_norm_``, ``clip_grad_value_`` and the
param-name helpers.

>>> import torch
>>> x = torch.zeros(1, requires_grad=True); x.grad = torch.ones(1)
>>> ClippedAdam({"lr": 0.1})([x]); round(x.item(), 4)
-0.1
"""

from __future__ import annotations

from typing import Any

from torch import Tensor
from torch.nn.utils import clip_grad_norm_, clip_grad_value_
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

from tracegraph.optim.adagrad_rmsprop import AdagradRMSProp as pt_AdagradRMSProp
from tracegraph.optim.clipped_adam import ClippedAdam as pt_ClippedAdam
from tracegraph.optim.dct_adam import DCTAdam as pt_DCTAdam
from tracegraph.optim.options import OptimArgs, OptimizerError
from tracegraph.optim.pyro_optim import WRAPPED_OPTIMIZERS, PyroOptim, TracegraphOptim
from tracegraph.params.module_names import (
    module_from_param_with_module_name,
    normalize_param_name,
    user_param_name,
)

__all__ = [
    "WRAPPED_OPTIMIZERS",
    "AdagradRMSProp",
    "ClippedAdam",
    "DCTAdam",
    "Optimizer",
    "OptimizerError",
    "PyroOptim",
    "Tensor",
    "TracegraphOptim",
    "clip_grad_norm_",
    "clip_grad_value_",
    "is_scheduler",
    "module_from_param_with_module_name",
    "normalize_param_name",
    "pt_AdagradRMSProp",
    "pt_ClippedAdam",
    "pt_DCTAdam",
    "user_param_name",
]


def is_scheduler(optimizer: Any) -> bool:
    """Tell a learning-rate scheduler (``True``) from a plain torch optimizer (``False``).

    :param optimizer: a ``torch.optim`` optimizer or scheduler object.
    :returns: whether it is an ``LRScheduler`` or ``ReduceLROnPlateau``.

    >>> import torch
    >>> sgd = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    >>> is_scheduler(sgd), is_scheduler(torch.optim.lr_scheduler.StepLR(sgd, 1))
    (False, True)
    """
    return isinstance(optimizer, LRScheduler | ReduceLROnPlateau)


def ClippedAdam(optim_args: OptimArgs, clip_args: OptimArgs | None = None) -> PyroOptim:
    """Pyro's ``ClippedAdam``: :class:`~tracegraph.optim.clipped_adam.ClippedAdam` per param.

    :param optim_args: options ``lr`` (default 1e-3), ``betas`` ((0.9, 0.999)),
        ``eps`` (1e-8), ``weight_decay`` (0), ``clip_norm`` (10.0; each gradient
        element is clamped to ``[-clip_norm, clip_norm]``) and ``lrd`` (1.0; ``lr`` is
        multiplied by it at every step), or a callable from param name to them.
    :param clip_args: extra clipping, as for :class:`PyroOptim`.
    :returns: the wrapped optimizer.

    >>> import math, torch
    >>> x = torch.zeros(1, requires_grad=True); x.grad = torch.ones(1)
    >>> optim = ClippedAdam({"lr": 0.1, "lrd": 0.5}); optim([x])
    >>> round(x.item(), 4), math.isclose(optim.optim_objs[x].param_groups[0]["lr"], 0.05)
    (-0.05, True)
    """
    return PyroOptim(pt_ClippedAdam, optim_args, clip_args)


def AdagradRMSProp(optim_args: OptimArgs) -> PyroOptim:
    """Pyro's ``AdagradRMSProp``: :class:`~tracegraph.optim.adagrad_rmsprop.AdagradRMSProp`
    (ADVI's step-size rule) per param.

    :param optim_args: options ``eta`` (1.0), ``delta`` (1e-16), ``t`` (0.1), or a
        callable from param name to them.
    :returns: the wrapped optimizer.

    >>> import torch
    >>> x = torch.zeros(1, requires_grad=True); x.grad = torch.ones(1)
    >>> AdagradRMSProp({"eta": 0.5})([x]); round(x.item(), 4)
    -0.25
    """
    return PyroOptim(pt_AdagradRMSProp, optim_args)


def DCTAdam(optim_args: OptimArgs) -> PyroOptim:
    """Pyro's ``DCTAdam``: :class:`~tracegraph.optim.dct_adam.DCTAdam` per param
    (ClippedAdam with a frequency-domain view of time-series params).

    :param optim_args: options ``lr``, ``betas``, ``eps``, ``clip_norm``, ``lrd``,
        ``subsample_aware``, or a callable from param name to them.
    :returns: the wrapped optimizer.

    >>> import torch
    >>> x = torch.zeros(1, requires_grad=True); x.grad = torch.ones(1)
    >>> DCTAdam({"lr": 0.1})([x]); round(x.item(), 4)
    -0.1
    """
    return PyroOptim(pt_DCTAdam, optim_args)


WRAPPED_OPTIMIZERS[ClippedAdam] = pt_ClippedAdam
WRAPPED_OPTIMIZERS[AdagradRMSProp] = pt_AdagradRMSProp
WRAPPED_OPTIMIZERS[DCTAdam] = pt_DCTAdam
