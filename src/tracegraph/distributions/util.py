"""Pyro's ``pyro.distributions.util`` path: a facade over the modules where these live.

Shapes: :mod:`~tracegraph.distributions.shapes`; log-density terms:
:mod:`~tracegraph.distributions.score_parts`; tensor helpers:
:mod:`~tracegraph.distributions.tensors`; decorators:
:mod:`~tracegraph.distributions.decorators`; the validation switch:
:mod:`~tracegraph.distributions.validation`.

>>> sum_rightmost(torch.ones(2, 3, 4), 2)
tensor([12., 12.])
"""

from __future__ import annotations

import torch
from torch.distributions.utils import broadcast_all

from tracegraph.distributions.decorators import (
    copy_docs_from,
    ignore_jit_warnings,
    torch_jit_script_if_tracing,
    weakmethod,
)
from tracegraph.distributions.score_parts import (
    ScoreParts,
    as_bool_mask,
    is_identically_one,
    is_identically_zero,
    scale_and_mask,
)
from tracegraph.distributions.shapes import broadcast_shape, sum_leftmost, sum_rightmost
from tracegraph.distributions.tensors import deep_to, detach, eye_like, gather, scalar_like
from tracegraph.distributions.validation import (
    enable_validation,
    is_validation_enabled,
    validation_enabled,
)

#: ``torch.logsumexp`` under the names Pyro exports.
logsumexp = torch.logsumexp
log_sum_exp = torch.logsumexp

__all__ = [
    "ScoreParts",
    "as_bool_mask",
    "broadcast_all",
    "broadcast_shape",
    "copy_docs_from",
    "deep_to",
    "detach",
    "enable_validation",
    "eye_like",
    "gather",
    "ignore_jit_warnings",
    "is_identically_one",
    "is_identically_zero",
    "is_validation_enabled",
    "log_sum_exp",
    "logsumexp",
    "scalar_like",
    "scale_and_mask",
    "sum_leftmost",
    "sum_rightmost",
    "torch_jit_script_if_tracing",
    "validation_enabled",
    "weakmethod",
]
