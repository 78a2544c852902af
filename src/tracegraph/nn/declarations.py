"""What a :class:`~tracegraph.nn.PyroModule` attribute may be declared as: a
learnable constrained parameter (:class:`PyroParam`) or a random variable
(:class:`PyroSample`).

Both also work as decorators on methods, for lazy initial values and priors that
read other attributes: the method's name is the attribute's name.

>>> import torch
>>> from torch.distributions import constraints
>>> PyroParam(torch.ones(2), constraints.positive, event_dim=1).event_dim
1
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import torch
from torch.distributions import constraints
from torch.distributions.constraints import Constraint

if TYPE_CHECKING:
    from tracegraph.nn.module import PyroModule

__all__ = ["PyroParam", "PyroSample"]

InitValue = torch.Tensor | Callable[[], torch.Tensor] | None


class PyroParam(NamedTuple):
    """Declares a learnable attribute of a :class:`~tracegraph.nn.PyroModule`, the
    module counterpart of :func:`tracegraph.param`.

    Assign it to an attribute (``module.scale = PyroParam(torch.ones(3),
    constraints.positive)``); reading the attribute inside the module's call
    is a ``param`` statement named after the attribute's dotted path.  As a
    decorator on a method returning the initial value, the value is computed on
    first access.

    :param init_value: the initial constrained value, a zero-argument callable
        returning it (called when needed), or None when used as a decorator.
    :param constraint: the support of the value (``constraints.real``).
    :param event_dim: how many rightmost dims are not batch dims; the others are
        subsampled by enclosing subsampled plates.  None: all are event dims.

    >>> import torch
    >>> from tracegraph.nn import PyroModule
    >>> class Scaled(PyroModule):
    ...     @PyroParam(constraint=constraints.positive)
    ...     def scale(self):
    ...         return torch.full((2,), 3.0)
    >>> Scaled().scale.tolist()
    [3.0, 3.0]
    """

    init_value: InitValue = None
    constraint: Constraint = constraints.real
    event_dim: int | None = None

    def __get__(self, obj: PyroModule | None, obj_type: type) -> Any:
        # Used as a decorator: the class attribute is this declaration, and the
        # first read on an instance turns it into the instance's param.
        if obj is None:
            return self
        method: Any = self.init_value
        assert callable(method), "a PyroParam class attribute decorates a method"
        name = method.__name__
        if name not in obj.__dict__.get("_pyro_params", {}):
            obj.__setattr__(name, self._replace(init_value=lambda: method(obj)))
        return obj.__getattr__(name)

    def __call__(self, init_value: InitValue) -> PyroParam:  # type: ignore[override]
        """Complete a declaration made without an initial value (the decorator form).

        >>> import torch
        >>> PyroParam(event_dim=0)(torch.zeros(1)).event_dim
        0
        """
        return self._replace(init_value=init_value)


@dataclass(frozen=True)
class PyroSample:
    """Declares a random attribute of a :class:`~tracegraph.nn.PyroModule`, the
    module counterpart of :func:`tracegraph.sample`.

    ``prior`` is a distribution, or a function of the module returning a
    distribution (the prior may read other attributes) or a tensor (then the
    attribute is a ``deterministic`` site).  Inside one call of the module the
    attribute is drawn once and cached; each call draws afresh.

    :param prior: the distribution, or a function ``module -> distribution or tensor``.

    >>> import tracegraph.distributions as dist
    >>> from tracegraph.nn import PyroModule
    >>> from tracegraph import poutine
    >>> class Coin(PyroModule):
    ...     @PyroSample
    ...     def p(self):
    ...         return dist.Beta(2.0, 2.0)
    ...     def forward(self):
    ...         return self.p
    >>> list(poutine.trace(Coin()).get_trace().stochastic_nodes)
    ['p']
    """

    prior: Any

    def __get__(self, obj: PyroModule | None, obj_type: type) -> Any:
        if obj is None:
            return self
        name = self.prior.__name__
        if name not in obj.__dict__.get("_pyro_samples", {}):
            obj.__setattr__(name, PyroSample(self.prior))
        return obj.__getattr__(name)
