"""``infer_shapes``: a distribution's batch and event shapes from its arguments' shapes.

The default rule reads each argument's event dims off the class's
``arg_constraints`` and broadcasts what is left; it covers every distribution
with scalar events.  The rules for the multivariate classes Pyro supports
(Dirichlet, the multivariate normals, Multinomial, OneHotCategorical) are here too.

>>> import tracegraph.distributions as dist
>>> infer_shapes_from_constraints(dist.Gamma, {"concentration": (), "rate": (5,)})
(torch.Size([5]), torch.Size([]))
>>> dirichlet_shapes(concentration=(4, 3))
((4,), (3,))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from tracegraph.distributions.shapes import broadcast_shape

__all__ = [
    "dirichlet_shapes",
    "infer_shapes_from_constraints",
    "low_rank_mvn_shapes",
    "multinomial_shapes",
    "mvn_shapes",
    "one_hot_categorical_shapes",
]

Shape = Sequence[int]


def infer_shapes_from_constraints(
    cls: type, arg_shapes: Mapping[str, Shape]
) -> tuple[torch.Size, torch.Size]:
    """The default rule: events are scalars; each argument's batch part is its shape
    without the event dims of its constraint in ``cls.arg_constraints``.

    :raises NotImplementedError: if ``cls.support`` has event dims (or they cannot
        be known without an instance).

    >>> import tracegraph.distributions as dist
    >>> infer_shapes_from_constraints(dist.Categorical, {"logits": (3, 4)})
    (torch.Size([3]), torch.Size([]))
    """
    if cls.support.event_dim:  # type: ignore[attr-defined]
        raise NotImplementedError
    arg_constraints: Any = cls.arg_constraints  # type: ignore[attr-defined]
    batch_shapes = []
    for name, shape in arg_shapes.items():
        event_dim = arg_constraints.get(name).event_dim if name in arg_constraints else 0
        batch_shapes.append(tuple(shape)[: len(shape) - event_dim])
    return torch.Size(broadcast_shape(*batch_shapes)), torch.Size()


def dirichlet_shapes(concentration: Shape) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Dirichlet: the last dim of ``concentration`` is the event.

    >>> dirichlet_shapes((3,))
    ((), (3,))
    """
    return tuple(concentration[:-1]), tuple(concentration[-1:])


def mvn_shapes(
    loc: Shape,
    covariance_matrix: Shape | None = None,
    precision_matrix: Shape | None = None,
    scale_tril: Shape | None = None,
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """MultivariateNormal: ``loc``'s last dim and the matrix's last two are the event.

    >>> mvn_shapes((3,), scale_tril=(4, 3, 3))
    ((4,), (3,))
    """
    batch_shapes = [tuple(loc[:-1])]
    for matrix in (covariance_matrix, precision_matrix, scale_tril):
        if matrix is not None:
            batch_shapes.append(tuple(matrix[:-2]))
    return broadcast_shape(*batch_shapes), tuple(loc[-1:])


def low_rank_mvn_shapes(
    loc: Shape, cov_factor: Shape, cov_diag: Shape
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """LowRankMultivariateNormal: ``loc``/``cov_diag``'s last dim and ``cov_factor``'s
    last two are the event.

    >>> low_rank_mvn_shapes((3,), (2, 3, 2), (3,))
    ((2,), (3,))
    """
    batch = broadcast_shape(tuple(loc[:-1]), tuple(cov_factor[:-2]), tuple(cov_diag[:-1]))
    return batch, tuple(loc[-1:])


def multinomial_shapes(
    total_count: Shape | None = None, probs: Shape | None = None, logits: Shape | None = None
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Multinomial: the last dim of ``probs``/``logits`` is the event.

    >>> multinomial_shapes((4,), probs=(1, 3))
    ((4,), (3,))
    """
    vector = probs if probs is not None else logits
    if vector is None:
        raise ValueError("Multinomial.infer_shapes needs the shape of probs or logits")
    batch_shapes = [tuple(vector[:-1])]
    if total_count is not None:
        batch_shapes.append(tuple(total_count))
    return broadcast_shape(*batch_shapes), tuple(vector[-1:])


def one_hot_categorical_shapes(
    probs: Shape | None = None, logits: Shape | None = None
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """OneHotCategorical: the last dim of ``probs``/``logits`` is the event.

    >>> one_hot_categorical_shapes(logits=(2, 3))
    ((2,), (3,))
    """
    vector = probs if probs is not None else logits
    if vector is None:
        raise ValueError("OneHotCategorical.infer_shapes needs the shape of probs or logits")
    return tuple(vector[:-1]), tuple(vector[-1:])
