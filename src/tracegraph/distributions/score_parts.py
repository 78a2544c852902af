"""Log-density terms on their way into an objective: ``ScoreParts``, scaling, masking.

A site contributes a :class:`ScoreParts` bundle; scale factors (from
subsampling, ``poutine.scale``) and masks (``.mask(...)``, ``poutine.mask``)
apply to it with one rule, :func:`scale_and_mask`.  A term known to vanish is
the plain number ``0``, which :func:`is_identically_zero` recognises so that
consumers can skip it without touching torch.

>>> lp = torch.tensor([-1.0, -2.0])
>>> ScoreParts(lp, 0, lp).scale_and_mask(3.0, torch.tensor([True, False])).log_prob
tensor([-3., 0.])
"""

from __future__ import annotations

import numbers
from typing import NamedTuple, overload

import torch

from tracegraph.distributions.validation import is_validation_enabled
from tracegraph.errors import SiteError
from tracegraph.ops.provenance import untracked

__all__ = [
    "ScoreParts",
    "as_bool_mask",
    "is_identically_one",
    "is_identically_zero",
    "scale_and_mask",
]

#: What a log-density term may be: a tensor, or a plain number (``0`` marks a
#: term that is known to vanish).
Term = torch.Tensor | float
#: What a mask may be: a bool tensor that broadcasts with the term, or a Python bool.
Mask = torch.Tensor | bool | None


def is_identically_zero(x: object) -> bool:
    """Tell whether ``x`` is the plain number zero (never true for a tensor).

    :param x: anything.
    :returns: ``True`` for a Python number equal to 0 (``False`` counts, as in Pyro).

    >>> is_identically_zero(0), is_identically_zero(0.0), is_identically_zero(torch.zeros(()))
    (True, True, False)
    """
    return isinstance(x, numbers.Number) and x == 0


def is_identically_one(x: object) -> bool:
    """Tell whether ``x`` is the plain number one (never true for a tensor).

    :param x: anything.
    :returns: ``True`` for a Python number equal to 1.

    >>> is_identically_one(1.0), is_identically_one(torch.ones(()))
    (True, False)
    """
    return isinstance(x, numbers.Number) and x == 1


def as_bool_mask(mask: object, where: str = "") -> Mask:
    """Check a mask and return it as ``None``, a bool or a bool tensor.

    Besides bools and bool tensors, numeric 0/1 tensors are accepted (Pyro
    programs write ``.mask(z_pres)`` with a sampled Bernoulli value) and so are
    the Python numbers 0 and 1.  Any other value is refused while validation is
    on (:func:`~tracegraph.distributions.validation.enable_validation`); with it
    off, numeric masks are converted with ``.bool()`` unchecked, as Pyro does.

    :param mask: the mask to check.
    :param where: what the mask belongs to, for the message (e.g. ``"site 'z'"``).
    :returns: the mask, numeric tensors converted to bool.
    :raises SiteError: for other types, or numeric tensors with values other than 0/1.

    >>> as_bool_mask(torch.tensor([1.0, 0.0]))
    tensor([ True, False])
    >>> as_bool_mask(torch.tensor([0.5]), "site 'z'")
    Traceback (most recent call last):
    ...
    tracegraph.errors.SiteError: mask of site 'z' must hold only 0 and 1 ...
    """
    if mask is None or isinstance(mask, bool):
        return mask
    at = f" of {where}" if where else ""
    if isinstance(mask, torch.Tensor):
        if mask.dtype == torch.bool:
            return mask
        if mask.is_complex():
            raise SiteError(f"mask{at} must be a bool or a 0/1 tensor, got dtype {mask.dtype}")
        if is_validation_enabled() and not _is_zero_one(mask):
            raise SiteError(
                f"mask{at} must hold only 0 and 1 (or be a bool tensor), got a "
                f"{mask.dtype} tensor with other values; hint: compare, e.g. `x > 0.5`, "
                "or convert with `mask.bool()` if any nonzero value means True"
            )
        return mask.bool()
    if isinstance(mask, numbers.Number) and mask in (0, 1):
        return bool(mask)
    raise SiteError(
        f"mask{at} must be a bool, a bool tensor or a 0/1 tensor, got "
        f"{type(mask).__name__}: {mask!r}"
    )


