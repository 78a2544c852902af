"""Automatic guides (Pyro's ``pyro.infer.autoguide``): guides built from the model.

>>> import torch
>>> import tracegraph, tracegraph.distributions as dist
>>> from tracegraph.infer import SVI, Trace_ELBO
>>> from tracegraph.optim import Adam
>>> def model(data):
...     loc = tracegraph.sample("loc", dist.Normal(0.0, 10.0))
...     with tracegraph.plate("data", len(data)):
...         tracegraph.sample("x", dist.Normal(loc, 1.0), obs=data)
>>> guide = AutoNormal(model)
>>> svi = SVI(model, guide, Adam({"lr": 0.1}), Trace_ELBO())
>>> losses = [svi.step(torch.full((10,), 3.0)) for _ in range(200)]
>>> round(guide.median()["loc"].item())
3
"""

# As after ``import pyro``: the facade module is reachable as an attribute.
from tracegraph.infer.autoguide import guides as guides
from tracegraph.infer.autoguide.continuous import (
    AutoContinuous,
    AutoDiagonalNormal,
    AutoLowRankMultivariateNormal,
    AutoMultivariateNormal,
)
from tracegraph.infer.autoguide.delta import AutoDelta
from tracegraph.infer.autoguide.discrete import AutoDiscrete, AutoMixed
from tracegraph.infer.autoguide.effect import (
    AutoHierarchicalNormalMessenger,
    AutoMessenger,
    AutoNormalMessenger,
    AutoRegressiveMessenger,
)
from tracegraph.infer.autoguide.guide import AutoCallable, AutoGuide, AutoGuideList
from tracegraph.infer.autoguide.initialization import (
    init_to_feasible,
    init_to_generated,
    init_to_mean,
    init_to_median,
    init_to_sample,
    init_to_uniform,
    init_to_value,
)
from tracegraph.infer.autoguide.laplace import AutoLaplaceApproximation
from tracegraph.infer.autoguide.normal import AutoNormal
from tracegraph.infer.autoguide.utils import mean_field_entropy

__all__ = [
    "AutoCallable",
    "AutoContinuous",
    "AutoDelta",
    "AutoDiagonalNormal",
    "AutoDiscrete",
    "AutoGuide",
    "AutoGuideList",
    "AutoHierarchicalNormalMessenger",
    "AutoLaplaceApproximation",
    "AutoLowRankMultivariateNormal",
    "AutoMessenger",
    "AutoMixed",
    "AutoMultivariateNormal",
    "AutoNormal",
    "AutoNormalMessenger",
    "AutoRegressiveMessenger",
    "init_to_feasible",
    "init_to_generated",
    "init_to_mean",
    "init_to_median",
    "init_to_sample",
    "init_to_uniform",
    "init_to_value",
    "mean_field_entropy",
]
