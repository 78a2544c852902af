"""tracegraph.infer.util is a facade: each name is the object of the module holding it."""

import tracegraph.distributions.util as dist_util
import tracegraph.distributions.validation as validation
import tracegraph.infer.dice_factor as dice_factor
import tracegraph.infer.numeric as numeric
import tracegraph.infer.plate_sums as plate_sums
import tracegraph.infer.predictive_results as predictive_results
import tracegraph.infer.util as util
import tracegraph.infer.validation as site_checks
import tracegraph.poutine.trace_struct as trace_struct
import tracegraph.poutine.util as poutine_util

HOMES = [dist_util, validation, dice_factor, numeric, plate_sums, predictive_results,
         site_checks, trace_struct, poutine_util]


def test_infer_util_reexports_without_logic_of_its_own():
    for name in util.__all__:
        obj = getattr(util, name)
        assert any(getattr(home, name, None) is obj for home in HOMES), name
    own = [v for v in vars(util).values() if getattr(v, "__module__", None) == util.__name__]
    assert own == []