def _is_zero_one(mask: torch.Tensor) -> bool:
    # A check only (raise or go on): untracked, so that a mask computed from a
    # sampled value does not record control flow on it.
    with untracked():
        return bool(((mask == 0) | (mask == 1)).all())


@overload
def scale_and_mask(
    tensor: torch.Tensor, scale: Term = 1.0, mask: object = None
) -> torch.Tensor: ...
@overload
def scale_and_mask(tensor: float, scale: Term = 1.0, mask: object = None) -> Term: ...
def scale_and_mask(tensor: Term, scale: Term = 1.0, mask: object = None) -> Term:
    """Multiply a log-density by ``scale`` and zero it where ``mask`` is false.

    Masked-out entries become exactly ``0`` even when they held ``-inf`` or
    ``nan`` (``torch.where`` selects rather than multiplies), and they are
    zeroed *before* scaling so a gradient with respect to ``scale`` stays
    finite.  A term that is the number ``0`` is returned unchanged.

    :param tensor: the log-density (a tensor, or a number such as ``0``).
    :param scale: a number or a tensor that broadcasts with ``tensor``.
    :param mask: ``None`` or ``True`` for no mask, ``False`` to zero everything,
        or a bool (or 0/1) tensor that broadcasts with ``tensor`` (the result
        takes the broadcast shape).
    :returns: the scaled and masked log-density.
    :raises SiteError: for a mask that :func:`as_bool_mask` refuses.

    >>> lp = torch.tensor([-1.0, -float("inf")])
    >>> scale_and_mask(lp, scale=2.0, mask=torch.tensor([True, False]))
    tensor([-2., 0.])
    >>> scale_and_mask(0, scale=5.0, mask=torch.tensor([True]))
    0
    """
    if not (mask is None or isinstance(mask, bool)) and not (
        isinstance(mask, torch.Tensor) and mask.dtype == torch.bool
    ):
        mask = as_bool_mask(mask)
    if is_identically_zero(tensor):
        return tensor
    if mask is None or mask is True:
        if is_identically_one(scale):
            return tensor
        return tensor * scale
    if mask is False:
        # A zero of the broadcast shape, so the caller's shape bookkeeping holds.
        return torch.zeros_like(torch.as_tensor(tensor) * scale)
    assert isinstance(mask, torch.Tensor)
    tensor = torch.as_tensor(tensor)
    masked = torch.where(mask, tensor, tensor.new_zeros(()))
    if is_identically_one(scale):
        return masked
    return masked * scale


class ScoreParts(NamedTuple):
    """The three log-density terms a sample site contributes to an objective.

    ``log_prob`` is the site's log-density.  ``score_function`` is the term whose
    gradient is the score-function (REINFORCE) estimator, and ``entropy_term`` the
    term differentiated directly through a reparameterized sample.  Following Pyro,
    a reparameterized site has ``score_function = 0`` and ``entropy_term =
    log_prob``; a non-reparameterized site has ``score_function = log_prob`` and
    ``entropy_term = 0`` (Schulman et al. 2015, stochastic computation graphs).

    >>> parts = ScoreParts(torch.tensor([-1.0, -2.0]), 0, torch.tensor([-1.0, -2.0]))
    >>> parts.scale_and_mask(3.0, torch.tensor([True, False])).log_prob
    tensor([-3., 0.])
    """

    log_prob: Term
    score_function: Term
    entropy_term: Term

    def scale_and_mask(self, scale: Term = 1.0, mask: object = None) -> ScoreParts:
        """Apply :func:`scale_and_mask` to ``log_prob`` and ``entropy_term``.

        ``score_function`` is left as it is, as in Pyro: it multiplies a downstream
        cost built from log-probs that are already scaled and masked, and a masked
        value still influences that cost, so its score still matters.

        :param scale: multiplies ``log_prob`` and ``entropy_term``.
        :param mask: zeroes them where it is false.
        :returns: a new ``ScoreParts`` (``self`` when there is nothing to apply).

        >>> ScoreParts(torch.tensor(2.0), torch.tensor(2.0), 0).scale_and_mask(0.5)
        ScoreParts(log_prob=tensor(1.), score_function=tensor(2.), entropy_term=0)
        """
        if mask is None and is_identically_one(scale):
            return self  # nothing to do: no new tuple on every site of every step
        return ScoreParts(
            scale_and_mask(self.log_prob, scale, mask),
            self.score_function,
            scale_and_mask(self.entropy_term, scale, mask),
        )
