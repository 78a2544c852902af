"""One run of a guide and a model, tracked as much as the estimator needs.

How much provenance a run records is a :class:`Tracking` mode, one predicate per
mode saying which sites get their value tagged:

* :attr:`Tracking.NONE`: nothing (Trace_ELBO on a model without plated
  non-reparameterized sites);
* :attr:`Tracking.NONREPARAM`: the non-reparameterized latent sites, and control
  flow (TraceGraph_ELBO: every cost's dependencies among the sites that have a
  score);
* :attr:`Tracking.COMPLETE`: every latent and deterministic site (what the plate
  rule needs to see a path from a score to a cost through another site).

An estimator chooses the mode of a run *before* it runs, from what its earlier
runs needed: a run that turns out to lack the tags the plate rule needs is not
redone; its shared plates are summed (always unbiased, see
``docs/design/plate-soundness.md``) and the estimator's later runs are tracked
completely.  Since the mode never depends on the current draw, the estimator
stays unbiased.

>>> import tracegraph, tracegraph.distributions as dist
>>> from tracegraph.ops.provenance import get_provenance
>>> def guide():
...     tracegraph.sample("z", dist.Bernoulli(0.5))
>>> def model():
...     z = tracegraph.sample("z", dist.Bernoulli(0.5))
...     tracegraph.sample("x", dist.Normal(z, 1.0), obs=torch.tensor(0.0))
>>> model_trace, guide_trace = trace_run(model, guide, (), {}, Tracking.NONREPARAM)
>>> sorted(get_provenance(model_trace.nodes["x"]["fn"].log_prob(torch.tensor(0.0))))
['z']
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from enum import Enum
from typing import Any

import torch

from tracegraph.ops.provenance import aligned_run, untracked
from tracegraph.poutine import handlers
from tracegraph.poutine.guide import GuideMessenger
from tracegraph.poutine.messenger import Messenger, unwrap
from tracegraph.poutine.provenance_messenger import TrackProvenanceMessenger, score_sites
from tracegraph.poutine.runtime import Message
from tracegraph.poutine.sites import site_is_deterministic, site_is_latent, site_is_nonreparam
from tracegraph.poutine.trace_struct import Trace

__all__ = [
    "LastSite",
    "Tracking",
    "current_num_particles",
    "particles",
    "reproduced",
    "trace_run",
]

Program = Callable[..., Any]


def _latent_or_deterministic(msg: Message) -> bool:
    # Deterministic sites too: the plate rule must see a path through a recorded
    # intermediate outside a plate.
    return site_is_latent(msg) or site_is_deterministic(msg)


class Tracking(Enum):
    """How much provenance a run records (see the module docstring)."""

    NONE = 0
    NONREPARAM = 1
    COMPLETE = 2

    @property
    def tracked(self) -> bool:
        """Whether the run records provenance at all.

        >>> Tracking.NONE.tracked, Tracking.NONREPARAM.tracked
        (False, True)
        """
        return self is not Tracking.NONE

    @property
    def complete(self) -> bool:
        """Whether the plate rule can see every path in such a run.

        >>> Tracking.COMPLETE.complete
        True
        """
        return self is Tracking.COMPLETE

    def guide_tags(self) -> Callable[[Message], bool] | None:
        """Which guide sites get their value tagged with their name.

        >>> Tracking.NONREPARAM.guide_tags().__name__
        'site_is_nonreparam'
        """
        return _GUIDE_TAGS[self]

    def model_tags(self) -> Callable[[Message], bool] | None:
        """Which model sites get their value tagged (the latent values come from the
        guide already tagged; only recorded intermediates need it).

        >>> Tracking.COMPLETE.model_tags().__name__
        'site_is_deterministic'
        """
        return _MODEL_TAGS[self]


_GUIDE_TAGS: dict[Tracking, Callable[[Message], bool] | None] = {
    Tracking.NONE: None,
    Tracking.NONREPARAM: site_is_nonreparam,
    Tracking.COMPLETE: _latent_or_deterministic,
}
_MODEL_TAGS: dict[Tracking, Callable[[Message], bool] | None] = {
    Tracking.NONE: None,
    Tracking.NONREPARAM: None,
    Tracking.COMPLETE: site_is_deterministic,
}


def trace_run(
    model: Program, guide: Program, args: Any, kwargs: Any, tracking: Tracking
) -> tuple[Trace, Trace]:
    """Run the guide, then the model on the guide's values, under ``tracking``.

    :returns: ``(model_trace, guide_trace)``.
    """
    messenger = _guide_messenger(guide)
    if messenger is not None:
        # The model runs inside the guide: one run gives both traces (the
        # ``model`` argument is the guide's own model).
        return _guide_messenger_run(guide, messenger, args, kwargs, tracking)
    if not tracking.tracked:
        guide_trace = handlers.trace(guide).get_trace(*args, **kwargs)
        replayed = handlers.replay(model, trace=guide_trace)
        return handlers.trace(replayed).get_trace(*args, **kwargs), guide_trace
    if tracking.complete:
        # Plate claims too: the plate rule reads from provenance whether a cost
        # element reads a plated site at another index (docs/design/plate-soundness.md).
        with aligned_run():
            return _tracked_run(model, guide, args, kwargs, tracking)
    return _tracked_run(model, guide, args, kwargs, tracking)


def _tracked_run(
    model: Program, guide: Program, args: Any, kwargs: Any, tracking: Tracking
) -> tuple[Trace, Trace]:
    with score_sites():  # (what is said about dependencies lost: score sites only)
        with TrackProvenanceMessenger(tracking.guide_tags()):
            guide_trace = handlers.trace(guide).get_trace(*args, **kwargs)
        # The replayed values already carry the guide's tags; the model records
        # control flow (and tags its recorded intermediates when the run is complete).
        replayed = handlers.replay(model, trace=guide_trace)
        with TrackProvenanceMessenger(tracking.model_tags()):
            return handlers.trace(replayed).get_trace(*args, **kwargs), guide_trace


def _guide_messenger(guide: Program) -> GuideMessenger | None:
    # Under handlers and wrappers (the vectorized-particle wrapper) a guide may be
    # a GuideMessenger, which runs the model itself.
    while True:
        guide = unwrap(guide)
        if isinstance(guide, GuideMessenger):
            return guide
        inner = getattr(guide, "__wrapped__", None)
        if inner is None:
            return None
        guide = inner


def _guide_messenger_run(
    guide: Program, messenger: GuideMessenger, args: Any, kwargs: Any, tracking: Tracking
) -> tuple[Trace, Trace]:
    if not tracking.tracked:
        guide(*args, **kwargs)
        return messenger.get_traces()
    guide_tags, model_tags = tracking.guide_tags(), tracking.model_tags()

    def tag(msg: Message) -> bool:
        # Each site is a guide site (latent) and a model site (deterministic) at once.
        return bool(guide_tags is not None and guide_tags(msg)) or bool(
            model_tags is not None and model_tags(msg)
        )

    with score_sites(), TrackProvenanceMessenger(tag):
        guide(*args, **kwargs)
    return messenger.get_traces()


#: The particle count of the estimate being computed, for guides that adapt to it
#: (per thread and task, like the handler stack).
_NUM_PARTICLES: ContextVar[int | None] = ContextVar("tracegraph_num_particles", default=None)


@contextmanager
def particles(num_particles: int) -> Iterator[None]:
    """Publish, while the runs of one estimate happen, how many particles it averages.

    >>> with particles(4):
    ...     current_num_particles()
    4
    """
    token = _NUM_PARTICLES.set(num_particles)
    try:
        yield
    finally:
        _NUM_PARTICLES.reset(token)


def current_num_particles() -> int | None:
    """The number of particles of the ELBO estimate whose runs are under way, or
    ``None`` outside an estimate (a guide run by ``Predictive``, say).

    >>> current_num_particles() is None
    True
    """
    return _NUM_PARTICLES.get()


class LastSite(Messenger):
    """Remember the last sample site that ran, to say where a program failed.

    >>> import tracegraph, tracegraph.distributions as dist
    >>> with LastSite() as last:
    ...     _ = tracegraph.sample("z", dist.Normal(0.0, 1.0))
    >>> last.name, tuple(last.shape)
    ('z', ())
    """

    def __init__(self) -> None:
        super().__init__()
        self.name: str | None = None
        self.shape: tuple[int, ...] = ()

    def _pyro_post_sample(self, msg: Message) -> None:
        self.name = str(msg["name"])
        self.shape = tuple(getattr(msg["value"], "shape", ()))


def reproduced(first: tuple[Trace, Trace], again: tuple[Trace, Trace]) -> str | None:
    """The first site whose value differs between two runs meant to draw the same
    values, or ``None`` when every sample site's value is the same.

    >>> import tracegraph, tracegraph.distributions as dist
    >>> tr = handlers.trace(lambda: tracegraph.sample("z", dist.Normal(0.0, 1.0))).get_trace()
    >>> reproduced((tr, tr), (tr, tr)) is None
    True
    """
    for a, b in zip(first, again):
        names_a = [n for n, s in a.nodes.items() if s["type"] == "sample"]
        names_b = [n for n, s in b.nodes.items() if s["type"] == "sample"]
        if names_a != names_b:
            diverged = next(
                (x for x, y in zip(names_a, names_b) if x != y), (names_a + names_b)[-1]
            )
            return str(diverged)
        for name in names_a:
            va, vb = a.nodes[name]["value"], b.nodes[name]["value"]
            if isinstance(va, torch.Tensor) and isinstance(vb, torch.Tensor):
                with torch.no_grad(), untracked():
                    same = va.shape == vb.shape and bool(torch.equal(va.detach(), vb.detach()))
            else:
                same = va is vb or va == vb
            if not same:
                return str(name)
    return None
