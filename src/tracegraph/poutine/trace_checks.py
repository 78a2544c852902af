"""Checks on whole traces: do two traces have the same sample sites and shapes,
does a site's log-prob fit its plates, was a site marked for enumeration (Pyro's
``check_traces_match``, ``check_site_shape``, ``check_if_enumerated``).

>>> import torch
>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> from tracegraph import poutine
>>> def model():
...     with tracegraph.plate("data", 3):
...         tracegraph.sample("x", dist.Normal(0.0, 1.0))
>>> tr = poutine.trace(model).get_trace()
>>> tr.compute_log_prob()
>>> check_site_shape(tr.nodes["x"], max_plate_nesting=1)
>>> check_traces_match(tr, poutine.trace(model).get_trace())
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Mapping
from typing import Any

from tracegraph.errors import PlateError, ShapeError, TracegraphWarning
from tracegraph.poutine.sites import site_is_subsample
from tracegraph.poutine.trace_struct import Trace

__all__ = [
    "PARTICLE_PLATE",
    "check_if_enumerated",
    "check_site_shape",
    "check_traces_match",
    "user_stacklevel",
]

#: The plate ``vectorize_particles`` runs model and guide in (its elements are
#: independent runs); the shape check treats it apart.
PARTICLE_PLATE = "num_particles_vectorized"


def _sample_names(trace: Trace) -> set[Any]:
    return {name for name, site in trace.nodes.items() if site.get("type") == "sample"}


def check_traces_match(trace1: Trace, trace2: Trace) -> None:
    """Check that two traces have the same sample sites, with the same shapes.

    Warns (``UserWarning``) when the sets of sample sites differ, then checks
    each sample site of ``trace1`` against ``trace2``.

    :raises UnknownSiteError: (a ``KeyError``) for a site of ``trace1`` that
        ``trace2`` lacks.
    :raises ShapeError: (a ``ValueError``) when a site's distributions have
        different shapes (batch and event shape together).

    >>> import torch
    >>> import tracegraph.distributions as dist
    >>> from tracegraph import poutine, sample
    >>> a = poutine.trace(lambda: sample("x", dist.Normal(torch.zeros(2), 1.0))).get_trace()
    >>> b = poutine.trace(lambda: sample("x", dist.Normal(torch.zeros(3), 1.0))).get_trace()
    >>> check_traces_match(a, b)
    Traceback (most recent call last):
    ...
    tracegraph.errors.ShapeError: Site dims disagree at site 'x': torch.Size([2]) vs ...
    """
    vars1, vars2 = _sample_names(trace1), _sample_names(trace2)
    if vars1 != vars2:
        warnings.warn(f"Model vars changed: {vars1} vs {vars2}", TracegraphWarning, stacklevel=2)
    for name in trace1.nodes:
        if name not in vars1:
            continue
        trace2._require(name)
        site1, site2 = trace1.nodes[name], trace2.nodes[name]
        shape1 = _fn_shape(site1)
        shape2 = _fn_shape(site2)
        if shape1 is not None and shape2 is not None and shape1 != shape2:
            raise ShapeError(
                f"Site dims disagree at site {name!r}: {shape1} vs {shape2}; hint: the two "
                "runs drew values of different shapes (a plate or .to_event that differs)"
            )


def _fn_shape(site: Mapping[str, Any]) -> Any:
    fn = site.get("fn")
    shape = getattr(fn, "shape", None)
    if callable(shape):
        return shape(*site.get("args", ()), **site.get("kwargs", {}))
    batch, event = getattr(fn, "batch_shape", None), getattr(fn, "event_shape", None)
    if batch is None or event is None:
        return None
    return batch + event


def check_site_shape(site: Any, max_plate_nesting: float) -> None:
    """Check a site's log-prob against its plates (Pyro's rule).

    Reading dims from the right over ``max_plate_nesting`` dims: a dim that a
    vectorized plate declares must have the plate's size, a dim between declared
    ones may have any size, and every dim left of them must be 1 (a batch dim no
    plate explains: a forgotten ``plate`` or ``.to_event``).

    :raises PlateError: a plate deeper than ``max_plate_nesting`` (plate stack
        overflow), naming the site and the nesting needed.
    :raises ShapeError: naming the site, the expected and the actual shapes.

    >>> import math, torch
    >>> from tracegraph.poutine.runtime import CondIndepStackFrame as F
    >>> site = {"name": "x", "log_prob": torch.zeros(3, 2), "cond_indep_stack": (F("a", -1, 2, 0),)}
    >>> check_site_shape(site, math.inf)
    Traceback (most recent call last):
    ...
    tracegraph.errors.ShapeError: invalid log_prob shape at site 'x': expected [2], ...
    """
    name = site.get("name", "?")
    log_prob = site.get("log_prob")
    shape = list(getattr(log_prob, "shape", ()))
    expected: list[int | None] = []
    for f in site["cond_indep_stack"]:
        if f.dim is None:
            continue
        if -f.dim > max_plate_nesting and f.name != PARTICLE_PLATE:
            raise PlateError(
                f"plate stack overflow at site '{name}': plate '{f.name}' uses dim "
                f"{f.dim} but max_plate_nesting is {max_plate_nesting}; increase "
                f"max_plate_nesting to at least {-f.dim}"
            )
        if len(expected) < -f.dim:
            # A dim between two of the model's plates that none owns may have any
            # size (as in Pyro).  Not so between them and the particle plate of
            # ``vectorize_particles``: a size there is a particle dim that slipped
            # into a model dim (x broadcast across particles), silently wrong.
            free = None if f.name != PARTICLE_PLATE else 1
            padding: list[int | None] = [free] * (-f.dim - len(expected))
            expected = padding + expected
        expected[f.dim] = f.size
    if max_plate_nesting >= len(shape):
        window = shape
    else:
        window = shape[len(shape) - int(max_plate_nesting) :]
    # Within the rightmost max_plate_nesting dims only (the particle plate of
    # vectorize_particles lies left of them).
    span = max(len(window), len(expected))
    if span > max_plate_nesting:
        span = int(max_plate_nesting)
    for i in range(1, span + 1):
        want = expected[-i] if i <= len(expected) else 1
        got = window[-i] if i <= len(window) else 1  # a missing dim broadcasts as 1
        if want is not None and got != want:
            shown = "[" + ", ".join("*" if e is None else str(e) for e in expected) + "]"
            plates = ", ".join(
                f"{f.name}(dim {f.dim}, size {f.size})"
                for f in site["cond_indep_stack"]
                if f.dim is not None
            )
            raise ShapeError(
                f"invalid log_prob shape at site '{name}': expected {shown}, actual {shape} "
                f"(plates: {plates or 'none'}); hint: a batch dim must belong to a plate "
                "(use tracegraph.plate) or be an event dim (use .to_event(n))"
            )


def check_if_enumerated(guide_trace: Trace) -> None:
    """Warn when guide sites ask for enumeration (``infer={"enumerate": ...}``), which
    the ELBOs of tracegraph do not do: such sites are sampled.

    >>> import warnings
    >>> import tracegraph, tracegraph.distributions as dist
    >>> from tracegraph.poutine import trace
    >>> tr = trace(lambda: tracegraph.sample(
    ...     "b", dist.Bernoulli(0.5), infer={"enumerate": "parallel"})).get_trace()
    >>> with warnings.catch_warnings(record=True) as seen:
    ...     warnings.simplefilter("always")
    ...     check_if_enumerated(tr)
    >>> "['b']" in str(seen[0].message)
    True
    """
    names = [
        name
        for name, site in guide_trace.nodes.items()
        if site["type"] == "sample"
        and not site_is_subsample(site)
        and site["infer"].get("enumerate") in ("sequential", "parallel")
    ]
    if names:
        warnings.warn(
            f"sites marked for enumeration are sampled instead: {names}; tracegraph does "
            "not enumerate (Pyro's TraceEnum_ELBO does)",
            TracegraphWarning,
            stacklevel=user_stacklevel(),
        )


def user_stacklevel() -> int:
    # Point the warning at the first frame outside tracegraph (the user's call).
    frame = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith("tracegraph."):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level
