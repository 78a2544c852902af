"""Per-site gradient estimators: which estimator each non-reparameterized guide
site gets, chosen with ``infer={"estimator": ...}`` on the site or, for sites
that do not say, with the ELBO's ``estimator`` argument (Storchastic-style choice
in Pyro's idiom).

* ``"score"`` (:class:`Score`, the default): the score function, Rao-Blackwellized
  by provenance, with the baseline the site configures (``infer["baseline"]``).
* ``"leave_one_out"`` (:class:`LeaveOneOut`): the score function with the mean of
  the other particles' downstream costs as baseline (Kool et al. 2019); needs
  ``num_particles >= 2``.
* ``"disarm"`` (:class:`DisARM`): for Bernoulli sites, the antithetic estimator of
  Dong et al. (2020); each particle adds one run per such site
  (:mod:`tracegraph.infer.disarm`).
* ``"gumbel_st"`` (:class:`GumbelST`): the straight-through Gumbel-softmax
  estimator (Jang et al. 2017; Bengio et al. 2013), for Bernoulli and
  OneHotCategorical sites: the hard sample in the forward pass, the relaxed
  sample's gradient in the backward pass.  **Biased**: it is an explicit opt-in
  and warns (:class:`BiasedEstimatorWarning`).

Every unbiased choice composes with the Rao-Blackwellization of the other sites:
it changes only the term of its own site (and the other sites see its value as
usual in their dependency sets and plate rule).

The choice is applied while the guide runs, by :class:`SiteEstimatorMessenger`
(``ELBO._runs`` wraps the guide in it), and after each run, by
:meth:`SiteEstimators.finish` (DisARM's second run and its term).

>>> import torch
>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> from tracegraph.infer import TraceGraph_ELBO
>>> def model():
...     z = tracegraph.sample("z", dist.Bernoulli(0.5))
...     tracegraph.sample("x", dist.Normal(z, 1.0), obs=torch.tensor(1.0))
>>> def guide():
...     p = tracegraph.param("p", torch.tensor(0.3), constraint=dist.constraints.unit_interval)
...     tracegraph.sample("z", dist.Bernoulli(p), infer={"estimator": "disarm"})
>>> loss = TraceGraph_ELBO().loss_and_grads(model, guide)
>>> tracegraph.param("p").unconstrained().grad is not None
True
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch

import tracegraph.distributions as dist
from tracegraph.errors import SiteError, TracegraphWarning
from tracegraph.infer.disarm import DisarmBranch, bernoulli_parts, disarm_term, without_score
from tracegraph.infer.terms import ParticleTerms
from tracegraph.poutine.messenger import Messenger
from tracegraph.poutine.runtime import Message
from tracegraph.poutine.sites import site_is_nonreparam, site_is_subsample
from tracegraph.poutine.trace_struct import Trace

__all__ = [
    "BiasedEstimatorWarning",
    "DisARM",
    "ESTIMATORS",
    "GumbelST",
    "LeaveOneOut",
    "Score",
    "SiteEstimator",
    "SiteEstimatorMessenger",
    "SiteEstimators",
    "resolve_estimator",
]

#: The key of the noise a DisARM site was drawn with, in its trace's infer dict.
NOISE = "_disarm_noise"


class BiasedEstimatorWarning(TracegraphWarning):
    """A site uses a biased gradient estimator (``"gumbel_st"``): the expected
    gradient is not the ELBO's, and SVI may settle away from its optimum."""


@dataclass(frozen=True)
class SiteEstimator:
    """A gradient estimator for one non-reparameterized guide site.

    >>> SiteEstimator().name, SiteEstimator().unbiased
    ('score', True)
    """

    #: The name a site's ``infer["estimator"]`` uses.
    name = "score"
    #: Whether the estimator's expected gradient is the exact one.
    unbiased = True

    def check(self, site: str, fn: Any) -> None:
        """Raise :class:`~tracegraph.errors.SiteError` if the estimator cannot
        handle the site's distribution ``fn``."""

    def applies_to(self, fn: Any) -> bool:
        """Whether the estimator can handle ``fn`` (an ELBO's default estimator
        leaves the other sites to the score function)."""
        try:
            self.check("", fn)
        except SiteError:
            return False
        return True

    def process(self, msg: Message) -> None:
        """Change the message of a guide site that uses this estimator, before its
        value is drawn."""


@dataclass(frozen=True)
class Score(SiteEstimator):
    """The score function, Rao-Blackwellized, with the site's own baseline.

    >>> resolve_estimator("score")
    Score()
    """

    name = "score"


