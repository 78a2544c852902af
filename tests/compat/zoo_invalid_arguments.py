"""Invalid handler and plate arguments: tracegraph raises the built-in exception
type Pyro raises.

Programs of the differential zoo (see ``differential.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from differential import Lib, program, traced
from zoo_handlers import _two_level
from zoo_models import _three_site_model, _two_site_model

# -- invalid handler arguments: the same built-in exception type as Pyro -----------------


def _z(lib: Lib) -> Callable[[], Any]:
    return lambda: lib.pyro.sample("z", lib.dist.Normal(0.0, 1.0))


@program
def bad_condition_without_data(lib: Lib) -> Any:
    return lib.poutine.condition(_z(lib))()


@program
def bad_condition_data_not_a_dict(lib: Lib) -> Any:
    return lib.poutine.condition(_z(lib), data=3)()


@program
def bad_do_without_data(lib: Lib) -> Any:
    return lib.poutine.do(_z(lib))()


@program
def bad_lift_without_prior(lib: Lib) -> Any:
    return lib.poutine.lift(_z(lib))()


@program
def bad_lift_prior_not_a_distribution(lib: Lib) -> Any:
    return lib.poutine.lift(lambda: lib.pyro.param("w", torch.zeros(1)), prior=3)()


@program
def bad_escape_fn_not_callable(lib: Lib) -> Any:
    return lib.poutine.escape(_z(lib), escape_fn=3)()


@program
def bad_block_hide_fn_and_expose_fn(lib: Lib) -> Any:
    return lib.poutine.block(_z(lib), hide_fn=lambda m: True, expose_fn=lambda m: True)()


@program
def block_hide_single_name_str(lib: Lib) -> Any:
    return traced(lib, lib.poutine.block(_two_level(lib), hide="z"))


@program
def bad_block_hide_not_iterable(lib: Lib) -> Any:
    return lib.poutine.block(_z(lib), hide=3)()


@program
def bad_infer_config_fn_not_callable(lib: Lib) -> Any:
    return lib.poutine.infer_config(_z(lib), config_fn={"a": 1})()


@program
def bad_trace_fn_not_callable(lib: Lib) -> Any:
    return lib.poutine.trace(3)


@program
def bad_replay_without_trace(lib: Lib) -> Any:
    return lib.poutine.replay(_z(lib))()


@program
def bad_replay_trace_not_a_trace(lib: Lib) -> Any:
    return lib.poutine.replay(_z(lib), trace=3)()


@program
def bad_seed_without_seed(lib: Lib) -> Any:
    return lib.poutine.seed(_z(lib))()


@program
def bad_seed_not_an_int(lib: Lib) -> Any:
    return lib.poutine.seed(_z(lib), rng_seed=1.5)()


@program
def bad_seed_out_of_range(lib: Lib) -> Any:
    return lib.poutine.seed(_z(lib), rng_seed=-1)()


@program
def bad_scale_not_a_number(lib: Lib) -> Any:
    return lib.poutine.scale(_z(lib), scale="x")()


@program
def bad_scale_negative_tensor(lib: Lib) -> Any:
    return lib.poutine.scale(_z(lib), scale=torch.tensor([-1.0, 1.0]))()


@program
def bad_mask_without_mask(lib: Lib) -> Any:
    return lib.poutine.mask(_z(lib))()


@program
def bad_mask_list(lib: Lib) -> Any:
    return lib.poutine.mask(_z(lib), mask=[True])()


@program
def bad_substitute_without_data(lib: Lib) -> Any:
    return lib.poutine.substitute(_z(lib))()


@program
def bad_equalize_without_sites(lib: Lib) -> Any:
    return lib.poutine.equalize(_z(lib))()


@program
def bad_equalize_sites_not_str(lib: Lib) -> Any:
    return lib.poutine.equalize(_z(lib), 3)()


@program
def bad_markov_negative_history(lib: Lib) -> Any:
    return [t for t in lib.pyro.markov(range(2), history=-1)]


@program
def bad_markov_iterating_an_int(lib: Lib) -> Any:
    return list(lib.pyro.markov(3))


@program
def bad_plate_size_a_str(lib: Lib) -> Any:
    return lib.pyro.plate("p", "3")


@program
def bad_plate_subsample_size_a_str(lib: Lib) -> Any:
    return lib.pyro.plate("p", 3, subsample_size="2")


@program
def bad_param_without_name(lib: Lib) -> Any:
    return traced(lib, lambda: lib.pyro.param(None, torch.zeros(1)))


@program
def bad_obs_mask_not_bool(lib: Lib) -> Any:
    return lib.pyro.sample(
        "x", lib.dist.Normal(torch.zeros(2), 1.0), obs=torch.zeros(2), obs_mask=torch.ones(2)
    )


@program
def substitute_warns_about_unknown_names(lib: Lib) -> Any:
    def model() -> Any:
        return lib.pyro.param("a", torch.tensor(0.5))

    return lib.poutine.substitute(model, data={"a": torch.tensor(0.3), "zz": torch.tensor(1.0)})()


# -- invalid programs and edge cases (second zoo) ----------------------------------------


@program
def error_duplicate_sample_site(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    def model():
        pyro.sample("x", dist.Normal(0.0, 1.0))
        pyro.sample("x", dist.Normal(0.0, 1.0))

    return traced(lib, model)


@program
def lenient_duplicate_sample_site_no_trace(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    # Without a trace handler Pyro does not notice the duplicate.
    pyro.sample("x", dist.Normal(0.0, 1.0))
    return pyro.sample("x", dist.Normal(0.0, 1.0))


@program
def error_duplicate_plate_name(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    def model():
        with pyro.plate("p", 3), pyro.plate("p", 3):
            pyro.sample("x", dist.Normal(0.0, 1.0))

    return traced(lib, model)


@program
def lenient_observed_shape_mismatch(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    # Pyro records the site; the mismatch surfaces in log_prob_sum.
    def model():
        with pyro.plate("p", 3):
            pyro.sample("x", dist.Normal(0.0, 1.0), obs=torch.zeros(4))

    return traced(lib, model)


@program
def lenient_observed_event_shape_mismatch(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    def model():
        pyro.sample("x", dist.Normal(torch.zeros(3), 1.0).to_event(1), obs=torch.zeros(4))

    return traced(lib, model)


@program
def lenient_observed_shape_mismatch_no_trace(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    return pyro.sample("x", dist.Normal(torch.zeros(3), 1.0).to_event(1), obs=torch.zeros(4))


@program
def lenient_observed_outside_support(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    def model():
        pyro.sample("x", dist.Exponential(1.0), obs=torch.tensor(-1.0))

    return traced(lib, model)


@program
def lenient_observed_python_list(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    def model():
        pyro.sample("x", dist.Normal(0.0, 1.0), obs=[1.0])

    return traced(lib, model)


@program
def error_sample_fn_not_distribution(lib: Lib) -> Any:
    pyro = lib.pyro
    def model():
        pyro.sample("x", torch.tensor(1.0))

    return traced(lib, model)


@program
def lenient_sample_name_not_str(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    def model():
        return pyro.sample(1, dist.Normal(0.0, 1.0))

    return traced(lib, model)


@program
def error_scale_negative(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    return traced(lib, poutine.scale(_three_site_model(pyro, dist), scale=-1.0))


@program
def error_mask_float_tensor(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    return traced(lib, poutine.mask(_three_site_model(pyro, dist), mask=torch.tensor(1.0)))


@program
def lenient_param_init_outside_support(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    def model():
        return pyro.param("p", torch.tensor(-1.0), constraint=dist.constraints.positive)

    return traced(lib, model)


@program
def error_param_missing_without_init(lib: Lib) -> Any:
    pyro = lib.pyro
    def model():
        return pyro.param("never_initialised")

    return traced(lib, model)


@program
def error_sequential_plate_duplicate_sites(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    def model():
        for _ in pyro.plate("seq", 2):
            pyro.sample("x", dist.Normal(0.0, 1.0))

    return traced(lib, model)


@program
def condition_unknown_site_is_ignored(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    model = _two_site_model(pyro, dist)
    return traced(lib, poutine.condition(model, data={"nope": torch.tensor(1.0)}))


@program
def handlers_cleaned_up_after_model_raises(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    def model():
        with pyro.plate("p", 2), poutine.scale(scale=2.0):
            pyro.sample("x", dist.Normal(0.0, 1.0))
            raise KeyError("boom")

    try:
        traced(lib, model)
    except KeyError:
        pass
    # The stack must be clean again: a fresh trace sees no leftover plate or scale.
    return traced(lib, _three_site_model(pyro, dist))
