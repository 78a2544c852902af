"""Pyro's ``pyro.infer.util`` names, re-exported from the modules that hold them
(a facade: no logic lives here).

>>> torch_item(torch_exp(0.0))
1.0
"""

from tracegraph.distributions.util import is_identically_zero
from tracegraph.distributions.validation import (
    enable_validation,
    is_validation_enabled,
    validation_enabled,
)
from tracegraph.infer.dice_factor import compute_site_dice_factor
from tracegraph.infer.numeric import torch_backward, torch_exp, torch_item, torch_sum, zero_grads
from tracegraph.infer.plate_sums import (
    MultiFrameTensor,
    get_dependent_plate_dims,
    get_plate_stacks,
    plate_log_prob_sum,
)
from tracegraph.infer.predictive_results import CloneMixin
from tracegraph.infer.validation import check_fully_reparametrized
from tracegraph.poutine.trace_struct import Trace
from tracegraph.poutine.util import site_is_subsample

__all__ = [
    "CloneMixin",
    "MultiFrameTensor",
    "Trace",
    "check_fully_reparametrized",
    "compute_site_dice_factor",
    "enable_validation",
    "get_dependent_plate_dims",
    "get_plate_stacks",
    "is_identically_zero",
    "is_validation_enabled",
    "plate_log_prob_sum",
    "site_is_subsample",
    "torch_backward",
    "torch_exp",
    "torch_item",
    "torch_sum",
    "validation_enabled",
    "zero_grads",
]
