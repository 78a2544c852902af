"""Checks an ELBO runs on every step under validation: model and guide agree, and
every site's log-prob has the shape its plates say.

>>> guess_max_plate_nesting(Trace(), Trace())
0
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from typing import Any

from tracegraph.distributions.util import is_identically_zero
from tracegraph.errors import GuideObservedError, ShapeError, SiteError
from tracegraph.poutine.sites import site_is_subsample
from tracegraph.poutine.trace_checks import (
    PARTICLE_PLATE,
    check_if_enumerated,
    check_site_shape,
    user_stacklevel,
)
from tracegraph.poutine.trace_struct import Trace

__all__ = [
    "check_if_enumerated",
    "check_log_prob_shapes",
    "check_model_guide_match",
    "check_fully_reparametrized",
    "check_site_shape",
    "guess_max_plate_nesting",
]


def _sample_sites(trace: Trace) -> Iterator[tuple[str, Any]]:
    for name, site in trace.nodes.items():
        if site["type"] == "sample" and not site_is_subsample(site):
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


def check_model_guide_match(
    model_trace: Trace, guide_trace: Trace, max_plate_nesting: float = math.inf
) -> None:
    """Check that model and guide agree, as permissive as Pyro: what Pyro trains
    with a warning warns here too, and what it refuses raises, naming the site.

    Warns (``UserWarning``) about latent model sites the guide lacks (they are
    drawn from the model's prior), guide sites the model lacks or observes (mark
    them ``infer={"is_auxiliary": True}`` to silence it) and plates only the guide
    has.

    :param max_plate_nesting: only the rightmost ``max_plate_nesting`` batch dims
        (plus the event dims) of a site's shape are compared; leading size-1 dims
        never count.
    :raises ShapeError: a site whose event dims or shapes disagree.
    :raises GuideObservedError: a site the guide observes but the model samples.
    :raises SiteError: a ``factor`` in the guide without ``has_rsample`` (as Pyro).

    >>> import warnings
    >>> import tracegraph
    >>> import tracegraph.distributions as dist
    >>> from tracegraph.poutine import trace
    >>> model = trace(lambda: tracegraph.sample("z", dist.Normal(0.0, 1.0))).get_trace()
    >>> guide = trace(lambda: tracegraph.sample("w", dist.Normal(0.0, 1.0))).get_trace()
    >>> with warnings.catch_warnings(record=True) as seen:
    ...     warnings.simplefilter("always")
    ...     check_model_guide_match(model, guide)
    >>> for w in seen:
    ...     print(str(w.message).split(":")[0])
    latent sites in the model but not in the guide
    guide sites that are not latent in the model
    """
    model_sites = dict(_sample_sites(model_trace))
    guide_sites = {
        name: site
        for name, site in _sample_sites(guide_trace)
        if not site["infer"].get("is_auxiliary")
    }
    model_latent = {name for name, site in model_sites.items() if not site["is_observed"]}
    missing = sorted(model_latent - set(guide_sites))
    if missing:
        warnings.warn(
            f"latent sites in the model but not in the guide: {missing}; they are drawn "
            "from the model's prior (give each a guide site, or observe it with obs=)",
            UserWarning,
            stacklevel=user_stacklevel(),
        )
    extra = [name for name in guide_sites if name not in model_latent]
    if extra:
        warnings.warn(
            f"guide sites that are not latent in the model: {extra}; their log-density "
            "still counts in the guide (mark them infer={'is_auxiliary': True} if intended)",
            UserWarning,
            stacklevel=user_stacklevel(),
        )
    for name, gsite in _sample_sites(guide_trace):
        if not getattr(gsite["fn"], "has_rsample_specified", True):
            raise SiteError(
                f"guide site factor('{name}', ...) does not say has_rsample: in a guide it "
                "decides how the factor's gradient is estimated; hint: pass "
                "has_rsample=True if the factor comes from reparameterized samples, "
                "has_rsample=False otherwise"
            )
    for name, gsite in guide_sites.items():
        msite = model_sites.get(name)
        if msite is None:
            continue
        if gsite["is_observed"]:
            if not msite["is_observed"]:
                raise GuideObservedError(
                    f"site '{name}' is observed in the guide but latent in the model: the "
                    "model's value must come from the guide's sample (drop obs= in the guide)"
                )
            continue
        if msite["is_observed"]:
            continue
        m_event = len(getattr(msite["fn"], "event_shape", ()))
        g_event = len(getattr(gsite["fn"], "event_shape", ()))
        if m_event != g_event:
            raise ShapeError(
                f"site '{name}': the model's distribution has event_dim {m_event} but the "
                f"guide's has event_dim {g_event} (event shapes "
                f"{tuple(msite['fn'].event_shape)} vs {tuple(gsite['fn'].event_shape)}); "
                "hint: use .to_event(n) so both agree"
            )
        keep = m_event + max_plate_nesting
        m_shape = _compared(_fn_shape(msite["fn"]), keep)
        g_shape = _compared(_fn_shape(gsite["fn"]), keep)
        if m_shape != g_shape:
            raise ShapeError(
                f"site '{name}': the model's distribution has shape {m_shape} but the "
                f"guide's has shape {g_shape} (batch + event, rightmost "
                f"max_plate_nesting + event_dim dims, leading 1s dropped); hint: sample "
                "the site inside the same plates in both"
            )
    guide_plates = {f.name for _, site in guide_sites.items() for f in site["cond_indep_stack"]}
    model_plates = {f.name for _, site in model_sites.items() for f in site["cond_indep_stack"]}
    only_guide = sorted(guide_plates - model_plates - {PARTICLE_PLATE})
    if only_guide:
        warnings.warn(
            f"plates in the guide but not in the model: {only_guide}",
            UserWarning,
            stacklevel=user_stacklevel(),
        )


def _fn_shape(fn: Any) -> tuple[int, ...]:
    return tuple(getattr(fn, "batch_shape", ())) + tuple(getattr(fn, "event_shape", ()))


def _compared(shape: tuple[int, ...], keep: float) -> tuple[int, ...]:
    # The dims a model/guide comparison reads: the rightmost ``keep``, leading 1s
    # dropped (a size-1 dim broadcasts against nothing).
    if keep < len(shape):
        shape = shape[len(shape) - int(keep) :]
    while shape and shape[0] == 1:
        shape = shape[1:]
    return shape








def check_log_prob_shapes(
    model_trace: Trace, guide_trace: Trace, max_plate_nesting: float
) -> None:
    """:func:`check_site_shape` on every sample site of both traces that has a
    log-prob."""
    for tr in (model_trace, guide_trace):
        for _, site in _sample_sites(tr):
            if "log_prob" in site:
                check_site_shape(site, max_plate_nesting)


def check_fully_reparametrized(guide_site: Any) -> None:
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
