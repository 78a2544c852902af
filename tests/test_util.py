"""tracegraph.util: Pyro's pyro.util names, re-exported from where they live."""

from __future__ import annotations

import tracegraph.util as util
from tracegraph import errors
from tracegraph.infer import elbo
from tracegraph.ops import context_tools, tensor_checks
from tracegraph.ops import rng as seeding
from tracegraph.poutine import sites as site_predicates
from tracegraph.poutine import trace_checks


def test_util_reexports_the_same_objects():
    homes = {
        "ExperimentalWarning": errors,
        "check_if_enumerated": trace_checks,
        "check_model_guide_match": elbo,
        "check_site_shape": trace_checks,
        "check_traces_match": trace_checks,
        "get_rng_state": seeding,
        "ignore_experimental_warning": context_tools,
        "ignore_jit_warnings": context_tools,
        "jit_iter": context_tools,
        "optional": context_tools,
        "set_rng_seed": seeding,
        "set_rng_state": seeding,
        "site_is_subsample": site_predicates,
        "timed": context_tools,
        "torch_float": tensor_checks,
        "torch_isinf": tensor_checks,
        "torch_isnan": tensor_checks,
        "warn_if_inf": tensor_checks,
        "warn_if_nan": tensor_checks,
    }
    assert sorted(homes) == sorted(util.__all__)
    for name, home in homes.items():
        assert getattr(util, name) is getattr(home, name), name
