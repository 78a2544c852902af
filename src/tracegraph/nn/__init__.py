"""Neural-network modules with Pyro effects (Pyro's ``pyro.nn``).

:class:`PyroModule` makes a ``torch.nn.Module``'s attributes params
(:class:`PyroParam`) and random variables (:class:`PyroSample`);
:class:`DenseNN` is a small dense network for amortized guides.

>>> import torch
>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> from tracegraph.nn import PyroModule, PyroSample
>>> layer = PyroModule[torch.nn.Linear](3, 1)
>>> layer.weight = PyroSample(dist.Normal(0.0, 1.0).expand([1, 3]).to_event(2))
>>> layer(torch.ones(3)).shape
torch.Size([1])
"""

from tracegraph.nn.dense_nn import ConditionalDenseNN, DenseNN
from tracegraph.nn.module import (
    PyroModule,
    PyroModuleList,
    PyroParam,
    PyroSample,
    clear,
    pyro_method,
    to_pyro_module_,
)

__all__ = [
    "ConditionalDenseNN",
    "DenseNN",
    "PyroModule",
    "PyroModuleList",
    "PyroParam",
    "PyroSample",
    "clear",
    "pyro_method",
    "to_pyro_module_",
]
