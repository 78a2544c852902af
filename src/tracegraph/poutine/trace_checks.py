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

import math
import warnings
from collections.abc import Mapping
from typing import Any

from tracegraph.errors import ShapeError, TracegraphWarning
from tracegraph.poutine.trace_struct import Trace

__all__ = ["check_if_enumerated", "check_site_shape", "check_traces_match"]


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


def check_site_shape(site: Mapping[str, Any], max_plate_nesting: float) -> None:
    """Check a site's ``log_prob`` against its vectorized plates, Pyro's rule: a
    plate's dim must not go beyond ``max_plate_nesting``; over the rightmost
    ``max_plate_nesting`` dims (leading size-1 dims ignored), each dim a plate
    declares must have the plate's size, and no dims beyond the plates' may remain.

    :raises ShapeError: (a ``ValueError``) naming the site, expected vs actual.

    >>> import torch
    >>> from tracegraph.poutine.runtime import CondIndepStackFrame as F
    >>> site = {"name": "x", "log_prob": torch.zeros(3, 2), "cond_indep_stack": (F("a", -1, 2, 0),)}
    >>> check_site_shape(site, math.inf)
    Traceback (most recent call last):
    ...
    tracegraph.errors.ShapeError: at site 'x', invalid log_prob shape: expected [2], actual [3, ...
    """
    name = site.get("name")
    actual = list(site["log_prob"].shape)
    expected: list[int] = []
    for frame in site["cond_indep_stack"]:
        if frame.dim is None:
            continue
        if -frame.dim > max_plate_nesting:
            raise ShapeError(
                f"at site {name!r}, plate stack overflow: plate {frame.name!r} is at dim "
                f"{frame.dim}; hint: increase max_plate_nesting to at least {-frame.dim}"
            )
        if len(expected) < -frame.dim:
            expected = [-1] * (-frame.dim - len(expected)) + expected
        expected[frame.dim] = frame.size
    if math.isfinite(max_plate_nesting):
        actual = actual[len(actual) - int(max_plate_nesting) :] if max_plate_nesting else []
    while len(actual) > len(expected) and actual[0] == 1:
        actual = actual[1:]
    padded = [1] * (len(expected) - len(actual)) + actual
    if len(actual) > len(expected) or any(e != -1 and e != a for e, a in zip(expected, padded)):
        raise ShapeError(
            f"at site {name!r}, invalid log_prob shape: expected {expected}, actual {actual}; "
            "hint: enclose the batched tensor in a plate, .to_event(...) the distribution, "
            "or permute the data's dims"
        )


def check_if_enumerated(guide_trace: Trace) -> None:
    """Warn (``UserWarning``) if guide sites ask for enumeration
    (``infer={"enumerate": ...}``), which needs an enumerating ELBO.

    >>> check_if_enumerated(Trace())
    """
    enumerated = [
        name
        for name, site in guide_trace.nodes.items()
        if site.get("type") == "sample" and (site.get("infer") or {}).get("enumerate")
    ]
    if enumerated:
        warnings.warn(
            f"{', '.join(str(n) for n in enumerated)}\n"
            "If you want to enumerate sites, you need to use TraceEnum_ELBO instead.",
            TracegraphWarning,
            stacklevel=2,
        )
