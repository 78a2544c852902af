"""Checks an ELBO runs on every step under validation: model and guide agree, and
every site's log-prob has the shape its plates say.

>>> guess_max_plate_nesting(Trace(), Trace())
0
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

from tracegraph.errors import PlateError, ShapeError, SiteError
from tracegraph.infer.plates import PARTICLE_PLATE
from tracegraph.poutine.trace_struct import Trace

__all__ = [
    "check_log_prob_shapes",
    "check_model_guide_match",
    "check_site_log_prob_shape",
    "guess_max_plate_nesting",
]


def _sample_sites(trace: Trace) -> Iterator[tuple[str, Any]]:
    for name, site in trace.nodes.items():
        if site["type"] == "sample" and not site["infer"].get("_subsample"):
            yield name, site


def guess_max_plate_nesting(model_trace: Trace, guide_trace: Trace) -> int:
    """The deepest vectorized plate dim used by any site of the two traces.

    >>> guess_max_plate_nesting(Trace(), Trace())
    0
    """
    deepest = 0
    for tr in (model_trace, guide_trace):
        for _, site in _sample_sites(tr):
            for f in site["cond_indep_stack"]:
                if f.dim is not None:
                    deepest = max(deepest, -f.dim)
    return deepest


def _plate_names(site: Any) -> set[str]:
    return {f.name for f in site["cond_indep_stack"] if f.name != PARTICLE_PLATE}


def check_model_guide_match(model_trace: Trace, guide_trace: Trace) -> None:
    """Check that model and guide agree, with errors naming the site.

    :raises SiteError: a latent model site missing from the guide, or a guide site
        missing from the model (or observed there).
    :raises ShapeError: values whose shapes or event dims disagree.
    :raises PlateError: a guide site inside a plate that the model's site lacks.

    >>> import tracegraph
    >>> import tracegraph.distributions as dist
    >>> from tracegraph.poutine import trace
    >>> model = trace(lambda: tracegraph.sample("z", dist.Normal(0.0, 1.0))).get_trace()
    >>> guide = trace(lambda: tracegraph.sample("w", dist.Normal(0.0, 1.0))).get_trace()
    >>> check_model_guide_match(model, guide)
    Traceback (most recent call last):
    ...
    tracegraph.errors.SiteError: latent sites in the model but not in the guide: ['z']; ...
    """
    guide_latent = {
        name: site for name, site in _sample_sites(guide_trace) if not site["is_observed"]
    }
    model_sites = dict(_sample_sites(model_trace))
    missing = [
        name
        for name, site in model_sites.items()
        if not site["is_observed"] and name not in guide_latent
    ]
    if missing:
        raise SiteError(
            f"latent sites in the model but not in the guide: {missing}; every latent "
            "model site needs a guide site of the same name (or observe it with obs=)"
        )
    extra = [name for name in guide_latent if name not in model_sites]
    if extra:
        raise SiteError(
            f"guide sites missing from the model: {extra}; the guide may only sample "
            "sites the model has (hint: check the names for typos)"
        )
    for name, gsite in guide_latent.items():
        msite = model_sites[name]
        if msite["is_observed"]:
            raise SiteError(
                f"site '{name}' is latent in the guide but observed in the model; "
                "an observed site must not appear in the guide"
            )
        m_event = len(getattr(msite["fn"], "event_shape", ()))
        g_event = len(getattr(gsite["fn"], "event_shape", ()))
        if m_event != g_event:
            raise ShapeError(
                f"site '{name}': the model's distribution has event_dim {m_event} but the "
                f"guide's has event_dim {g_event} (event shapes "
                f"{tuple(msite['fn'].event_shape)} vs {tuple(gsite['fn'].event_shape)}); "
                "hint: use .to_event(n) so both agree"
            )
        m_shape = tuple(getattr(msite["fn"], "batch_shape", ())) + tuple(
            getattr(msite["fn"], "event_shape", ())
        )
        g_shape = tuple(getattr(gsite["value"], "shape", ()))
        try:
            torch.broadcast_shapes(m_shape, g_shape)
        except RuntimeError:
            raise ShapeError(
                f"site '{name}': the guide's value has shape {g_shape} but the model's "
                f"distribution has shape {m_shape} (batch + event); they must broadcast"
            ) from None
        extra_plates = _plate_names(gsite) - _plate_names(msite)
        if extra_plates:
            raise PlateError(
                f"site '{name}' is inside plate(s) {sorted(extra_plates)} in the guide "
                f"but not in the model (model plates: {sorted(_plate_names(msite))}); "
                "hint: declare the same plates in both"
            )


def check_site_log_prob_shape(name: str, site: Any, max_plate_nesting: float) -> None:
    """Check a site's log-prob against its plates (Pyro's rule).

    Reading dims from the right over ``max_plate_nesting`` dims: a dim that a
    vectorized plate declares must have the plate's size, and every other dim must
    be 1 (a batch dim no plate explains: a forgotten ``plate`` or ``.to_event``, or
    a hard-coded dim that the particle plate of ``vectorize_particles`` moved).
    Pyro lets a dim between declared ones have any size (its enumeration uses
    them); tracegraph has no enumeration dims, so it can be strict.

    :raises ShapeError: naming the site, the expected and the actual shapes.

    >>> import math
    >>> from tracegraph.poutine.runtime import CondIndepStackFrame as F
    >>> site = {"log_prob": torch.zeros(3, 2), "cond_indep_stack": (F("a", -1, 2, 0),)}
    >>> check_site_log_prob_shape("x", site, math.inf)
    Traceback (most recent call last):
    ...
    tracegraph.errors.ShapeError: invalid log_prob shape at site 'x': expected [2], ...
    """
    log_prob = site.get("log_prob")
    shape = list(getattr(log_prob, "shape", ()))
    expected: list[int | None] = []
    for f in site["cond_indep_stack"]:
        if f.dim is None:
            continue
        if len(expected) < -f.dim:
            # tracegraph has no enumeration dims: a dim that no plate of the site
            # owns must be 1 (else a particle or plate dim slipped into it).
            padding: list[int | None] = [1] * (-f.dim - len(expected))
            expected = padding + expected
        expected[f.dim] = f.size
    if max_plate_nesting >= len(shape):
        window = shape
    else:
        window = shape[len(shape) - int(max_plate_nesting) :]
    for i in range(1, len(window) + 1):
        want = expected[-i] if i <= len(expected) else 1
        if want is not None and window[-i] != want:
            shown = ["*" if e is None else e for e in expected]
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


def check_log_prob_shapes(
    model_trace: Trace, guide_trace: Trace, max_plate_nesting: float
) -> None:
    """:func:`check_site_log_prob_shape` on every sample site of both traces that
    has a log-prob."""
    for tr in (model_trace, guide_trace):
        for name, site in _sample_sites(tr):
            if "log_prob" in site:
                check_site_log_prob_shape(name, site, max_plate_nesting)