@dataclass(frozen=True)
class LeaveOneOut(SiteEstimator):
    """The score function with the leave-one-out baseline over particles: the same
    as ``infer={"baseline": {"use_leave_one_out": True}}``.

    >>> resolve_estimator("leave_one_out")
    LeaveOneOut()
    """

    name = "leave_one_out"

    def process(self, msg: Message) -> None:
        own = msg["infer"].get("baseline")
        if own and not own.get("use_leave_one_out"):
            if msg["infer"].get("estimator") is None:
                return  # the ELBO's default gives way to the site's own baseline
            raise SiteError(
                f"site '{msg['name']}': infer['estimator'] = 'leave_one_out' sets the "
                f"baseline, and the site also configures infer['baseline'] = {own}; "
                "keep one of them"
            )
        # A new dict: the user's infer dict may be shared between calls.
        msg["infer"] = {**msg["infer"], "baseline": {"use_leave_one_out": True}}


@dataclass(frozen=True)
class DisARM(SiteEstimator):
    """DisARM (Dong, Mnih & Tucker 2020) for a Bernoulli site (its batch and event
    elements are one antithetic pair per plate element): the value is drawn as
    ``1[u < sigmoid(logits)]`` and, in a second run that repeats every guide site
    before it, the antithetic ``1[1 - u < sigmoid(logits)]``; the gradient w.r.t.
    the logits is ``(f(z) - f(z~)) / 2 * (-1)^z~ * 1[z != z~] * sigmoid(|logits|)``
    with ``f`` the site's downstream cost in each run.

    >>> resolve_estimator("disarm")
    DisARM()
    """

    name = "disarm"

    def check(self, site: str, fn: Any) -> None:
        bernoulli_parts(site, fn)

    def process(self, msg: Message) -> None:
        base, _ = bernoulli_parts(str(msg["name"]), msg["fn"])
        probs = base.probs
        u = torch.rand(probs.shape, dtype=probs.dtype, device=probs.device)
        msg["value"] = (u < probs).to(probs.dtype)
        msg["infer"] = {**msg["infer"], NOISE: u}


@dataclass(frozen=True)
class GumbelST(SiteEstimator):
    """The straight-through Gumbel-softmax estimator at ``temperature``: biased,
    lower variance; the site becomes reparameterized.

    :param temperature: of the relaxed distribution (lower: less bias, more
        variance).

    >>> GumbelST(temperature=0.5).unbiased
    False
    """

    name = "gumbel_st"
    unbiased = False
    temperature: float = 1.0

    def check(self, site: str, fn: Any) -> None:
        base = fn
        while isinstance(base, torch.distributions.Independent):
            base = base.base_dist
        if not isinstance(
            base, (torch.distributions.Bernoulli, torch.distributions.OneHotCategorical)
        ):
            raise SiteError(
                f"site '{site}': the 'gumbel_st' estimator needs a Bernoulli or "
                f"OneHotCategorical distribution, got {type(base).__name__}"
            )

    def process(self, msg: Message) -> None:
        fn: Any = msg["fn"]
        base, wrap = fn, 0
        while isinstance(base, torch.distributions.Independent):
            wrap += base.reinterpreted_batch_ndims
            base = base.base_dist
        t = torch.as_tensor(self.temperature, dtype=base.logits.dtype, device=base.logits.device)
        relaxed: Any
        if isinstance(base, torch.distributions.Bernoulli):
            relaxed = dist.RelaxedBernoulliStraightThrough(t, logits=base.logits)
        else:
            relaxed = dist.RelaxedOneHotCategoricalStraightThrough(t, logits=base.logits)
        msg["value"] = relaxed.rsample()
        # The site's own distribution scores the hard value; the value's gradient
        # is the relaxed draw's, so the site is now pathwise.
        msg["fn"] = fn.has_rsample_(True)


#: The estimators by the name ``infer["estimator"]`` uses.
ESTIMATORS: dict[str, type[SiteEstimator]] = {
    cls.name: cls for cls in (Score, LeaveOneOut, DisARM, GumbelST)
}


def resolve_estimator(spec: str | SiteEstimator, site: str | None = None) -> SiteEstimator:
    """The estimator a name or instance stands for.

    :raises SiteError: for an unknown name, listing the known ones.

    >>> resolve_estimator(GumbelST(temperature=0.3))
    GumbelST(temperature=0.3)
    """
    if isinstance(spec, SiteEstimator):
        return spec
    cls = ESTIMATORS.get(spec) if isinstance(spec, str) else None
    if cls is None:
        where = f"site '{site}': " if site is not None else ""
        raise SiteError(
            f"{where}unknown gradient estimator {spec!r}; known: {sorted(ESTIMATORS)} "
            "(or an instance of tracegraph.infer.site_estimators.SiteEstimator)"
        )
    return cls()


