"""DisARM for Bernoulli guide sites (Dong, Mnih & Tucker 2020): antithetic pairs
from one uniform, two evaluations per pair.

A DisARM site draws its value as ``z = 1[u < sigmoid(theta)]`` with ``u`` uniform
(one per element, kept in the site's infer dict).  After the run, a second run,
the *branch*, repeats every guide site that ran before it (the same values, so
the site has the same logits ``theta``), takes the antithetic value
``z~ = 1[1 - u < sigmoid(theta)]`` there and draws everything after it afresh.
With ``f`` the site's downstream cost (the cost terms whose provenance contains
it, per plate element as the plate rule allows) in each run, the estimate of the
gradient of ``E[f]`` w.r.t. ``theta`` is

    g = (f(z) - f~(z~)) / 2 * (-1)^z~ * 1[z != z~] * sigmoid(|theta|),

the conditional expectation of the ARM estimator (Yin & Zhou 2019) given the pair.
It stays unbiased with a different ``f`` in each run (the draws after the site
are fresh in the branch; the ARM identity then gives the mean of both runs'
gradients) and with the costs that do not depend on the site left out (their
difference between the runs does not depend on ``u``, and the weight has mean
zero).  The event elements of one batch element are one pair; batch elements in
a plate are separate pairs when the plate rule charges them per element.

The branch serves the site's term only: its own costs and scores are dropped.
The site's score term is replaced by ``sum((theta - theta.detach()) * g)``: value
0, gradient ``g`` times the logits' gradient.  The direct gradient of the site's
own ``-log q(z)`` (w.r.t. ``theta`` at the drawn ``z``) has mean zero, since
``E[grad log q] = 0``, and only adds noise: it is cancelled, as in the DisARM
paper's estimator (``f`` keeps ``-log q`` as a value).  If the branch reaches
the site with other logits (randomness the guide draws without a site) the site
keeps its score term for that run.

>>> import torch
>>> import tracegraph.distributions as dist
>>> base, event_dim = bernoulli_parts("z", dist.Bernoulli(logits=torch.zeros(2, 3)).to_event(1))
>>> type(base).__name__, event_dim
('Bernoulli', 1)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch

from tracegraph.errors import SiteError
from tracegraph.infer.terms import NO_PLATES, CostGroup, ParticleTerms, ScalarTerms
from tracegraph.ops.provenance import detach_provenance, untracked
from tracegraph.poutine.runtime import Message
from tracegraph.poutine.sites import site_is_subsample
from tracegraph.poutine.trace_struct import Trace

__all__ = ["DisarmBranch", "bernoulli_parts", "disarm_term", "without_score"]


def bernoulli_parts(site: str, fn: Any) -> tuple[torch.distributions.Bernoulli, int]:
    """The Bernoulli inside ``fn`` (unwrapping ``Independent``) and the number of
    event dims around it.

    :raises SiteError: if ``fn`` is not a Bernoulli.
    """
    base, event_dim = fn, 0
    while isinstance(base, torch.distributions.Independent):
        event_dim += base.reinterpreted_batch_ndims
        base = base.base_dist
    if not isinstance(base, torch.distributions.Bernoulli):
        raise SiteError(
            f"site '{site}': the 'disarm' estimator needs a Bernoulli distribution "
            f"(possibly .to_event()), got {type(base).__name__}; use 'score' or "
            "'leave_one_out' for other discrete sites"
        )
    return base, event_dim


@dataclass
class DisarmBranch:
    """What the branch run of one DisARM site repeats: the values of the guide
    sites before it, and the site's uniform noise.

    >>> import tracegraph.distributions as dist
    >>> msg = {"name": "z", "fn": dist.Bernoulli(torch.tensor(0.5)), "value": None}
    >>> DisarmBranch({}, "z", torch.tensor(0.2)).force(msg), msg["value"]  # 1 - 0.2 < 0.5?
    (True, tensor(0.))
    """

    values: dict[str, Any]
    site: str
    noise: torch.Tensor

    @classmethod
    def after(
        cls, guide_trace: Trace, before: list[str], site: str, noise: torch.Tensor
    ) -> DisarmBranch:
        """The branch at ``site`` of a run whose guide trace is ``guide_trace``;
        ``before`` lists the trace's nodes that ran before it."""
        values = {}
        for name in before:
            node = guide_trace.nodes[name]
            if node["type"] == "sample" and not node["is_observed"] and not site_is_subsample(node):
                values[name] = node["value"]
        return cls(values, site, noise)

    def force(self, msg: Message) -> bool:
        """Give the site its branch value, if it has one; returns whether it did."""
        name = str(msg["name"])
        if name in self.values:
            msg["value"] = self.values[name]
            return True
        if name == self.site:
            base, _ = bernoulli_parts(name, msg["fn"])
            probs = base.probs
            if probs.shape != self.noise.shape:
                return False  # another shape: drawn afresh, and the site keeps its score
            msg["value"] = (1.0 - self.noise < probs).to(probs.dtype)
            return True
        return False


