"""tracegraph.infer.abstract_infer is a facade over the modules holding its names."""

import tracegraph.distributions as dist
import tracegraph.infer.abstract_infer as abstract_infer
import tracegraph.infer.trace_posterior as trace_posterior
import tracegraph.infer.trace_predictive as trace_predictive
import tracegraph.infer.waic as waic
import tracegraph.poutine.util as poutine_util


def test_abstract_infer_reexports_without_logic_of_its_own():
    homes = [dist, trace_posterior, trace_predictive, waic, poutine_util]
    for name in abstract_infer.__all__:
        obj = getattr(abstract_infer, name)
        assert any(getattr(home, name, None) is obj for home in homes), name
    own = [
        v for v in vars(abstract_infer).values()
        if getattr(v, "__module__", None) == abstract_infer.__name__
    ]
    assert own == []
