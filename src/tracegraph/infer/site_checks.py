"""Checks on single trace sites that inference runs before trusting them: the
log-prob shape against the plates (Pyro's rule), sites configured for
enumeration, and fully reparameterized guide sites.

>>> import torch
>>> from tracegraph.poutine.runtime import CondIndepStackFrame as F
>>> site = {"name": "x", "log_prob": torch.zeros(3), "cond_indep_stack": (F("a", -1, 3, 0),)}
>>> check_site_shape(site, max_plate_nesting=1)  # fine: dim -1 belongs to plate "a"
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from itertools import zip_longest
from typing import Any

from tracegraph.distributions.util import is_identically_zero
from tracegraph.errors import PlateError, ShapeError, TracegraphWarning
from tracegraph.poutine.trace_struct import Trace
from tracegraph.poutine.util import site_is_subsample

__all__ = ["check_fully_reparametrized", "check_if_enumerated", "check_site_shape"]


def check_site_shape(site: Mapping[str, Any], max_plate_nesting: float) -> None:
    """Check a sample site's ``log_prob`` shape against its vectorized plates.

    Within the rightmost ``max_plate_nesting`` dims, a dim owned by a plate must
    have the plate's size, and a dim left of every plate dim must be 1; a dim
    between two plate dims that no plate owns may have any size.  Dims left of
    ``max_plate_nesting`` are not checked.

    :param site: a sample site whose ``log_prob`` was computed.
    :param max_plate_nesting: how many rightmost dims plates may use.
    :raises PlateError: if a plate sits left of ``max_plate_nesting`` dims.
    :raises ShapeError: if the shape disagrees with the plates.

    >>> import torch
    >>> from tracegraph.poutine.runtime import CondIndepStackFrame as F
    >>> site = {"name": "x", "log_prob": torch.zeros(2, 3), "cond_indep_stack": ()}
    >>> check_site_shape(site, max_plate_nesting=2)
    Traceback (most recent call last):
    ...
    tracegraph.errors.ShapeError: invalid log_prob shape at site 'x': expected [], ...
    """
    name = site.get("name", "?")
    actual = list(getattr(site["log_prob"], "shape", ()))
    expected: list[int | None] = []
    for f in site["cond_indep_stack"]:
        if f.dim is None:
            continue
        if len(expected) < -f.dim:
            padding: list[int | None] = [None] * (-f.dim - len(expected))
            expected = padding + expected
        expected[f.dim] = f.size
    if max_plate_nesting < len(expected):
        raise PlateError(
            f"plate stack overflow at site '{name}': its plates use {len(expected)} dims "
            f"but max_plate_nesting={max_plate_nesting}; hint: increase max_plate_nesting "
            f"to at least {len(expected)}"
        )
    if max_plate_nesting != math.inf:
        actual = actual[max(0, len(actual) - int(max_plate_nesting)) :]
    for got, want in zip_longest(reversed(actual), reversed(expected), fillvalue=1):
        if want is not None and got != want:
            shown = ["*" if e is None else e for e in expected]
            raise ShapeError(
                f"invalid log_prob shape at site '{name}': expected {shown}, actual "
                f"{actual}; hint: enclose the batched tensor in a `with plate(...)` "
                "context, use .to_event(n) on the distribution, or permute the data's dims"
            )


def check_if_enumerated(guide_trace: Trace) -> None:
    """Warn about guide sample sites configured for enumeration
    (``infer={"enumerate": ...}``): tracegraph has no enumeration, so they are
    sampled like any other site.

    :param guide_trace: the guide's trace.

    >>> check_if_enumerated(Trace())  # nothing to report
    """
    enumerated = [
        name
        for name, site in guide_trace.nodes.items()
        if site["type"] == "sample"
        and not site_is_subsample(site)
        and site["infer"].get("enumerate") in ("sequential", "parallel")
    ]
    if enumerated:
        warnings.warn(
            f"Found sample sites configured for enumeration: {', '.join(enumerated)}; "
            "tracegraph does not enumerate, so they are sampled (an enumerating "
            "objective such as Pyro's TraceEnum_ELBO is out of tracegraph's scope)",
            TracegraphWarning,
            stacklevel=2,
        )


def check_fully_reparametrized(guide_site: Mapping[str, Any]) -> None:
    """Refuse a guide site whose gradient estimate needs a score-function term.

    :param guide_site: a sample site whose ``score_parts`` were computed.
    :raises NotImplementedError: if the site's score-function term is not
        identically zero (a non-reparameterized distribution, even if masked).

    >>> from tracegraph.distributions.util import ScoreParts
    >>> check_fully_reparametrized({"name": "z", "score_parts": ScoreParts(0.0, 0, 0)})
    """
    _, score_function, _ = guide_site["score_parts"]
    if not is_identically_zero(score_function):
        raise NotImplementedError(
            f"all distributions in the guide must be fully reparameterized, but site "
            f"'{guide_site.get('name', '?')}' needs a score-function term; hint: use "
            "TraceGraph_ELBO or Trace_ELBO, which handle non-reparameterized sites"
        )
