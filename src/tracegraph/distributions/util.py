"""Log-density arithmetic: broadcasting shapes, summing event dims, scaling and masking.

These are the few tensor operations every site's log-probability goes through on
its way into an objective, so they live in one place.  ``ScoreParts`` is the
bundle of log-densities a site contributes; it is scaled and masked with the same
rule as a single log-probability.

>>> sum_rightmost(torch.ones(2, 3, 4), 2)
tensor([12., 12.])
"""

from __future__ import annotations

from typing import NamedTuple, overload

import torch

from tracegraph.distributions.validation import (
    enable_validation,
    is_validation_enabled,
    validation_enabled,
)
from tracegraph.errors import ShapeError, SiteError

# The validation switch is defined in its own module and re-exported here
# because Pyro users import it from ``pyro.distributions.util``.
__all__ = [
    "ScoreParts",
    "broadcast_shape",
    "enable_validation",
    "is_identically_zero",
    "is_validation_enabled",
    "scale_and_mask",
    "sum_rightmost",
    "validation_enabled",
]

#: What a log-density term may be: a tensor, or a plain number (``0.0`` marks a
#: term that is known to vanish, so consumers can skip it without touching torch).
Term = torch.Tensor | float
#: What a mask may be: a bool tensor that broadcasts with the term, or a Python bool.
Mask = torch.Tensor | bool | None


def broadcast_shape(*shapes: tuple[int, ...] | torch.Size) -> torch.Size:
    """Broadcast shapes with torch's rules and fail with a readable message.

    :param shapes: any number of shapes (tuples or ``torch.Size``).
    :returns: the broadcast shape.
    :raises ShapeError: if the shapes do not broadcast; the message lists them all.

    >>> broadcast_shape((3, 1), (4,), ())
    torch.Size([3, 4])
    >>> broadcast_shape((2,), (3,))
    Traceback (most recent call last):
    ...
    tracegraph.errors.ShapeError: shapes (2,), (3,) do not broadcast: ...
    """
    try:
        return torch.broadcast_shapes(*shapes)
    except RuntimeError as exc:
        listed = ", ".join(str(tuple(s)) for s in shapes)
        raise ShapeError(
            f"shapes {listed} do not broadcast: each dim, aligned from the right, must "
            "be equal or 1; hint: check plate sizes and the batch_shape of the distribution"
        ) from exc


@overload
def sum_rightmost(value: torch.Tensor, dim: int) -> torch.Tensor: ...
@overload
def sum_rightmost(value: float, dim: int) -> float: ...
def sum_rightmost(value: Term, dim: int) -> Term:
    """Sum out the rightmost ``dim`` dimensions of ``value``.

    A negative ``dim`` keeps the ``-dim`` leftmost dimensions and sums the rest.
    Numbers pass through unchanged, so a term that is the constant ``0.0`` stays one.

    :param value: a tensor or a number.
    :param dim: how many rightmost dims to sum (negative: how many leftmost to keep).
    :returns: the reduced tensor, or ``value`` itself when there is nothing to sum.

    >>> sum_rightmost(torch.ones(2, 3), 1)
    tensor([3., 3.])
    >>> sum_rightmost(torch.ones(2, 3, 4), -1).shape
    torch.Size([2])
    >>> sum_rightmost(0.0, 3)
    0.0
    """
    if not isinstance(value, torch.Tensor):
        return value
    if dim < 0:
        dim += value.dim()
    if dim == 0:
        return value
    if dim > value.dim():
        raise ShapeError(
            f"cannot sum the rightmost {dim} dims of a tensor of shape {tuple(value.shape)}"
        )
    return value.sum(tuple(range(-dim, 0)))


def is_identically_zero(value: object) -> bool:
    """Tell whether ``value`` is the plain number zero (not a tensor of zeros).

    Log-density terms that are known to vanish are represented by the number
    ``0.0``; this is the cheap test consumers use to skip them.

    :param value: anything.
    :returns: ``True`` only for a Python ``int``/``float`` equal to zero.

    >>> is_identically_zero(0.0), is_identically_zero(torch.zeros(2))
    (True, False)
    """
    return isinstance(value, int | float) and not isinstance(value, bool) and value == 0


