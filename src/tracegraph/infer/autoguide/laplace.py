"""``AutoLaplaceApproximation``: a MAP point in unconstrained space, then a Normal
whose covariance is the inverse Hessian of the negative log-joint there.

>>> import torch
>>> import tracegraph, tracegraph.distributions as dist
>>> def model():
...     tracegraph.sample("x", dist.Normal(1.0, 2.0))
>>> from tracegraph.infer.autoguide import init_to_mean
>>> guide = AutoLaplaceApproximation(model, init_loc_fn=init_to_mean)
>>> _ = guide()
>>> round(guide.laplace_approximation().scale.item(), 4)  # the prior's scale
2.0
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

import tracegraph.distributions as dist
from tracegraph.infer.autoguide.continuous import AutoContinuous, AutoMultivariateNormal
from tracegraph.infer.autoguide.initialization import init_to_median
from tracegraph.poutine import handlers

__all__ = ["AutoLaplaceApproximation", "hessian"]


def hessian(y: torch.Tensor, xs: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
    """The Hessian of the scalar ``y`` with respect to ``xs`` (a tensor, or several
    flattened and concatenated), as an ``n x n`` matrix.

    >>> x = torch.tensor([1.0, 2.0], requires_grad=True)
    >>> hessian((x[0] * x[1]) ** 2, x).tolist()
    [[8.0, 8.0], [8.0, 2.0]]
    """
    inputs = [xs] if isinstance(xs, torch.Tensor) else list(xs)
    grads = torch.autograd.grad(y, inputs, create_graph=True)
    flat = torch.cat([g.reshape(-1) for g in grads])
    rows = []
    for i in range(flat.numel()):
        row = torch.autograd.grad(flat[i], inputs, retain_graph=True, allow_unused=True)
        rows.append(
            torch.cat(
                [
                    (torch.zeros_like(x) if r is None else r).reshape(-1)
                    for r, x in zip(row, inputs)
                ]
            )
        )
    return torch.stack(rows)


class AutoLaplaceApproximation(AutoContinuous):
    """Trained like :class:`~tracegraph.infer.autoguide.AutoDelta` in unconstrained
    space (one param ``loc``); :meth:`laplace_approximation` then gives the
    Laplace approximation as an :class:`AutoMultivariateNormal`.

    :param model: the model.
    :param init_loc_fn: the initialization strategy of the latents.

    >>> import tracegraph, tracegraph.distributions as dist
    >>> guide = AutoLaplaceApproximation(lambda: tracegraph.sample("x", dist.Gamma(2.0, 1.0)))
    >>> _ = guide()
    >>> type(guide.get_posterior()).__name__, guide.latent_dim
    ('Independent', 1)
    """

    def __init__(self, model: Any, init_loc_fn: Any = init_to_median) -> None:
        super().__init__(model, init_loc_fn=init_loc_fn)

    def _setup_prototype(self, *args: Any, **kwargs: Any) -> None:
        super()._setup_prototype(*args, **kwargs)
        self.loc = torch.nn.Parameter(self._init_loc())

    def get_posterior(self, *args: Any, **kwargs: Any) -> Any:
        """A point mass at ``loc`` (MAP inference)."""
        return dist.Delta(self.loc).to_event(1)

    def laplace_approximation(self, *args: Any, **kwargs: Any) -> AutoMultivariateNormal:
        """An :class:`AutoMultivariateNormal` centred at ``loc`` whose covariance is
        the inverse Hessian of ``-log p(x, z)`` (in unconstrained space) at ``loc``.

        Its ``loc``, ``scale`` and ``scale_tril`` are fixed tensors, not params.
        """
        guide_trace = handlers.trace(self).get_trace(*args, **kwargs)
        model_trace = handlers.trace(handlers.replay(self.model, trace=guide_trace)).get_trace(
            *args, **kwargs
        )
        loss = guide_trace.log_prob_sum() - model_trace.log_prob_sum()
        cov = torch.linalg.inv(hessian(loss, self.loc))
        loc = self.loc.detach()
        scale = cov.diagonal().sqrt().detach()
        correlation = cov.detach() / scale[:, None] / scale[None, :]
        scale_tril = torch.linalg.cholesky(correlation)
        gaussian = AutoMultivariateNormal(self.model)
        gaussian._setup_prototype(*args, **kwargs)
        for name, value in (("loc", loc), ("scale", scale), ("scale_tril", scale_tril)):
            # Constants, not params: forget the declarations without touching a
            # store entry of that name.
            gaussian._pyromodule_forget(name)
            object.__setattr__(gaussian, name, value)
        return gaussian