def disarm_term(
    name: str, site: Any, branch_site: Any, terms: ParticleTerms, branch_terms: ParticleTerms
) -> CostGroup | None:
    """The cost group of value 0 whose gradient is DisARM's for site ``name``, from
    the site in the run and in its branch; ``None`` when the logits differ."""
    base, event_dim = bernoulli_parts(name, site["fn"])
    branch_base, _ = bernoulli_parts(name, branch_site["fn"])
    with untracked():
        theta = detach_provenance(base.logits)
        theta_b = detach_provenance(branch_base.logits).detach()
        if theta.shape != theta_b.shape or not torch.equal(theta.detach(), theta_b):
            return None
        z = detach_provenance(site["value"]).detach()
        z_b = detach_provenance(branch_site["value"]).detach()
        f = terms.downstream_cost(name)
        f_b = branch_terms.downstream_cost(name)
        if f.shape != f_b.shape:
            # The plate rule charged the elements differently in the two runs: charge
            # every element with the whole cost (always unbiased).
            f, f_b = f.sum(), f_b.sum()
        half = 0.5 * (f - f_b)
        half = half.reshape(tuple(half.shape) + (1,) * event_dim)
        sign = 1.0 - 2.0 * z_b
        g = (
            half * sign * (z != z_b).to(theta.dtype) * torch.sigmoid(theta.detach().abs())
        ).detach()
        term = ((theta - theta.detach()) * g).sum()
        if name not in terms.analytic:
            # Value 0, gradient +grad log q(z): cancels the zero-mean direct
            # gradient of the site's own -log q cost term.
            log_q = detach_provenance(site["log_prob"])
            term = term + (log_q - log_q.detach()).sum()
    return CostGroup(frozenset(), NO_PLATES, term)


def without_score(terms: ParticleTerms, site: str) -> ParticleTerms:
    """``terms`` with ``site``'s score taken out: no cost depends on it any more
    (its own and its downstream costs stay, with their pathwise gradients).

    >>> t = ParticleTerms([CostGroup(frozenset({"z"}), {}, torch.tensor(1.0))],
    ...                   {"z": torch.tensor(-0.7)}, {"z": {}})
    >>> r = without_score(t, "z")
    >>> r.groups[0].deps, sorted(r.scores)
    (frozenset(), [])
    """
    groups = [
        dataclasses.replace(
            g,
            deps=g.deps - {site},
            elementwise={k: v for k, v in g.elementwise.items() if k != site},
        )
        for g in terms.groups
    ]
    scalar = terms.scalar
    if scalar is not None and site in scalar.sites:
        j = scalar.sites.index(site)
        keep = [i for i in range(len(scalar.sites)) if i != j]
        scalar = ScalarTerms(
            scalar.costs,
            scalar.signs,
            tuple(scalar.sites[i] for i in keep),
            scalar.matrix[:, keep],
        )
    scores = {k: v for k, v in terms.scores.items() if k != site}
    plates = {k: v for k, v in terms.score_plates.items() if k != site}
    # (disarm_term cancels the site's own pathwise gradient itself.)
    own = {k: v for k, v in terms.own_costs.items() if k != site}
    return ParticleTerms(
        groups,
        scores,
        plates,
        scalar,
        terms.incomplete,
        terms.analytic,
        own,
        terms.own_is_score - {site},
    )
