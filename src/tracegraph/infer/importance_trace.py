"""One guide trace and the model trace replayed against it, scored and checked:
the pair every importance-weighted estimate starts from.

>>> import torch
>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> def model():
...     z = tracegraph.sample("z", dist.Normal(0.0, 1.0))
...     tracegraph.sample("x", dist.Normal(z, 1.0), obs=torch.tensor(0.5))
>>> def guide():
...     tracegraph.sample("z", dist.Normal(0.2, 1.0))
>>> model_trace, guide_trace = get_importance_trace("flat", 0, model, guide, (), {})
>>> sorted(k for k in guide_trace.nodes["z"] if k in ("log_prob", "score_parts"))
['log_prob', 'score_parts']
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tracegraph.distributions.util import is_validation_enabled
from tracegraph.infer.elbo import check_model_guide_match
from tracegraph.infer.validation import check_site_shape
from tracegraph.poutine import handlers
from tracegraph.poutine.trace_struct import Trace
from tracegraph.poutine.util import prune_subsample_sites

__all__ = ["get_importance_trace"]


def get_importance_trace(
    graph_type: str,
    max_plate_nesting: float,
    model: Callable[..., Any],
    guide: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    detach: bool = False,
) -> tuple[Trace, Trace]:
    """Run ``guide``, then ``model`` replayed against it; return both traces with
    the plates' subsample-index sites removed, the model's log-probs and the
    guide's score parts computed.

    With validation enabled, model and guide must match and every sample site's
    log-prob shape must fit its plates (:func:`check_site_shape`).

    :param graph_type: ``"flat"`` or ``"dense"`` (see :func:`~tracegraph.poutine.trace`).
    :param max_plate_nesting: how many rightmost dims plates may use.
    :param model: the model.
    :param guide: the guide.
    :param args: positional arguments of both.
    :param kwargs: keyword arguments of both.
    :param detach: detach the guide's sample values before the model sees them.
    :returns: ``(model_trace, guide_trace)``.

    >>> import tracegraph
    >>> import tracegraph.distributions as dist
    >>> def prog():
    ...     tracegraph.sample("z", dist.Normal(0.0, 1.0))
    >>> m, g = get_importance_trace("flat", 0, prog, prog, (), {}, detach=True)
    >>> m.nodes["z"]["value"] is g.nodes["z"]["value"]
    True
    """
    guide_trace = handlers.trace(guide, graph_type=graph_type).get_trace(*args, **kwargs)
    if detach:
        guide_trace.detach_()
    model_trace = handlers.trace(
        handlers.replay(model, trace=guide_trace), graph_type=graph_type
    ).get_trace(*args, **kwargs)
    if is_validation_enabled():
        check_model_guide_match(model_trace, guide_trace)
    guide_trace = prune_subsample_sites(guide_trace)
    model_trace = prune_subsample_sites(model_trace)
    model_trace.compute_log_prob()
    guide_trace.compute_score_parts()
    if is_validation_enabled():
        for tr in (model_trace, guide_trace):
            for site in tr.nodes.values():
                if site["type"] == "sample":
                    check_site_shape(site, max_plate_nesting)
    return model_trace, guide_trace