@overload
def scale_and_mask(tensor: torch.Tensor, scale: Term = 1.0, mask: Mask = None) -> torch.Tensor: ...
@overload
def scale_and_mask(tensor: float, scale: Term = 1.0, mask: Mask = None) -> Term: ...
def scale_and_mask(tensor: Term, scale: Term = 1.0, mask: Mask = None) -> Term:
    """Multiply a log-density by ``scale`` and zero it where ``mask`` is ``False``.

    Masked-out entries become exactly ``0`` even when they held ``-inf`` or ``nan``
    (``torch.where`` selects rather than multiplies), and they are zeroed *before*
    scaling so a gradient with respect to ``scale`` stays finite.

    :param tensor: the log-density (a tensor, or a number such as ``0.0``).
    :param scale: a number or a tensor that broadcasts with ``tensor``.
    :param mask: ``None`` or ``True`` for no mask, ``False`` to zero everything, or a
        bool tensor that broadcasts with ``tensor`` (the result takes the broadcast shape).
    :returns: the scaled and masked log-density.
    :raises SiteError: if ``mask`` is neither ``None``, a bool, nor a bool tensor.

    >>> lp = torch.tensor([-1.0, -float("inf")])
    >>> scale_and_mask(lp, scale=2.0, mask=torch.tensor([True, False]))
    tensor([-2., 0.])
    >>> scale_and_mask(0.0, scale=5.0, mask=torch.tensor([True]))
    0.0
    """
    if not (mask is None or isinstance(mask, bool)) and not (
        isinstance(mask, torch.Tensor) and mask.dtype == torch.bool
    ):
        got = mask.dtype if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise SiteError(
            f"expected mask to be a bool or a bool tensor, got {got}; hint: use "
            "`mask.bool()` or a comparison such as `x > 0`"
        )
    if is_identically_zero(tensor):
        return tensor
    if mask is None or mask is True:
        if isinstance(scale, int | float) and scale == 1:
            return tensor
        return tensor * scale
    if mask is False:
        # A zero of the broadcast shape, so the caller's shape bookkeeping holds.
        return torch.zeros_like(torch.as_tensor(tensor) * scale)
    tensor = torch.as_tensor(tensor)
    masked = torch.where(mask, tensor, tensor.new_zeros(()))
    if isinstance(scale, int | float) and scale == 1:
        return masked
    return masked * scale


class ScoreParts(NamedTuple):
    """The three log-density terms a sample site contributes to an objective.

    ``log_prob`` is the site's log-density.  ``score_function`` is the term whose
    gradient is the score-function (REINFORCE) estimator, and ``entropy_term`` the
    term differentiated directly through a reparameterized sample.  Following Pyro,
    a reparameterized site has ``score_function = 0.0`` and ``entropy_term =
    log_prob``; a non-reparameterized site has ``score_function = log_prob`` and
    ``entropy_term = 0.0`` (Schulman et al. 2015, stochastic computation graphs).

    >>> parts = ScoreParts(torch.tensor([-1.0, -2.0]), 0.0, torch.tensor([-1.0, -2.0]))
    >>> parts.scale_and_mask(3.0, torch.tensor([True, False])).log_prob
    tensor([-3., 0.])
    """

    log_prob: Term
    score_function: Term
    entropy_term: Term

    def scale_and_mask(self, scale: Term = 1.0, mask: Mask = None) -> ScoreParts:
        """Apply :func:`scale_and_mask` to ``log_prob`` and ``entropy_term``.

        ``score_function`` is left as it is, as in Pyro: it multiplies a downstream
        cost built from log-probs that are already scaled and masked, and a masked
        value still influences that cost, so its score still matters.

        :param scale: multiplies ``log_prob`` and ``entropy_term``.
        :param mask: zeroes them where it is ``False``.
        :returns: a new ``ScoreParts`` (``self`` when there is nothing to apply).

        >>> ScoreParts(torch.tensor(2.0), torch.tensor(2.0), 0.0).scale_and_mask(0.5)
        ScoreParts(log_prob=tensor(1.), score_function=tensor(2.), entropy_term=0.0)
        """
        if mask is None and isinstance(scale, int | float) and scale == 1:
            return self  # nothing to do: no new tuple on every site of every step
        return ScoreParts(
            scale_and_mask(self.log_prob, scale, mask),
            self.score_function,
            scale_and_mask(self.entropy_term, scale, mask),
        )
