"""The ELBO base class: particles, plate nesting, model/guide checks.

Every ELBO implements :meth:`ELBO.differentiable_loss`, a tensor whose value is
the negative ELBO estimate and whose gradient is the estimator's gradient;
:meth:`ELBO.loss`, :meth:`ELBO.loss_and_grads` and ``elbo(model, guide)`` (an
``nn.Module``) are derived from it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import torch

from tracegraph.distributions.util import is_validation_enabled
from tracegraph.errors import PlateError, ShapeError, SiteError
from tracegraph.infer.collect import collect_terms, tracked_deps, untracked_deps
from tracegraph.infer.dice import ParticleTerms
from tracegraph.infer.downstream import PARTICLE_PLATE, NeedsProvenance
from tracegraph.infer.rng import RngState
from tracegraph.params import get_param_store
from tracegraph.poutine import handlers
from tracegraph.poutine.provenance_messenger import TrackProvenanceMessenger, is_latent
from tracegraph.poutine.runtime import Message
from tracegraph.poutine.trace_struct import Trace
from tracegraph.poutine.util import site_is_deterministic
from tracegraph.primitives import plate

__all__ = [
    "ELBO",
    "ELBOModule",
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


def _latent_or_deterministic(msg: Message) -> bool:
    return is_latent(msg) or site_is_deterministic(msg)


class ELBO:
    """Base class of evidence lower bound objectives.

    :param num_particles: samples per estimate; the loss is their mean.
    :param max_plate_nesting: deepest plate dim in model and guide; guessed from
        one run when not given (needed by ``vectorize_particles``).
    :param vectorize_particles: draw all particles in one run, in an extra plate
        left of the model's plates.
    :param retain_graph: passed to ``backward`` by :meth:`loss_and_grads`.
    """

    def __init__(
        self,
        num_particles: int = 1,
        max_plate_nesting: float = math.inf,
        vectorize_particles: bool = False,
        retain_graph: bool | None = None,
        strict_enumeration_warning: bool = True,
        ignore_jit_warnings: bool = False,
        jit_options: dict[str, Any] | None = None,
    ) -> None:
        if not isinstance(num_particles, int) or num_particles < 1:
            raise ValueError(f"num_particles must be a positive int, got {num_particles!r}")
        self.num_particles = num_particles
        self.max_plate_nesting = max_plate_nesting
        self.vectorize_particles = vectorize_particles
        self.retain_graph = retain_graph
        self.strict_enumeration_warning = strict_enumeration_warning
        self.ignore_jit_warnings = ignore_jit_warnings
        self.jit_options = jit_options

    # -- traces ---------------------------------------------------------------
    #: How a run is tracked: ``None`` (not at all), ``"nonreparam"`` (tag the
    #: non-reparameterized latent sites) or ``"latent"`` (tag every latent site,
    #: which the plate rule needs when reparameterized sites sit between a score
    #: and a cost).  Subclasses set the starting mode; it is raised when needed.
    _tag: str | None = None

    def _guide_trace(
        self, guide: Callable[..., Any], args: Any, kwargs: Any, tag: str | None
    ) -> Trace:
        if tag is None:
            return handlers.trace(guide).get_trace(*args, **kwargs)
        # "latent" also tags deterministic sites: the plate rule must see a path
        # through a recorded intermediate outside a plate.
        with TrackProvenanceMessenger(_latent_or_deterministic if tag == "latent" else tag):
            return handlers.trace(guide).get_trace(*args, **kwargs)

    def _model_trace(
        self, model: Callable[..., Any], guide_trace: Trace, args: Any, kwargs: Any, tag: str | None
    ) -> Trace:
        replayed = handlers.replay(model, trace=guide_trace)
        if tag is None:
            return handlers.trace(replayed).get_trace(*args, **kwargs)
        # The replayed values already carry the guide's tags; only control flow
        # (and, for the plate rule, deterministic sites) needs recording here.
        with TrackProvenanceMessenger(site_is_deterministic if tag == "latent" else None):
            return handlers.trace(replayed).get_trace(*args, **kwargs)

    def _get_trace(
        self,
        model: Callable[..., Any],
        guide: Callable[..., Any],
        args: Any,
        kwargs: Any,
        tag: str | None = None,
    ) -> tuple[Trace, Trace]:
        guide_trace = self._guide_trace(guide, args, kwargs, tag)
        model_trace = self._model_trace(model, guide_trace, args, kwargs, tag)
        if is_validation_enabled():
            check_model_guide_match(model_trace, guide_trace)
        return model_trace, guide_trace

    def _guess_max_plate_nesting(self, model: Any, guide: Any, args: Any, kwargs: Any) -> None:
        with handlers.block():
            guide_trace = handlers.trace(guide).get_trace(*args, **kwargs)
            model_trace = handlers.trace(handlers.replay(model, trace=guide_trace)).get_trace(
                *args, **kwargs
            )
        self.max_plate_nesting = guess_max_plate_nesting(model_trace, guide_trace)

    def _vectorized(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        dim = -1 - int(self.max_plate_nesting)
        n = self.num_particles

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            with plate(PARTICLE_PLATE, n, dim=dim):
                return fn(*args, **kwargs)

        return wrapped

    def _programs(
        self, model: Callable[..., Any], guide: Callable[..., Any], args: Any, kwargs: Any
    ) -> tuple[Callable[..., Any], Callable[..., Any], int]:
        """The model and guide one run executes, and how many runs make a step."""
        if self.vectorize_particles:
            if self.max_plate_nesting == math.inf:
                self._guess_max_plate_nesting(model, guide, args, kwargs)
            return self._vectorized(model), self._vectorized(guide), 1
        return model, guide, self.num_particles

    def _particle_terms(
        self,
        model: Callable[..., Any],
        guide: Callable[..., Any],
        args: Any,
        kwargs: Any,
        rao_blackwellize: bool,
    ) -> list[tuple[ParticleTerms, Trace]]:
        """The cost terms and the guide trace of every run of one step."""
        m, g, runs = self._programs(model, guide, args, kwargs)
        out = []
        for _ in range(runs):
            terms, _, guide_trace = self._one_run(m, g, args, kwargs, rao_blackwellize)
            out.append((terms, guide_trace))
        return out

    def _one_run(
        self,
        model: Any,
        guide: Any,
        args: Any,
        kwargs: Any,
        rao_blackwellize: bool,
        rng: RngState | None = None,
    ) -> tuple[ParticleTerms, Trace, Trace]:
        """One run's cost terms, model trace and guide trace.

        A non-reparameterized site sharing a plate with a cost needs every latent
        site tagged (the plate rule, see :func:`~tracegraph.infer.collect.collect_terms`).
        A run tagged less is then redone with every latent site tagged, and so is
        every later run of this ELBO.  The redone run draws the same random numbers
        (``rng``: the generators' state before the run, saved here unless the
        caller did): this is needed for correctness, not only for reproducibility,
        since whether a run is redone depends on what it drew (a new structure),
        and redrawing would resample exactly those outcomes and bias the estimate.
        """
        if rng is None and self._tag != "latent":
            rng = RngState()
        while True:
            tag = self._tag
            model_trace, guide_trace = self._get_trace(model, guide, args, kwargs, tag)
            deps_fn = untracked_deps if tag is None else tracked_deps
            try:
                terms = collect_terms(
                    model_trace, guide_trace, deps_fn, rao_blackwellize, complete=tag == "latent"
                )
            except NeedsProvenance:
                assert tag != "latent" and rng is not None
                self._tag = "latent"
                rng.restore()
                continue
            if is_validation_enabled():
                self._check_log_prob_shapes(model_trace, guide_trace)
            return terms, model_trace, guide_trace

    def _check_log_prob_shapes(self, model_trace: Trace, guide_trace: Trace) -> None:
        for tr in (model_trace, guide_trace):
            for name, site in _sample_sites(tr):
                if "log_prob" in site:
                    check_site_log_prob_shape(name, site, self.max_plate_nesting)

    # -- objectives -----------------------------------------------------------
    def differentiable_loss(
        self, model: Callable[..., Any], guide: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> torch.Tensor:
        """The negative ELBO as a tensor whose gradient (first and higher
        derivatives) is the estimator's.

        :returns: a scalar tensor.
        """
        return self._losses(model, guide, args, kwargs, first_order=False)[0]

    def _losses(
        self, model: Any, guide: Any, args: Any, kwargs: Any, first_order: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(tensor to differentiate, -ELBO)``: what an estimator implements.

        With ``first_order`` the first may be a cheaper tensor whose *first*
        derivative is the estimator's but whose value and higher derivatives are
        not (what one ``backward`` needs); without, it is the loss itself.  A
        subclass may instead override :meth:`differentiable_loss` alone.
        """
        raise NotImplementedError

    def loss(
        self, model: Callable[..., Any], guide: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> float:
        """The negative ELBO estimate as a float (no gradients).

        :returns: ``-ELBO``.
        """
        with torch.no_grad():
            return float(self._dispatch_losses(model, guide, args, kwargs, first_order=True)[1])

    def _dispatch_losses(
        self, model: Any, guide: Any, args: Any, kwargs: Any, first_order: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if self._losses_is_the_loss:
            return self._losses(model, guide, args, kwargs, first_order)
        loss = self.differentiable_loss(model, guide, *args, **kwargs)
        return loss, loss

    #: Whether :meth:`_losses` computes this class's loss: not so in a subclass that
    #: overrides :meth:`differentiable_loss` (a penalty, another estimator) below
    #: the class that defines ``_losses``, which then keeps its loss in
    #: :meth:`loss` and :meth:`loss_and_grads` too.
    _losses_is_the_loss = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        owner = next(c for c in cls.__mro__ if "_losses" in vars(c))
        defined = owner.differentiable_loss  # type: ignore[attr-defined]
        cls._losses_is_the_loss = cls.differentiable_loss is defined

    def loss_and_grads(
        self, model: Callable[..., Any], guide: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> float:
        """Estimate the negative ELBO and accumulate its gradient into the ``.grad``
        of every parameter used by the model or the guide.

        The gradient is :meth:`differentiable_loss`'s, taken from a smaller graph
        with the same first derivative (see :meth:`_losses`).

        :returns: ``-ELBO`` as a float.
        """
        surrogate, loss = self._dispatch_losses(model, guide, args, kwargs, first_order=True)
        if surrogate.requires_grad:
            surrogate.backward(retain_graph=self.retain_graph)
        return float(loss.detach())

    def __call__(self, model: Callable[..., Any], guide: Callable[..., Any]) -> ELBOModule:
        return ELBOModule(model, guide, self)


class ELBOModule(torch.nn.Module):
    """``elbo(model, guide)``: an ``nn.Module`` whose forward is the differentiable
    loss; its parameters are the param store's (after a first forward).
    """

    def __init__(self, model: Callable[..., Any], guide: Callable[..., Any], elbo: ELBO) -> None:
        super().__init__()
        self.model = model
        self.guide = guide
        self.elbo = elbo

    def forward(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        return self.elbo.differentiable_loss(self.model, self.guide, *args, **kwargs)

    def parameters(self, recurse: bool = True) -> Iterator[torch.Tensor]:  # type: ignore[override]
        for _, p in get_param_store().named_parameters():
            yield p
