"""Building the expanded copy that a distribution's ``expand`` returns.

Each of tracegraph's own distributions writes its ``expand`` in three steps:
make the instance (torch's ``_get_checked_instance``), give it expanded
parameters, then :func:`finish_expand`, which sets the shapes, keeps the
original's validation switch and its per-instance ``has_rsample`` setting.

>>> import torch
>>> import tracegraph.distributions as dist
>>> d = dist.GammaPoisson(torch.tensor(2.0), torch.tensor([1.0, 3.0]))
>>> e = d.expand((4, 2))
>>> type(e).__name__, e.batch_shape
('GammaPoisson', torch.Size([4, 2]))
"""

from __future__ import annotations

from typing import Any, TypeVar

import torch

__all__ = ["expand_tensor", "finish_expand"]

D = TypeVar("D")


def expand_tensor(value: torch.Tensor, batch_shape: torch.Size, event_ndims: int = 0) -> Any:
    """Expand ``value`` to ``batch_shape`` plus its own rightmost ``event_ndims`` dims.

    :param value: a parameter whose batch dims broadcast to ``batch_shape``.
    :param batch_shape: the new batch shape.
    :param event_ndims: how many rightmost dims of ``value`` are not batch dims.
    :returns: an expanded view.

    >>> expand_tensor(torch.zeros(3), torch.Size([2, 4]), 1).shape
    torch.Size([2, 4, 3])
    """
    event_shape = value.shape[value.dim() - event_ndims :] if event_ndims else ()
    return value.expand(torch.Size(batch_shape) + torch.Size(event_shape))


def finish_expand(
    original: Any,
    new: D,
    batch_shape: torch.Size,
    event_shape: torch.Size | None = None,
) -> D:
    """Initialise ``new``'s shapes as ``original``'s expanded copy and return it.

    Arguments are not re-validated (the original's were); the copy keeps the
    original's validation switch and ``has_rsample`` setting.

    :param original: the distribution being expanded.
    :param new: the instance whose parameters were already set.
    :param batch_shape: the new batch shape.
    :param event_shape: the event shape; ``None`` keeps the original's.
    :returns: ``new``.

    >>> import tracegraph.distributions as dist
    >>> d = dist.Logistic(0.0, 1.0).has_rsample_(False)
    >>> d.expand((3,)).has_rsample
    False
    """
    shape = original.event_shape if event_shape is None else event_shape
    torch.distributions.Distribution.__init__(
        new,  # type: ignore[arg-type]
        torch.Size(batch_shape),
        torch.Size(shape),
        validate_args=False,
    )
    new._validate_args = original._validate_args  # type: ignore[attr-defined]
    return original._keep_has_rsample(new)  # type: ignore[no-any-return]
