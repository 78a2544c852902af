"""Pyro's ``pyro.infer.autoguide.guides`` path: a facade re-exporting the autoguide
classes (and the helpers Pyro imports there) from the modules that hold them.

>>> AutoNormal.__module__
'tracegraph.infer.autoguide.normal'
"""

from torch.distributions import biject_to

from tracegraph.distributions.shapes import sum_rightmost
from tracegraph.distributions.tensors import eye_like
from tracegraph.distributions.transforms import iterated
from tracegraph.infer.autoguide.continuous import (
    AutoContinuous,
    AutoDiagonalNormal,
    AutoLowRankMultivariateNormal,
    AutoMultivariateNormal,
)
from tracegraph.infer.autoguide.delta import AutoDelta
from tracegraph.infer.autoguide.guide import (
    AutoCallable,
    AutoGuide,
    AutoGuideList,
    prototype_hide_fn,
)
from tracegraph.infer.autoguide.initialization import (
    InitMessenger,
    init_to_feasible,
    init_to_median,
)
from tracegraph.infer.autoguide.laplace import AutoLaplaceApproximation, hessian
from tracegraph.infer.autoguide.normal import AutoNormal
from tracegraph.infer.autoguide.utils import deep_setattr, helpful_support_errors, periodic_repeat
from tracegraph.nn import PyroModule, PyroParam
from tracegraph.poutine.sites import site_is_subsample

__all__ = [
    "AutoCallable",
    "AutoContinuous",
    "AutoDelta",
    "AutoDiagonalNormal",
    "AutoGuide",
    "AutoGuideList",
    "AutoLaplaceApproximation",
    "AutoLowRankMultivariateNormal",
    "AutoMultivariateNormal",
    "AutoNormal",
    "InitMessenger",
    "PyroModule",
    "PyroParam",
    "biject_to",
    "deep_setattr",
    "eye_like",
    "helpful_support_errors",
    "hessian",
    "init_to_feasible",
    "init_to_median",
    "iterated",
    "periodic_repeat",
    "prototype_hide_fn",
    "site_is_subsample",
    "sum_rightmost",
]
