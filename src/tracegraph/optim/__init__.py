"""Optimizers for tracegraph, wrapping ``torch.optim`` the way ``pyro.optim`` does.

Each wrapper (``Adam``, ``SGD``, ``ClippedAdam``, ``DCTAdam``, ``AdagradRMSProp``,
``StepLR``, ...) takes a dict of options -- or a callable from param name to such a
dict -- and returns a :class:`PyroOptim` that keeps one torch optimizer per param.
``TracegraphOptim`` is another name for :class:`PyroOptim`.

>>> import torch
>>> from tracegraph import optim
>>> x = torch.zeros(1, requires_grad=True); x.grad = torch.ones(1)
>>> adam = optim.Adam({"lr": 0.1}); adam([x]); round(x.item(), 4)
-0.1
"""

from __future__ import annotations

from typing import Any

from tracegraph.optim import pytorch_optimizers as _pytorch_optimizers
from tracegraph.optim.lr_scheduler import PyroLRScheduler
from tracegraph.optim.optim import (
    AdagradRMSProp,
    ClippedAdam,
    DCTAdam,
    OptimizerError,
    PyroOptim,
    TracegraphOptim,
)
from tracegraph.optim.pytorch_optimizers import (
    ASGD,
    SGD,
    Adadelta,
    Adagrad,
    Adam,
    Adamax,
    AdamW,
    ChainedScheduler,
    ConstantLR,
    CosineAnnealingLR,
    CosineAnnealingWarmRestarts,
    CyclicLR,
    ExponentialLR,
    LambdaLR,
    LinearLR,
    LRScheduler,
    MultiplicativeLR,
    MultiStepLR,
    NAdam,
    OneCycleLR,
    PolynomialLR,
    RAdam,
    ReduceLROnPlateau,
    RMSprop,
    Rprop,
    SequentialLR,
    SparseAdam,
    StepLR,
    _LRScheduler,
)

__all__ = [
    "ASGD",
    "AdagradRMSProp",
    "Adadelta",
    "ChainedScheduler",
    "DCTAdam",
    "LRScheduler",
    "SequentialLR",
    "_LRScheduler",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "ClippedAdam",
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
    "OptimizerError",
    "PolynomialLR",
    "PyroLRScheduler",
    "PyroOptim",
    "RAdam",
    "RMSprop",
    "ReduceLROnPlateau",
    "Rprop",
    "SGD",
    "SparseAdam",
    "StepLR",
    "TracegraphOptim",
]

# Wrappers of classes only newer torch versions have (Adafactor, Muon, ...).
for _name in _pytorch_optimizers.EXTRA_NAMES:
    globals()[_name] = getattr(_pytorch_optimizers, _name)
__all__ += _pytorch_optimizers.EXTRA_NAMES


def __getattr__(name: str) -> Any:
    # Say why a torch.optim name has no wrapper instead of a bare AttributeError.
    if name in _pytorch_optimizers.UNWRAPPED:
        raise AttributeError(
            f"tracegraph.optim does not wrap {name}: {_pytorch_optimizers.UNWRAPPED[name]}"
        )
    raise AttributeError(f"module 'tracegraph.optim' has no attribute {name!r}")
