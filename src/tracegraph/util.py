"""Pyro's ``pyro.util`` path: a facade re-exporting seeding, NaN/inf checks, trace
checks and small context managers from the modules that hold them.

>>> set_rng_seed(0)
>>> bool(torch_isnan(float("nan")))
True
"""

from tracegraph.errors import ExperimentalWarning
from tracegraph.infer.elbo import check_model_guide_match
from tracegraph.ops.context_tools import (
    ignore_experimental_warning,
    ignore_jit_warnings,
    jit_iter,
    optional,
    timed,
)
from tracegraph.ops.rng import get_rng_state, set_rng_seed, set_rng_state
from tracegraph.ops.tensor_checks import (
    torch_float,
    torch_isinf,
    torch_isnan,
    warn_if_inf,
    warn_if_nan,
)
from tracegraph.poutine.sites import site_is_subsample
from tracegraph.poutine.trace_checks import (
    check_if_enumerated,
    check_site_shape,
    check_traces_match,
)

__all__ = [
    "ExperimentalWarning",
    "check_if_enumerated",
    "check_model_guide_match",
    "check_site_shape",
    "check_traces_match",
    "get_rng_state",
    "ignore_experimental_warning",
    "ignore_jit_warnings",
    "jit_iter",
    "optional",
    "set_rng_seed",
    "set_rng_state",
    "site_is_subsample",
    "timed",
    "torch_float",
    "torch_isinf",
    "torch_isnan",
    "warn_if_inf",
    "warn_if_nan",
]
