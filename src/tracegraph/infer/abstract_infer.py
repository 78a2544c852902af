"""Pyro's ``pyro.infer.abstract_infer`` names, re-exported from the modules that
hold them (a facade: no logic lives here).

>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> from tracegraph.infer import Importance
>>> def model():
...     return tracegraph.sample("z", dist.Normal(0.0, 1.0))
>>> EmpiricalMarginal(Importance(model, num_samples=4).run()).sample_size
4
"""

from tracegraph.distributions import Categorical
from tracegraph.distributions.empirical import Empirical
from tracegraph.infer.trace_posterior import EmpiricalMarginal, Marginals, TracePosterior
from tracegraph.infer.trace_predictive import TracePredictive
from tracegraph.infer.waic import waic
from tracegraph.poutine.util import site_is_subsample

__all__ = [
    "Categorical",
    "Empirical",
    "EmpiricalMarginal",
    "Marginals",
    "TracePosterior",
    "TracePredictive",
    "site_is_subsample",
    "waic",
]
