"""VIMCO (Mnih & Rezende 2016): the importance-weighted bound over ``K``
particles, with each particle's score-function learning signal baselined by the
bound in which its log-weight is replaced by the mean of the others' (the
leave-one-out geometric-mean baseline); vectorized over particles with
``vectorize_particles=True``.

It is :class:`~tracegraph.infer.renyi_elbo.RenyiELBO` at ``alpha = 0``, whose
score-function part is this estimator; see :mod:`tracegraph.infer.multi_sample`
for the formulas and the per-data-point bound along plates.

>>> import torch
>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> def model():
...     z = tracegraph.sample("z", dist.Bernoulli(0.5))
...     tracegraph.sample("x", dist.Normal(3.0 * z, 1.0), obs=torch.tensor(3.0))
>>> def guide():
...     p = tracegraph.param("p", torch.tensor(0.5), constraint=dist.constraints.unit_interval)
...     tracegraph.sample("z", dist.Bernoulli(p))
>>> elbo = VIMCO(num_particles=4, vectorize_particles=True)
>>> _ = elbo.loss_and_grads(model, guide)
>>> tracegraph.param("p").unconstrained().grad.shape
torch.Size([])
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from tracegraph.infer.renyi_elbo import RenyiELBO

__all__ = ["VIMCO"]


class VIMCO(RenyiELBO):
    """The importance-weighted bound with VIMCO's learning signals.

    :param num_particles: ``K >= 2`` particles (the baseline of each is built
        from the others).
    :param max_plate_nesting: see :class:`~tracegraph.infer.elbo.ELBO`.
    :param max_iarange_nesting: deprecated alias of ``max_plate_nesting``.
    :param vectorize_particles: draw the particles in one run, in a plate.
    :param strict_enumeration_warning: accepted for Pyro compatibility.
    :param independent_plates: plates whose elements are separate problems (see
        :class:`~tracegraph.infer.renyi_elbo.RenyiELBO`).
    :raises ValueError: for ``num_particles < 2``.

    >>> VIMCO(num_particles=4).alpha
    0.0
    """

    def __init__(
        self,
        num_particles: int = 2,
        max_plate_nesting: float = math.inf,
        max_iarange_nesting: float | None = None,
        vectorize_particles: bool = False,
        strict_enumeration_warning: bool = True,
        *,
        independent_plates: Iterable[str] | None = None,
    ) -> None:
        if not isinstance(num_particles, int) or num_particles < 2:
            raise ValueError(
                f"VIMCO needs num_particles >= 2 (each particle's baseline comes from the "
                f"others), got {num_particles!r}"
            )
        super().__init__(
            alpha=0.0,
            num_particles=num_particles,
            max_plate_nesting=max_plate_nesting,
            max_iarange_nesting=max_iarange_nesting,
            vectorize_particles=vectorize_particles,
            strict_enumeration_warning=strict_enumeration_warning,
            independent_plates=independent_plates,
        )
