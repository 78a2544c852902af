"""``AutoDelta``: a point estimate (MAP) of every latent site.

>>> import torch
>>> import tracegraph, tracegraph.distributions as dist
>>> def model():
...     tracegraph.sample("rate", dist.Gamma(4.0, 2.0))
>>> from tracegraph.infer.autoguide import init_to_mean
>>> tracegraph.clear_param_store()
>>> guide = AutoDelta(model, init_loc_fn=init_to_mean)
>>> guide()["rate"].item(), list(tracegraph.get_param_store().keys())
(2.0, ['AutoDelta.rate'])
"""

from __future__ import annotations

import operator
from contextlib import ExitStack
from typing import Any

import torch

import tracegraph.distributions as dist
from tracegraph.infer.autoguide.guide import AutoGuide, site_plates
from tracegraph.infer.autoguide.initialization import InitMessenger, init_to_median
from tracegraph.infer.autoguide.utils import deep_setattr, helpful_support_errors, periodic_repeat
from tracegraph.nn import PyroParam
from tracegraph.primitives import sample

__all__ = ["AutoDelta", "full_size_value"]


def full_size_value(value: torch.Tensor, site: Any, event_dim: int) -> torch.Tensor:
    """A prototype value grown to the full size of every subsampled plate of its
    site (by repeating it), so a param made from it holds every data point.

    >>> from tracegraph.poutine.messages import CondIndepStackFrame
    >>> site = {"cond_indep_stack": (CondIndepStackFrame("data", -1, 2, 0, 5),)}
    >>> full_size_value(torch.tensor([1.0, 2.0]), site, 0).tolist()
    [1.0, 2.0, 1.0, 2.0, 1.0]
    """
    for frame in site["cond_indep_stack"]:
        full_size = frame.full_size if frame.full_size is not None else frame.size
        if frame.vectorized and full_size != frame.size:
            value = periodic_repeat(value, full_size, frame.dim - event_dim).contiguous()
    return value


class AutoDelta(AutoGuide):
    """A guide of point masses: each latent site is a learnable constrained value
    (a :class:`~tracegraph.nn.PyroParam` named ``"AutoDelta.<site>"``), so SVI
    finds the maximum a posteriori point in the constrained space.  Inside a
    subsampled plate the param has the plate's full size and the guide uses
    the subsampled elements.

    :param model: the model.
    :param init_loc_fn: the initialization strategy of the values.
    :param create_plates: see :class:`~tracegraph.infer.autoguide.AutoGuide`.

    >>> import tracegraph, tracegraph.distributions as dist
    >>> guide = AutoDelta(lambda: tracegraph.sample("x", dist.Normal(1.0, 1e-6)))
    >>> guide.median()["x"].round().item()
    1.0
    """

    def __init__(
        self,
        model: Any,
        init_loc_fn: Any = init_to_median,
        *,
        create_plates: Any = None,
    ) -> None:
        self.init_loc_fn = init_loc_fn
        super().__init__(InitMessenger(init_loc_fn)(model), create_plates=create_plates)

    def _setup_prototype(self, *args: Any, **kwargs: Any) -> None:
        super()._setup_prototype(*args, **kwargs)
        assert self.prototype_trace is not None
        for name, site in self.prototype_trace.iter_stochastic_nodes():
            event_dim = site["fn"].event_dim
            value = full_size_value(site["value"].detach(), site, event_dim)
            with helpful_support_errors(site):
                deep_setattr(self, name, PyroParam(value, site["fn"].support, event_dim))

    def forward(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Sample every latent site at its point mass.

        :returns: ``{site name: value}``.
        """
        if self.prototype_trace is None:
            self._setup_prototype(*args, **kwargs)
        plates = self._create_plates(*args, **kwargs)
        result = {}
        for name, site in self.prototype_trace.iter_stochastic_nodes():  # type: ignore[union-attr]
            with ExitStack() as stack:
                for p in site_plates(plates, site):
                    stack.enter_context(p)
                value = operator.attrgetter(name)(self)
                result[name] = sample(name, dist.Delta(value, event_dim=site["fn"].event_dim))
        return result

    def median(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """The point of each site (subsampled like a call of the guide).

        :returns: ``{site name: value}``.
        """
        return {k: v.detach() for k, v in self(*args, **kwargs).items()}
