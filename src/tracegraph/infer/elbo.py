"""The ELBO base class: where one step of every estimator starts and ends.

A step reads one way, each stage in its own module::

    ELBO.loss_and_grads / differentiable_loss / loss     (this module)
      -> _runs: run guide and model, tracked as planned  (runs.py)
           -> collect_terms: cost terms and dependencies (terms.py, plates.py)
      -> _estimate: the objective from the runs          (the one override point)
           -> Baselines.values                           (baselines.py)
           -> Surrogate.objective / baseline_term        (surrogate.py)

``differentiable_loss`` uses the DiCE surrogate (value the ELBO, every derivative
the estimator's); ``loss_and_grads`` and ``loss`` use the first-order surrogate
(the same first derivative from a smaller graph).  An estimator is a subclass that
sets :attr:`ELBO.tracking` and :attr:`ELBO.rao_blackwellize` and, when it does more
than sum the particles' surrogates, overrides :meth:`ELBO._estimate`.  A subclass
may instead override :meth:`differentiable_loss` alone (a penalty, another
estimator); ``loss`` and ``loss_and_grads`` then derive from it.

>>> import tracegraph, tracegraph.distributions as dist
>>> from tracegraph.infer import Trace_ELBO
>>> def model():
...     tracegraph.sample("z", dist.Normal(0.0, 1.0))
>>> def guide():
...     loc = tracegraph.param("loc", torch.tensor(0.0))
...     tracegraph.sample("z", dist.Normal(loc, 1.0))
>>> module = Trace_ELBO()(model, guide)   # an nn.Module computing the loss
>>> abs(float(module().detach())) < 1e-5
True
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch

from tracegraph.distributions.util import is_validation_enabled
from tracegraph.infer.baselines import Run
from tracegraph.infer.disarm import DisarmBranch
from tracegraph.infer.plates import PARTICLE_PLATE
from tracegraph.infer.runs import LastSite, Tracking, particles, trace_run
from tracegraph.infer.site_estimators import SiteEstimator, SiteEstimators
from tracegraph.infer.surrogate import DICE, SCORE_ONLY, Surrogate
from tracegraph.infer.terms import (
    Analytic,
    DepsFn,
    ParticleTerms,
    collect_terms,
    tracked_deps,
    untracked_deps,
)
from tracegraph.infer.validation import (
    check_if_enumerated,
    check_log_prob_shapes,
    check_model_guide_match,
    check_site_shape,
    guess_max_plate_nesting,
)
from tracegraph.params import get_param_store
from tracegraph.poutine import handlers
from tracegraph.poutine.trace_struct import Trace

# Pyro's names at this module path, re-exported from where they live.
from tracegraph.poutine.util import prune_subsample_sites  # noqa: E402, F401
from tracegraph.primitives import plate

__all__ = [
    "ELBO",
    "ELBOModule",
    "check_model_guide_match",
    "check_site_shape",
    "guess_max_plate_nesting",
]

Program = Callable[..., Any]

# What torch says when a batched tensor is used as one number.
_SCALAR_USE = re.compile(
    r"cannot be converted to Scalar|Boolean value of Tensor with more than one value|"
    r"only integer tensors of a single element|only one element tensors"
)


class ELBO:
    """Base class of evidence lower bound objectives.

    :param num_particles: samples per estimate; the loss is their mean.
    :param max_plate_nesting: deepest plate dim in model and guide; guessed from
        one run when not given (needed by ``vectorize_particles``).
    :param max_iarange_nesting: deprecated alias of ``max_plate_nesting``.
    :param vectorize_particles: draw all particles in one run, in an extra plate
        left of the model's plates.
    :param strict_enumeration_warning: accepted for Pyro compatibility
        (tracegraph does not enumerate).
    :param ignore_jit_warnings: accepted for Pyro compatibility.
    :param jit_options: accepted for Pyro compatibility.
    :param retain_graph: passed to ``backward`` by :meth:`loss_and_grads`.
    :param tail_adaptive_beta: accepted for Pyro compatibility.
    :param estimator: the gradient estimator of every non-reparameterized guide
        site that does not choose one with ``infer={"estimator": ...}`` (not in
        Pyro): ``"score"`` (default), ``"leave_one_out"``, ``"disarm"``,
        ``"gumbel_st"`` or a :class:`~tracegraph.infer.site_estimators.SiteEstimator`.

    Subclasses choose what a run tracks and override :meth:`_estimate`; the
    particles' mean is :meth:`_particle_mean`:

    >>> import torch, tracegraph, tracegraph.distributions as dist
    >>> from tracegraph.infer import TraceGraph_ELBO
    >>> def model():
    ...     tracegraph.sample("z", dist.Bernoulli(0.5))
    >>> def guide():
    ...     tracegraph.sample("z", dist.Bernoulli(tracegraph.param("p", torch.tensor(0.5))))
    >>> elbo = TraceGraph_ELBO(num_particles=4, estimator="leave_one_out")
    >>> isinstance(elbo, ELBO), abs(elbo.loss(model, guide))  # guide equals prior: KL 0
    (True, 0.0)
    """

    #: The tracking mode of the estimator's first run (raised for its later runs
    #: once a run needed more; see :mod:`tracegraph.infer.runs`).
    tracking: Tracking = Tracking.NONE
    #: Whether a score multiplies only the costs whose provenance contains its site.
    rao_blackwellize: bool = False
    #: The surrogate of :meth:`loss_and_grads` (one ``backward``): without the
    #: zero-mean pathwise gradient of each score site's own ``log q``, as Pyro's
    #: estimators (``FIRST_ORDER`` keeps it, as ``differentiable_loss`` must).
    first_order: Surrogate = SCORE_ONLY
    #: Replaces a latent site's ``log p - log q`` by its expectation where valid
    #: (:data:`~tracegraph.infer.terms.Analytic`; ``TraceMeanField_ELBO``'s KL).
    analytic: Analytic | None = None
    #: The per-site estimators the class supports (``None``: all of
    #: :data:`~tracegraph.infer.site_estimators.ESTIMATORS`).
    site_estimators: tuple[str, ...] | None = None

    def __init__(
        self,
        num_particles: int = 1,
        max_plate_nesting: float = math.inf,
        max_iarange_nesting: float | None = None,
        vectorize_particles: bool = False,
        strict_enumeration_warning: bool = True,
        ignore_jit_warnings: bool = False,
        jit_options: dict[str, Any] | None = None,
        retain_graph: bool | None = None,
        tail_adaptive_beta: float = -1.0,
        *,
        estimator: str | SiteEstimator = "score",
    ) -> None:
        if not isinstance(num_particles, int) or num_particles < 1:
            raise ValueError(f"num_particles must be a positive int, got {num_particles!r}")
        if max_iarange_nesting is not None:
            warnings.warn(
                "max_iarange_nesting is deprecated; use max_plate_nesting instead",
                DeprecationWarning,
                stacklevel=2,
            )
            max_plate_nesting = max_iarange_nesting
        self.num_particles = num_particles
        self.max_plate_nesting = max_plate_nesting
        self.vectorize_particles = vectorize_particles
        self.retain_graph = retain_graph
        self.strict_enumeration_warning = strict_enumeration_warning
        self.ignore_jit_warnings = ignore_jit_warnings
        self.jit_options = jit_options
        self.tail_adaptive_beta = tail_adaptive_beta
        #: The mode of the next run.  The first run is tracked completely: if its
        #: scores share plates with costs, the plate rule keeps them per element
        #: from the start (a first step summed over the plates has a gradient
        #: whose size lingers in Adam's second moments for a thousand steps);
        #: if not, later runs fall back to :attr:`tracking` (``_fallback``), and
        #: are raised to complete again once one needs it.
        self._tracking = Tracking.COMPLETE
        self._fallback: Tracking | None = self.tracking
        #: Each site's gradient estimator (applied while the guide runs and after).
        self._site_estimators = SiteEstimators(estimator, self.site_estimators)

    # -- runs -----------------------------------------------------------------
    def _guess_max_plate_nesting(self, model: Any, guide: Any, args: Any, kwargs: Any) -> None:
        with handlers.block():
            model_trace, guide_trace = trace_run(model, guide, args, kwargs, Tracking.NONE)
        self.max_plate_nesting = guess_max_plate_nesting(model_trace, guide_trace)

    @property
    def particle_dim(self) -> int | None:
        """The dim of the vectorized particle plate, or ``None``."""
        if not self.vectorize_particles:
            return None
        return -1 - int(self.max_plate_nesting)

    def _vectorized(self, fn: Program) -> Program:
        dim = self.particle_dim
        n = self.num_particles

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            last = LastSite()
            with plate(PARTICLE_PLATE, n, dim=dim), last:
                try:
                    return fn(*args, **kwargs)
                except (RuntimeError, ValueError, TypeError) as exc:
                    if _SCALAR_USE.search(str(exc)):
                        after = (
                            "before its first site"
                            if last.name is None
                            else (f"after site '{last.name}' (value shape {last.shape})")
                        )
                        exc.add_note(
                            f"with vectorize_particles=True every site's value is batched "
                            f"over {n} particles in dim {dim}, and the program failed "
                            f"{after} using a batched value as one Python number (.item(), "
                            "bool(), int(), an if on a tensor); such a program needs "
                            "vectorize_particles=False"
                        )
                    raise

        wrapped.__wrapped__ = fn  # type: ignore[attr-defined]  # runs.py finds GuideMessengers
        return wrapped

    def _runs(self, model: Program, guide: Program, args: Any, kwargs: Any) -> list[Run]:
        """Every run of one step: its cost terms and its guide trace."""
        sites = self._site_estimators
        prepare: Callable[[Program], Program]
        if self.vectorize_particles:
            if self.max_plate_nesting == math.inf:
                self._guess_max_plate_nesting(model, guide, args, kwargs)
            prepare, count = self._vectorized, 1
        else:
            prepare, count = _as_is, self.num_particles
        # Hook: the guide runs under the per-site estimators (site_estimators.py),
        # outside the particle plate so that they see each site's distribution
        # broadcast along it; a DisARM site adds a branch run after each run.
        m, g = prepare(model), sites.guide(prepare(guide))

        def run_branch(branch: DisarmBranch) -> tuple[ParticleTerms, Trace, Trace]:
            return self._run(m, sites.guide(prepare(guide), branch), args, kwargs, self._tracking)

        runs = []
        for _ in range(count):
            terms, _, guide_trace = self._run(m, g, args, kwargs, self._tracking)
            if terms.incomplete or (self._fallback is not None and terms.plated_scores):
                # This run summed its shared plates for lack of tags (or, the first
                # one, needed its complete tracking): later runs are tracked
                # completely (a run is never redone: which estimator a run gets
                # must not depend on its own draw).
                self._tracking, self._fallback = Tracking.COMPLETE, None
            elif self._fallback is not None:
                self._tracking, self._fallback = self._fallback, None
            terms = sites.finish(terms, guide_trace, run_branch)
            runs.append((terms, guide_trace))
        return runs

    def _run(
        self, model: Program, guide: Program, args: Any, kwargs: Any, tracking: Tracking
    ) -> tuple[ParticleTerms, Trace, Trace]:
        """One run's cost terms, model trace and guide trace."""
        model_trace, guide_trace = trace_run(model, guide, args, kwargs, tracking)
        return self._terms(model_trace, guide_trace, tracking), model_trace, guide_trace

    def _terms(
        self,
        model_trace: Trace,
        guide_trace: Trace,
        tracking: Tracking,
        deps_fn: DepsFn | None = None,
    ) -> ParticleTerms:
        """Validation, then the cost terms of a run traced under ``tracking`` (its
        dependencies read from the run's provenance unless ``deps_fn`` is given)."""
        validate = is_validation_enabled()
        if validate:
            check_if_enumerated(guide_trace)
            check_model_guide_match(model_trace, guide_trace, self.max_plate_nesting)
        if deps_fn is None:
            deps_fn = tracked_deps if tracking.tracked else untracked_deps
        terms = collect_terms(
            model_trace,
            guide_trace,
            deps_fn,
            self.rao_blackwellize,
            tracking.complete,
            self.analytic,
        )
        if validate:
            check_log_prob_shapes(model_trace, guide_trace, self.max_plate_nesting)
        return terms

    # -- the estimate ---------------------------------------------------------
    def _estimate(self, runs: list[Run], surrogate: Surrogate) -> tuple[torch.Tensor, torch.Tensor]:
        """The override point of an estimator: from one step's runs, ``(tensor to
        differentiate, -ELBO)``, the same tensor twice with an exact surrogate (DiCE).

        :raises NotImplementedError: in this base class.
        """
        raise NotImplementedError(
            f"{type(self).__name__} does not estimate anything: use Trace_ELBO, "
            "TraceGraph_ELBO or a subclass that implements _estimate or differentiable_loss"
        )

    def _particle_mean(
        self, runs: list[Run], surrogate: Surrogate, extra: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(-objective / num_particles, -ELBO / num_particles)`` of the summed
        surrogates of ``runs`` (plus ``extra``, terms of value 0 such as baselines)."""
        objective, elbo = surrogate.objective(terms for terms, _ in runs)
        if extra is not None:
            objective = objective + extra
        n = self.num_particles
        loss = -objective / n
        return loss, (loss if surrogate.exact else -elbo / n)

    def _losses(
        self, model: Program, guide: Program, args: Any, kwargs: Any, surrogate: Surrogate
    ) -> tuple[torch.Tensor, torch.Tensor]:
        with particles(self.num_particles):  # guides may adapt to it (AutoDiscrete)
            runs = self._runs(model, guide, args, kwargs)
        return self._estimate(runs, surrogate)

    # -- objectives -----------------------------------------------------------
    def differentiable_loss(
        self, model: Program, guide: Program, *args: Any, **kwargs: Any
    ) -> torch.Tensor:
        """The negative ELBO as a tensor whose gradient (first and higher
        derivatives) is the estimator's.

        :returns: a scalar tensor.
        """
        return self._losses(model, guide, args, kwargs, DICE)[0]

    def loss(self, model: Program, guide: Program, *args: Any, **kwargs: Any) -> float:
        """The negative ELBO estimate as a float (no gradients).

        :returns: ``-ELBO``.
        """
        with torch.no_grad():
            return float(self._dispatch_losses(model, guide, args, kwargs)[1])

    def loss_and_grads(self, model: Program, guide: Program, *args: Any, **kwargs: Any) -> float:
        """Estimate the negative ELBO and accumulate its gradient into the ``.grad``
        of every parameter used by the model or the guide.

        The gradient is :meth:`differentiable_loss`'s, taken from a smaller graph
        with the same first derivative (the first-order surrogate).

        :returns: ``-ELBO`` as a float.
        """
        surrogate, loss = self._dispatch_losses(model, guide, args, kwargs)
        if surrogate.requires_grad:
            surrogate.backward(retain_graph=self.retain_graph)
        return float(loss.detach())

    def _dispatch_losses(
        self, model: Program, guide: Program, args: Any, kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if self._losses_is_the_loss:
            return self._losses(model, guide, args, kwargs, self.first_order)
        loss = self.differentiable_loss(model, guide, *args, **kwargs)
        return loss, loss

    #: Whether :meth:`_losses` computes this class's loss: not so in a subclass that
    #: overrides :meth:`differentiable_loss` below the class that defines
    #: ``_losses``, which then keeps its loss in :meth:`loss` and
    #: :meth:`loss_and_grads` too.
    _losses_is_the_loss = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        owner = next(c for c in cls.__mro__ if "_losses" in vars(c) or "_estimate" in vars(c))
        defined = owner.differentiable_loss  # type: ignore[attr-defined]
        cls._losses_is_the_loss = cls.differentiable_loss is defined

    def __call__(self, model: Program, guide: Program) -> ELBOModule:
        """An ``nn.Module`` whose forward computes :meth:`differentiable_loss` of
        ``model`` and ``guide`` on the arguments it is called with."""
        return ELBOModule(model, guide, self)


def _as_is(program: Program) -> Program:
    return program


class ELBOModule(torch.nn.Module):
    """``elbo(model, guide)``: an ``nn.Module`` whose forward is the differentiable
    loss; its parameters are the param store's (after a first forward).
    """

    def __init__(self, model: Program, guide: Program, elbo: ELBO) -> None:
        super().__init__()
        self.model = model
        self.guide = guide
        self.elbo = elbo

    def forward(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        return self.elbo.differentiable_loss(self.model, self.guide, *args, **kwargs)

    def parameters(self, recurse: bool = True) -> Iterator[torch.Tensor]:  # type: ignore[override]
        for _, p in get_param_store().named_parameters():
            yield p
