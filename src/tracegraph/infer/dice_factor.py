"""The DiCE factor of one sample site (Foerster et al. 2018).

A cost that depends on a non-reparameterized site is multiplied by
``exp(log_q - log_q.detach())``: value 1, gradient the site's score.  The
exponent is what :func:`compute_site_dice_factor` returns, together with a log
denominator (always 0 in tracegraph: a site is drawn once, never enumerated).

>>> import torch
>>> from tracegraph.distributions.util import ScoreParts
>>> p = torch.tensor(0.3, requires_grad=True)
>>> site = {"score_parts": ScoreParts(p.log(), p.log(), 0.0)}
>>> log_factor, log_denom = compute_site_dice_factor(site)
>>> log_factor.detach(), log_denom, log_factor.requires_grad
(tensor(0.), 0, True)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tracegraph.distributions.util import is_identically_zero

__all__ = ["compute_site_dice_factor"]


def compute_site_dice_factor(site: Mapping[str, Any]) -> tuple[Any, Any]:
    """The DiCE exponent and log denominator of a sample site.

    The exponent is ``s - s.detach()`` for the site's score-function term ``s``
    (unscaled, as subsampling scales the cost, not the score): 0 in value, the
    score in gradient; it is the number 0 for a reparameterized site.  Packed
    score parts (:meth:`~tracegraph.poutine.trace_struct.Trace.pack_tensors`) are
    used when present.

    :param site: a sample site whose ``score_parts`` were computed.
    :returns: ``(log_factor, log_denom)``; ``log_denom`` is 0 (no enumeration or
        multiple sampling in tracegraph).
    :raises KeyError: if the site has no ``score_parts``.

    >>> from tracegraph.distributions.util import ScoreParts
    >>> compute_site_dice_factor({"score_parts": ScoreParts(-1.0, 0.0, -1.0)})
    (0, 0)
    """
    packed = site.get("packed")
    if isinstance(packed, Mapping) and "score_parts" in packed:
        parts = packed["score_parts"]
    else:
        parts = site["score_parts"]
    score = parts.score_function
    if is_identically_zero(score):
        return 0, 0
    return score - score.detach(), 0