class SiteEstimatorMessenger(Messenger):
    """Apply each guide site's estimator while the guide runs (and, for a DisARM
    branch run, repeat the first run's values up to the branching site).

    :param estimators: the ELBO's estimator choice.
    :param branch: for a DisARM second run, the :class:`~tracegraph.infer.disarm.DisarmBranch`.
    """

    def __init__(self, estimators: SiteEstimators, branch: DisarmBranch | None = None) -> None:
        super().__init__()
        self.estimators = estimators
        self.branch = branch

    def _pyro_sample(self, msg: Message) -> None:
        if msg["is_observed"] or site_is_subsample(msg) or msg["done"]:
            return
        if self.branch is not None and self.branch.force(msg):
            return
        spec = msg["infer"].get("estimator")
        if spec is None and not site_is_nonreparam(msg):
            return
        name = str(msg["name"])
        est = self.estimators.choose(name, spec)
        if isinstance(est, Score) or (spec is None and not est.applies_to(msg["fn"])):
            return
        if not site_is_nonreparam(msg):
            raise SiteError(
                f"site '{name}': infer['estimator'] = {est.name!r} is for sites without "
                f"rsample, and {type(msg['fn']).__name__} here is reparameterized"
            )
        est.check(name, msg["fn"])
        est.process(msg)
        if not est.unbiased:
            self.estimators.warn_biased(name, est)


class SiteEstimators:
    """An ELBO's per-site estimator choice and what it keeps across steps.

    :param default: the estimator of sites that do not choose one.
    :param allowed: the names the ELBO supports.

    >>> SiteEstimators("leave_one_out").default
    LeaveOneOut()
    """

    def __init__(
        self, default: str | SiteEstimator = "score", allowed: Iterable[str] | None = None
    ) -> None:
        self.allowed = frozenset(ESTIMATORS if allowed is None else allowed)
        self.default = self._allowed(resolve_estimator(default), None)
        self._warned: set[str] = set()

    def _allowed(self, est: SiteEstimator, site: str | None) -> SiteEstimator:
        if est.name not in self.allowed:
            where = f"site '{site}': " if site is not None else ""
            raise SiteError(
                f"{where}this ELBO does not support the {est.name!r} estimator; it "
                f"supports {sorted(self.allowed)}"
            )
        return est

    def choose(self, site: str, spec: Any) -> SiteEstimator:
        """The estimator of ``site`` given its ``infer["estimator"]`` (or ``None``)."""
        if spec is None:
            return self.default
        return self._allowed(resolve_estimator(spec, site), site)

    def warn_biased(self, site: str, est: SiteEstimator) -> None:
        """Warn once per site that its estimator is biased."""
        if site in self._warned:
            return
        self._warned.add(site)
        warnings.warn(
            f"site '{site}' uses the {est.name!r} gradient estimator, which is biased: "
            "its expected gradient is not the ELBO's (use 'score', 'leave_one_out' or "
            "'disarm' for an unbiased one)",
            BiasedEstimatorWarning,
            stacklevel=6,
        )

    def guide(
        self, guide: Callable[..., Any], branch: DisarmBranch | None = None
    ) -> Callable[..., Any]:
        """``guide`` run under :class:`SiteEstimatorMessenger`."""
        return SiteEstimatorMessenger(self, branch)(guide)

    def finish(
        self,
        terms: ParticleTerms,
        guide_trace: Trace,
        run_branch: Callable[[DisarmBranch], tuple[ParticleTerms, Trace, Trace]],
    ) -> ParticleTerms:
        """One run's terms with every DisARM site's score replaced by its DisARM
        term (each from a second run made by ``run_branch``)."""
        names = list(guide_trace.nodes)
        for index, name in enumerate(names):
            site = guide_trace.nodes[name]
            if site["type"] != "sample" or NOISE not in site["infer"] or name not in terms.scores:
                continue
            branch = DisarmBranch.after(guide_trace, names[:index], name, site["infer"][NOISE])
            b_terms, _, b_guide = run_branch(branch)
            b_site = b_guide.nodes.get(name)
            if b_site is None or name not in b_terms.scores:
                continue
            term = disarm_term(name, site, b_site, terms, b_terms)
            if term is None:
                continue  # the site's distribution differed: its score stays
            terms = without_score(terms, name)
            terms.groups.append(term)
        return terms
