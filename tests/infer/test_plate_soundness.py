"""Per-element Rao-Blackwellization inside plates stays unbiased (issue 6).

A non-reparameterized site ``i`` in a plate ``f`` may multiply its element ``e``'s
score by element ``e`` of a cost only when every path from ``i`` to the cost stays
inside ``f`` (:class:`~tracegraph.infer.plates.PlateRule`).  The tests compare
the estimators against exact references on models where a path leaves the plate
(a site outside it, Python control flow, a reparameterized site), check that the
per-element estimator is kept where no path does, and that a run lacking the
tags the rule needs sums its shared plates (and is not redone) without bias.

Two kinds of reference, both exact:

* **Expected estimate by enumeration.**  For a guide whose latents are all
  discrete, run the single-particle estimator once on every guide path ``z``
  (values forced by :class:`ForceValues`) and weight its gradient by ``q(z)``:
  this is the estimator's exact mean (and variance), with no sampling error.  It
  must equal the gradient of the enumerated ELBO up to float32 rounding of the
  per-path gradients, hence the tolerance ``rtol=1e-4, atol=1e-5``.
* **Monte Carlo.**  ``n`` independent estimates (each the mean of ``K`` particles
  in a vectorized particle plate, or one particle where ``.item()`` control flow
  forbids batching) must have a mean within 4 standard errors (sample std /
  sqrt(n)) of the exact gradient, per coordinate (:func:`enumeration.assert_unbiased`:
  a false alarm has probability about 6e-5 per coordinate).  To show that these
  tests have power, the same draws with the rule forced to Pyro's per-element one
  (:func:`forced_rule`) must be off by more than 10 standard errors.

Seeds are fixed, so every test is deterministic.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
import torch
from enumeration import (
    ZOO,
    ForceValues,
    assert_unbiased,
    enumerate_paths,
    estimator_moments,
    exact_grads,
    grad_estimates,
    guide_params,
    joint_support,
)

import tracegraph
import tracegraph.distributions as dist
from tracegraph.distributions import constraints
from tracegraph.infer import ELBO, JitTraceGraph_ELBO, Trace_ELBO, TraceGraph_ELBO
from tracegraph.infer.plates import PlateRule
from tracegraph.infer.runs import Tracking, trace_run
from tracegraph.infer.terms import CostGroup, collect_terms, tracked_deps
from tracegraph.ops.provenance import detach_provenance, get_provenance
from tracegraph.poutine import handlers

Program = Callable[..., Any]

ESTIMATORS: dict[str, type[ELBO]] = {
    "trace": Trace_ELBO,
    "tracegraph": TraceGraph_ELBO,
    "jit": JitTraceGraph_ELBO,
}




# -- helpers --------------------------------------------------------------------------


def _keep_per_element(
    self: PlateRule, i: str, cost_deps: Any, cost_control: Any, shared: frozenset[str]
) -> frozenset[str]:
    return shared


def _keep_none(
    self: PlateRule, i: str, cost_deps: Any, cost_control: Any, shared: frozenset[str]
) -> frozenset[str]:
    return frozenset()


@contextmanager
def forced_rule(kind: str) -> Iterator[None]:
    """Replace the plate rule: ``"per_element"`` keeps every shared plate (the rule
    Pyro applies), ``"summed"`` keeps none (always unbiased, more variance)."""
    replacement = {"per_element": _keep_per_element, "summed": _keep_none}[kind]
    original = PlateRule.elementwise
    PlateRule.elementwise = replacement  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        PlateRule.elementwise = original  # type: ignore[method-assign]


def assert_exact(mean: torch.Tensor, exact: torch.Tensor) -> None:
    """An enumerated expectation equals the exact gradient: the tolerance covers only
    the float32 rounding of the per-path gradients (no sampling error)."""
    torch.testing.assert_close(mean, exact.double(), rtol=1e-4, atol=1e-5)


def max_z_score(samples: torch.Tensor, exact: torch.Tensor) -> float:
    """The largest ``|mean - exact| / SE`` over the coordinates."""
    se = samples.std(0) / math.sqrt(samples.shape[0])
    return float(((samples.mean(0) - exact.double()).abs() / se).max())


def relative_error(mean: torch.Tensor, exact: torch.Tensor) -> float:
    return float((mean - exact.double()).norm() / exact.double().norm())


def gradient_samples(
    elbo: ELBO, model: Program, guide: Program, args: tuple[Any, ...], n: int, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` gradient estimates (seeded) and the params' exact gradient by enumeration."""
    params = list(guide_params(guide, *args).values())
    exact = exact_grads(model, guide, params, *args)
    tracegraph.set_rng_seed(seed)
    samples = grad_estimates(lambda: elbo.differentiable_loss(model, guide, *args), params, n)
    return samples, exact


def particle_terms(
    model: Program, guide: Program, args: tuple[Any, ...], rao_blackwellize: bool
) -> list[CostGroup]:
    """The cost groups of one run tracked with every latent site tagged."""
    model_trace, guide_trace = trace_run(model, guide, args, {}, Tracking.COMPLETE)
    return collect_terms(model_trace, guide_trace, tracked_deps, rao_blackwellize).groups


# -- the sigmoid belief net of the issue -------------------------------------------------
#
# Top-down model, bottom-up guide, one datapoint in a "data" plate (dim -2), three
# units in the lower layer and two in the upper one (32 guide paths).  The weights
# are strong so that the guide's z2 is nearly a function of all of z1 and the
# model's log p(z1 | z2) changes a lot with z2; they came from a small search for
# the largest bias of the per-element rule (40 % of the gradient's norm; 0.31 of a
# single-particle standard deviation on the worst coordinate).

SBN_W = torch.tensor([[-2.7, -2.4, 2.0], [2.3, 3.2, 3.1]])  # units2 x units1
SBN_B1 = torch.tensor([0.2, -2.7, -1.4])
SBN_B2 = torch.tensor([-0.5, 0.3])
SBN_X = torch.tensor([[-0.4, 1.2, 0.8]])  # (datapoints, units1)


def sbn_model(x: torch.Tensor) -> None:
    with tracegraph.plate("data", x.shape[0], dim=-2):
        with tracegraph.plate("units2", 2, dim=-1):
            z2 = tracegraph.sample("z2", dist.Bernoulli(logits=SBN_B2.expand(x.shape[0], 2)))
        with tracegraph.plate("units1", 3, dim=-1):
            z1 = tracegraph.sample("z1", dist.Bernoulli(logits=z2 @ SBN_W + SBN_B1))
            tracegraph.sample("x", dist.Normal(2.0 * z1 - 1.0, 1.0), obs=x)


def sbn_guide(x: torch.Tensor) -> None:
    a = tracegraph.param("enc1_w", torch.tensor([-0.5, 1.6, -0.1]))
    c = tracegraph.param("enc1_b", torch.tensor([-0.1, 1.3, -0.1]))
    v = tracegraph.param("enc2_w", torch.tensor([[-6.9, 1.6], [1.2, 3.9], [1.4, 1.3]]))
    d = tracegraph.param("enc2_b", torch.tensor([0.2, -1.4]))
    with tracegraph.plate("data", x.shape[0], dim=-2):
        with tracegraph.plate("units1", 3, dim=-1):
            z1 = tracegraph.sample("z1", dist.Bernoulli(logits=a * x + c))
        with tracegraph.plate("units2", 2, dim=-1):
            tracegraph.sample("z2", dist.Bernoulli(logits=z1 @ v + d))


@pytest.mark.parametrize("name", ESTIMATORS)
def test_sbn_expected_gradient_equals_exact(name):
    mean, _ = estimator_moments(ESTIMATORS[name](), sbn_model, sbn_guide, SBN_X)
    params = list(guide_params(sbn_guide, SBN_X).values())
    exact = exact_grads(sbn_model, sbn_guide, params, SBN_X)
    assert_exact(mean, exact)


@pytest.mark.parametrize("name", ["trace", "tracegraph"])
def test_sbn_expected_gradient_per_element_rule_biased(name):
    with forced_rule("per_element"):
        mean, _ = estimator_moments(ESTIMATORS[name](), sbn_model, sbn_guide, SBN_X)
    params = list(guide_params(sbn_guide, SBN_X).values())
    exact = exact_grads(sbn_model, sbn_guide, params, SBN_X)
    # Measured: 0.40 for both estimators (they drop the same terms from z1's score).
    assert relative_error(mean, exact) > 0.3


@pytest.mark.parametrize("name", ESTIMATORS)
def test_sbn_gradient_matches_enumeration(name):
    elbo = ESTIMATORS[name](num_particles=100, vectorize_particles=True)
    samples, exact = gradient_samples(elbo, sbn_model, sbn_guide, (SBN_X,), n=40)
    assert_unbiased(samples, exact)


@pytest.mark.parametrize("name", ["trace", "tracegraph", "jit"])
def test_sbn_gradient_per_element_rule_biased_beyond_10_se(name):
    # The same draws as the test above; the worst coordinate is 21.5 SE off.
    elbo = ESTIMATORS[name](num_particles=100, vectorize_particles=True)
    with forced_rule("per_element"):
        samples, exact = gradient_samples(elbo, sbn_model, sbn_guide, (SBN_X,), n=40)
    assert max_z_score(samples, exact) > 10.0


def test_sbn_leave_one_out_gradient_matches_enumeration():
    elbo = TraceGraph_ELBO(num_particles=4, vectorize_particles=True, leave_one_out=True)
    samples, exact = gradient_samples(elbo, sbn_model, sbn_guide, (SBN_X,), n=400)
    assert_unbiased(samples, exact)


@pytest.mark.slow
@pytest.mark.parametrize("name", ESTIMATORS)
def test_sbn_single_particle_gradient_matches_enumeration(name):
    # One particle per estimate, no particle plate: the plain code path.
    samples, exact = gradient_samples(ESTIMATORS[name](), sbn_model, sbn_guide, (SBN_X,), n=3000)
    assert_unbiased(samples, exact)


@pytest.mark.parametrize("rao_blackwellize", [False, True])
def test_sbn_collect_terms_sums_units_keeps_data(rao_blackwellize):
    # Two datapoints: z1's path to log p(z1 | z2) leaves "units1" (through z2) but
    # stays in "data", so that cost is summed over the units only.
    x = torch.cat([SBN_X, -SBN_X])
    groups = particle_terms(sbn_model, sbn_guide, (x,), rao_blackwellize)
    in_units1 = [g for g in groups if set(g.plates.values()) == {"data", "units1"}]
    # log p(x | z1) and -log q(z1) depend on z1 directly: kept per element.
    assert sorted(str(g.elementwise) for g in in_units1) == ["{'z1': frozenset({'data'})}", "{}"]
    (model_z1,) = [g for g in in_units1 if g.elementwise]
    assert model_z1.target("z1") == {-2: "data"}
    assert model_z1.target("z2") == {-2: "data", -1: "units1"}


# -- the plain case: a local latent in a data plate --------------------------------------
#
# ZOO's "plate" case: a global g sampled first, then one z per datapoint whose
# distribution depends on g.  No path from z leaves the data plate, so the
# estimator must be exactly the per-element one.

PLAIN = {case.name: case for case in ZOO}["plate"]


@pytest.mark.parametrize("rao_blackwellize", [False, True])
def test_plain_plate_collect_terms_keeps_every_plate(rao_blackwellize):
    groups = particle_terms(PLAIN.model, PLAIN.guide, PLAIN.args, rao_blackwellize)
    assert any("z" in g.deps and g.plates for g in groups)
    assert all(g.elementwise == {} for g in groups)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_plain_plate_samples_equal_per_element_rule(name):
    params = list(guide_params(PLAIN.guide, *PLAIN.args).values())

    def draws() -> torch.Tensor:
        tracegraph.set_rng_seed(1)
        elbo = ESTIMATORS[name]()
        return grad_estimates(
            lambda: elbo.differentiable_loss(PLAIN.model, PLAIN.guide, *PLAIN.args), params, 50
        )

    sound = draws()
    with forced_rule("per_element"):
        per_element = draws()
    assert torch.equal(sound, per_element)


@pytest.mark.parametrize("name", ["trace", "tracegraph"])
def test_plain_plate_variance_equals_per_element_below_summed(name):
    def moments(kind: str | None) -> tuple[torch.Tensor, torch.Tensor]:
        elbo = ESTIMATORS[name]()
        if kind is None:
            return estimator_moments(elbo, PLAIN.model, PLAIN.guide, *PLAIN.args)
        with forced_rule(kind):
            return estimator_moments(elbo, PLAIN.model, PLAIN.guide, *PLAIN.args)

    sound_mean, sound_var = moments(None)
    _, per_element_var = moments("per_element")
    summed_mean, summed_var = moments("summed")
    torch.testing.assert_close(sound_var, per_element_var, rtol=1e-5, atol=1e-6)
    # Both are unbiased (exact means agree); summing only adds variance.  Measured
    # ratio of the traces: 2.4 for both estimators.
    torch.testing.assert_close(sound_mean, summed_mean, rtol=1e-4, atol=1e-5)
    assert float(summed_var.sum()) > 1.5 * float(sound_var.sum())


# -- Python control flow inside plates ---------------------------------------------------
#
# One global decision reads every element of z1, so every later site depends on
# all of z1: in the guide (z2's distribution) or in the model (x's location).


def _probs(name: str, init: list[float]) -> torch.Tensor:
    return tracegraph.param(name, torch.tensor(init), constraint=constraints.unit_interval)


CF_X = torch.tensor([0.9, -1.2, 1.4])


def cf_guide_model(x: torch.Tensor) -> None:
    with tracegraph.plate("units1", 3):
        z1 = tracegraph.sample("z1", dist.Bernoulli(0.5))
        z2 = tracegraph.sample("z2", dist.Bernoulli(0.1 + 0.8 * z1))
        tracegraph.sample("x", dist.Normal(z1 + 2.0 * z2 - 1.5, 1.0), obs=x)


def cf_guide_guide(x: torch.Tensor) -> None:
    q1 = _probs("cf_q1", [0.3, 0.6, 0.7])
    qa, qb = _probs("cf_qa", [0.9, 0.1, 0.8]), _probs("cf_qb", [0.1, 0.8, 0.2])
    with tracegraph.plate("units1", 3):
        z1 = tracegraph.sample("z1", dist.Bernoulli(q1))
    q2 = qa if z1.sum().item() >= 2 else qb  # one decision from every element
    with tracegraph.plate("units1", 3):
        tracegraph.sample("z2", dist.Bernoulli(q2))


def cf_model_model(x: torch.Tensor) -> None:
    with tracegraph.plate("units1", 3):
        z1 = tracegraph.sample("z1", dist.Bernoulli(0.5))
    shift = 2.0 if z1.sum().item() >= 2 else -1.0
    with tracegraph.plate("units1", 3):
        tracegraph.sample("x", dist.Normal(z1 + shift, 1.0), obs=x)


def cf_model_guide(x: torch.Tensor) -> None:
    with tracegraph.plate("units1", 3):
        tracegraph.sample("z1", dist.Bernoulli(_probs("cf_q1", [0.3, 0.6, 0.7])))


CONTROL_FLOW = {
    "guide_decides": (cf_guide_model, cf_guide_guide),
    "model_decides": (cf_model_model, cf_model_guide),
}


@pytest.mark.parametrize("where", CONTROL_FLOW)
@pytest.mark.parametrize("name", ESTIMATORS)
def test_control_flow_in_plate_expected_gradient_equals_exact(where, name):
    model, guide = CONTROL_FLOW[where]
    mean, _ = estimator_moments(ESTIMATORS[name](), model, guide, CF_X)
    exact = exact_grads(model, guide, list(guide_params(guide, CF_X).values()), CF_X)
    assert_exact(mean, exact)
    with forced_rule("per_element"):
        biased, _ = estimator_moments(ESTIMATORS[name](), model, guide, CF_X)
    # Measured: 0.49 (the guide decides) and 0.57 (the model decides) for every
    # estimator.
    assert relative_error(biased, exact) > 0.3


@pytest.mark.parametrize("where", CONTROL_FLOW)
def test_control_flow_in_plate_drops_per_element(where):
    model, guide = CONTROL_FLOW[where]
    groups = particle_terms(model, guide, (CF_X,), rao_blackwellize=True)
    decided = [g for g in groups if "z1" in g.deps and g.elementwise]
    assert decided and all(g.elementwise["z1"] == frozenset() for g in decided)


@pytest.mark.parametrize("where", CONTROL_FLOW)
@pytest.mark.parametrize("name", ["trace", "tracegraph"])
def test_control_flow_in_plate_gradient_matches_enumeration(where, name):
    # ``.item()`` forbids a particle plate: one particle per estimate.
    model, guide = CONTROL_FLOW[where]
    samples, exact = gradient_samples(ESTIMATORS[name](), model, guide, (CF_X,), n=500)
    assert_unbiased(samples, exact)


@pytest.mark.slow
@pytest.mark.parametrize("where", CONTROL_FLOW)
@pytest.mark.parametrize("name", ["trace", "tracegraph"])
def test_control_flow_in_plate_per_element_rule_biased_beyond_10_se(where, name):
    # The per-element rule's bias, measured in standard errors of single-particle
    # draws (6.6 SE at n = 800 for the guide's decision; the enumerated test above
    # shows it without sampling error).
    model, guide = CONTROL_FLOW[where]
    with forced_rule("per_element"):
        biased, exact = gradient_samples(ESTIMATORS[name](), model, guide, (CF_X,), n=3000)
    assert max_z_score(biased, exact) > 10.0


# -- a reparameterized site between the score and the cost ------------------------------
#
# z1 (Bernoulli, plate units1) -> h (Normal, reparameterized, outside the plate,
# located at a function of z1.sum()) -> x (plate units1, reads h).  Tagging only
# the non-reparameterized sites would show x depending on z1 alone; the rule needs
# h tagged to see the path leave the plate.  No enumeration covers h, but every
# expectation over h is Gaussian, so the ELBO has a closed form given z1 (below);
# its gradient by autograd is exact.

REP_A = torch.tensor([2.0, -2.5, 1.5])  # how strongly x[j] reads h
REP_B = torch.tensor([1.0, 0.5, -1.0])  # and its own z1[j]
REP_X = torch.tensor([1.0, -1.5, 0.5])
REP_PRIOR = 0.4


def reparam_model(x: torch.Tensor) -> None:
    with tracegraph.plate("units1", 3):
        z1 = tracegraph.sample("z1", dist.Bernoulli(REP_PRIOR))
    h = tracegraph.sample("h", dist.Normal(0.0, 1.0))
    with tracegraph.plate("units1", 3):
        tracegraph.sample("x", dist.Normal(REP_A * h + REP_B * z1, 1.0), obs=x)


def _reparam_params() -> tuple[torch.Tensor, ...]:
    q = _probs("rep_q", [0.3, 0.6, 0.7])
    w = tracegraph.param("rep_w", torch.tensor(1.5))
    c = tracegraph.param("rep_c", torch.tensor(-0.5))
    s = tracegraph.param("rep_s", torch.tensor(0.7), constraint=constraints.positive)
    return q, w, c, s


def reparam_guide(x: torch.Tensor) -> None:
    q, w, c, s = _reparam_params()
    with tracegraph.plate("units1", 3):
        z1 = tracegraph.sample("z1", dist.Bernoulli(q))
    # Summed over the units only: a particle plate (dim -2) must not be mixed.
    tracegraph.sample("h", dist.Normal(w * z1.sum(-1, keepdim=True) + c, s))


def reparam_exact_elbo(x: torch.Tensor) -> torch.Tensor:
    """``sum_z1 q(z1) (log p(z1) - log q(z1) + E_h[log p(h) + log p(x | h, z1) - log q(h | z1)])``
    with ``h ~ Normal(mu, s)``: ``E[h^2] = mu^2 + s^2``, ``E[(y - a h)^2] = (y - a mu)^2
    + a^2 s^2`` and ``E[log q(h)] = -log(s) - 1/2 - log(2 pi) / 2``."""
    q, w, c, s = (t.double() for t in _reparam_params())
    a, b, x = REP_A.double(), REP_B.double(), x.double()
    half_log_2pi = 0.5 * math.log(2 * math.pi)
    total = torch.zeros((), dtype=torch.float64)
    for z1 in joint_support(dist.Bernoulli(q)):
        log_q = dist.Bernoulli(q).log_prob(z1).sum()
        log_p = dist.Bernoulli(torch.full_like(q, REP_PRIOR)).log_prob(z1).sum()
        mu = w * z1.sum() + c
        log_p_h = -half_log_2pi - 0.5 * (mu**2 + s**2)
        log_q_h = -half_log_2pi - torch.log(s) - 0.5
        resid = x - a * mu - b * z1
        log_p_x = (-half_log_2pi - 0.5 * (resid**2 + a**2 * s**2)).sum()
        total = total + log_q.exp() * (log_p - log_q + log_p_h + log_p_x - log_q_h)
    return total


def reparam_samples(elbo: ELBO, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    params = list(guide_params(reparam_guide, REP_X).values())
    grads = torch.autograd.grad(-reparam_exact_elbo(REP_X), params)
    exact = torch.cat([g.reshape(-1) for g in grads])
    tracegraph.set_rng_seed(0)
    samples = grad_estimates(
        lambda: elbo.differentiable_loss(reparam_model, reparam_guide, REP_X), params, n
    )
    return samples, exact


def test_reparam_exact_elbo_matches_monte_carlo():
    # The closed form against 40 estimates of the ELBO's value, each the mean of 500
    # particles (the value does not depend on the plate rule); tolerance: 4 standard
    # errors of their mean.
    guide_params(reparam_guide, REP_X)
    elbo = Trace_ELBO(num_particles=500, vectorize_particles=True)
    values = torch.tensor([-elbo.loss(reparam_model, reparam_guide, REP_X) for _ in range(40)])
    se = values.double().std() / math.sqrt(len(values))
    assert abs(float(values.double().mean() - reparam_exact_elbo(REP_X).detach())) < 4 * float(se)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_reparam_intermediate_gradient_matches_closed_form(name):
    elbo = ESTIMATORS[name](num_particles=100, vectorize_particles=True)
    samples, exact = reparam_samples(elbo, n=40)
    assert_unbiased(samples, exact)
    assert elbo._tracking is Tracking.COMPLETE  # the path through h was seen by tagging h


@pytest.mark.parametrize("name", ["trace", "tracegraph"])
def test_reparam_intermediate_per_element_rule_biased_beyond_10_se(name):
    elbo = ESTIMATORS[name](num_particles=100, vectorize_particles=True)
    with forced_rule("per_element"):
        samples, exact = reparam_samples(elbo, n=40)
    assert max_z_score(samples, exact) > 10.0


def test_reparam_intermediate_needs_every_latent_tagged():
    model_trace, guide_trace = trace_run(
        reparam_model, reparam_guide, (REP_X,), {}, Tracking.NONREPARAM
    )
    terms = collect_terms(model_trace, guide_trace, tracked_deps, True, complete=False)
    # Tagged this way, x seems to depend on z1 alone: the rule must not decide, so
    # every cost that z1's score multiplies in its plate is summed over it.
    assert get_provenance(model_trace.nodes["x"]["log_prob"]) == {"z1"}
    assert terms.incomplete
    incomplete = [g.elementwise for g in terms.groups if "z1" in g.deps and g.plates]
    assert incomplete and all(e == {"z1": frozenset()} for e in incomplete)
    groups = particle_terms(reparam_model, reparam_guide, (REP_X,), rao_blackwellize=True)
    in_units1 = [g.elementwise for g in groups if set(g.plates.values()) == {"units1"}]
    # x reaches z1 through h (summed); log p(z1) and -log q(z1) directly.
    assert sorted(map(str, in_units1)) == ["{'z1': frozenset()}", "{}"]


# -- a deterministic site outside the plate -----------------------------------------------
#
# The reparameterized case above with a recorded computation instead of a draw:
# h = deterministic("h", sum of z1) outside the plate, then a site in the plate
# that reads h, in the model (x's location) or in the guide (z2's probability).
# Every element of that site depends on every element of z1 through h, a site
# outside the plate: the structure the plate statement allows, so the rule must
# sum the cost.  It does not yet: the rule sees only latent sites, and a
# deterministic site's value is not tagged (the per-element estimate is then the
# one below: 59 % (model) and 24 % (guide) off the exact gradient).


def det_model(x: torch.Tensor) -> None:
    with tracegraph.plate("units1", 3):
        z1 = tracegraph.sample("z1", dist.Bernoulli(0.4))
    h = tracegraph.deterministic("h", z1.sum(-1, keepdim=True))
    with tracegraph.plate("units1", 3):
        tracegraph.sample("x", dist.Normal(REP_A * h + REP_B * z1, 1.0), obs=x)


def det_guide(x: torch.Tensor) -> None:
    with tracegraph.plate("units1", 3):
        tracegraph.sample("z1", dist.Bernoulli(_probs("det_q", [0.3, 0.6, 0.7])))


def det_guide_side_model(x: torch.Tensor) -> None:
    with tracegraph.plate("units1", 3):
        z1 = tracegraph.sample("z1", dist.Bernoulli(0.4))
        z2 = tracegraph.sample("z2", dist.Bernoulli(0.2 + 0.6 * z1))
        tracegraph.sample("x", dist.Normal(z1 + 2.0 * z2 - 1.5, 1.0), obs=x)


def det_guide_side_guide(x: torch.Tensor) -> None:
    w = tracegraph.param("det_w", torch.tensor([1.5, -2.0, 1.0]))
    with tracegraph.plate("units1", 3):
        z1 = tracegraph.sample("z1", dist.Bernoulli(_probs("det_q", [0.3, 0.6, 0.7])))
    h = tracegraph.deterministic("h", z1.sum(-1, keepdim=True))
    with tracegraph.plate("units1", 3):
        tracegraph.sample("z2", dist.Bernoulli(logits=w * h - 1.5))


DETERMINISTIC = {
    "model": (det_model, det_guide),
    "guide": (det_guide_side_model, det_guide_side_guide),
}


# A deterministic site in the guide is not a model site: Pyro warns, and so do we.
GUIDE_DETERMINISTIC = pytest.mark.filterwarnings("ignore:guide sites that are not latent")


@GUIDE_DETERMINISTIC
@pytest.mark.parametrize("where", DETERMINISTIC)
@pytest.mark.parametrize("name", ESTIMATORS)
def test_deterministic_intermediate_expected_gradient_equals_exact(where, name):
    model, guide = DETERMINISTIC[where]
    mean, _ = estimator_moments(ESTIMATORS[name](), model, guide, REP_X)
    exact = exact_grads(model, guide, list(guide_params(guide, REP_X).values()), REP_X)
    assert_exact(mean, exact)


@GUIDE_DETERMINISTIC
@pytest.mark.parametrize("where", DETERMINISTIC)
def test_deterministic_intermediate_per_element_rule_biased(where):
    # What the estimators compute while the rule misses h.
    model, guide = DETERMINISTIC[where]
    with forced_rule("per_element"):
        mean, _ = estimator_moments(TraceGraph_ELBO(), model, guide, REP_X)
    exact = exact_grads(model, guide, list(guide_params(guide, REP_X).values()), REP_X)
    assert relative_error(mean, exact) > 0.15


# -- the re-run that adds tracking draws the same random numbers --------------------------


def jittered(model: Program) -> Program:
    """``model`` whose data is shifted by draws from Python's and NumPy's generators,
    so that the loss depends on those generators too."""

    def wrapped(x: torch.Tensor) -> None:
        model(x + 0.1 * random.random() + 0.1 * float(np.random.rand()))

    return wrapped


UPGRADES = {
    # Trace_ELBO starts untracked; TraceGraph_ELBO starts with the non-reparameterized
    # sites tagged and needs every latent tagged for the path through h.
    "trace": (Trace_ELBO, jittered(sbn_model), sbn_guide, SBN_X),
    "tracegraph": (TraceGraph_ELBO, jittered(reparam_model), reparam_guide, REP_X),
    "jit": (JitTraceGraph_ELBO, jittered(reparam_model), reparam_guide, REP_X),
}


@pytest.mark.parametrize("name", UPGRADES)
def test_tracking_upgrade_sums_step_without_rerun(name):
    estimator, model, guide, x = UPGRADES[name]
    params = list(guide_params(guide, x).values())
    elbo = estimator()
    # The state after a first run without plated scores fell back to less tracking.
    elbo._tracking, elbo._fallback = elbo.tracking, None
    start = elbo._tracking

    def step(elbo: ELBO) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
        tracegraph.set_rng_seed(3)
        loss = elbo.differentiable_loss(model, guide, x)
        grads = torch.autograd.grad(loss, params)
        return loss.detach(), list(grads), torch.rand(2)  # torch.rand: the RNG after

    first = step(elbo)
    # The step lacked tags: it was not redone, and later steps track completely.
    assert not start.complete and elbo._tracking is Tracking.COMPLETE
    second = step(elbo)
    # Same draws (the loss's value does not depend on the rule), and no run drew
    # more random numbers than the other.
    assert torch.equal(first[0], second[0])
    assert torch.equal(first[2], second[2])
    # The first step is the conservative estimator: every shared plate summed.
    settled = estimator()
    settled._tracking = Tracking.COMPLETE
    with forced_rule("summed"):
        summed = step(settled)
    for a, b in zip(first[1], summed[1]):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("name", UPGRADES)
def test_first_step_is_tracked_completely_and_kept_per_element(name):
    # A first step summed over the plates would be unbiased too, but its gradient is
    # far larger than the later ones and stays in Adam's second moments for about a
    # thousand steps: the first run is tracked completely instead.
    estimator, model, guide, x = UPGRADES[name]
    params = list(guide_params(guide, x).values())
    elbo = estimator()
    assert elbo._tracking is Tracking.COMPLETE
    tracegraph.set_rng_seed(3)
    first = torch.autograd.grad(elbo.differentiable_loss(model, guide, x), params)
    assert elbo._tracking is Tracking.COMPLETE  # its scores share plates: it stays
    settled = estimator()
    settled._tracking, settled._fallback = Tracking.COMPLETE, None
    tracegraph.set_rng_seed(3)
    again = torch.autograd.grad(settled.differentiable_loss(model, guide, x), params)
    with forced_rule("summed"):
        tracegraph.set_rng_seed(3)
        summed = torch.autograd.grad(estimator().differentiable_loss(model, guide, x), params)
    for a, b in zip(first, again):
        torch.testing.assert_close(a, b)
    assert any(not torch.allclose(a, c) for a, c in zip(first, summed))


@pytest.mark.parametrize("estimator", [Trace_ELBO, TraceGraph_ELBO])
def test_first_step_without_plated_scores_falls_back(estimator):
    # Complete tracking costs every op on every latent: a pair whose scores share no
    # plate goes back to the estimator's own mode after its first run.
    def model() -> None:
        z = tracegraph.sample("z", dist.Normal(0.0, 1.0))
        with tracegraph.plate("data", 3):
            tracegraph.sample("x", dist.Normal(z, 1.0), obs=torch.zeros(3))

    def guide() -> None:
        tracegraph.sample("z", dist.Normal(tracegraph.param("m", torch.tensor(0.0)), 1.0))

    elbo = estimator()
    elbo.loss_and_grads(model, guide)
    assert elbo._tracking is estimator.tracking and not elbo._tracking.complete


# -- whether a step needs the fallback depends on a latent's value ------------------------
#
# ``b`` decides whether a plated latent exists at all.  On the path b = 1 the costs in
# the plate read z through a deterministic site outside it, so the per-element rule
# would be biased there; a run that did not tag h (the first run, when TraceGraph_ELBO
# tracks only non-reparameterized sites and Trace_ELBO nothing) cannot see that and
# sums the shared plate.  Whether a first step falls back thus depends on the value
# of b, and its expected gradient must still be exact (docs/design/plate-soundness.md).


def fallback_model(x: torch.Tensor) -> None:
    b = tracegraph.sample("b", dist.Bernoulli(0.5))
    if b.item() == 1.0:
        with tracegraph.plate("units", 3):
            z = tracegraph.sample("z", dist.Bernoulli(REP_PRIOR))
        h = tracegraph.deterministic("h", z.sum(-1, keepdim=True))
        with tracegraph.plate("units", 3):
            tracegraph.sample("x", dist.Normal(REP_A * h + REP_B * z, 1.0), obs=x)
    else:
        with tracegraph.plate("units", 3):
            tracegraph.sample("x", dist.Normal(0.0, 1.0), obs=x)


def fallback_guide(x: torch.Tensor) -> None:
    b = tracegraph.sample("b", dist.Bernoulli(_probs("fb_b", [0.6])[0]))
    if b.item() == 1.0:
        with tracegraph.plate("units", 3):
            tracegraph.sample("z", dist.Bernoulli(_probs("fb_z", [0.3, 0.6, 0.7])))


def first_step_moments(estimator: type[ELBO], model: Program, guide: Program, *args: Any):
    """The exact mean of a *fresh* estimator's first-step gradient: every path is the
    first run of its own estimator, so each gets the tracking an estimator starts
    with, and falls back exactly where its own draw needs it."""
    params = list(guide_params(guide, *args).values())
    mean = torch.zeros((), dtype=torch.float64)
    fell_back = []
    for values in enumerate_paths(guide, *args):
        forced = ForceValues(values)(guide)
        trace = handlers.trace(forced).get_trace(*args)
        log_q = trace.log_prob_sum(lambda name, site: not site["is_observed"])
        weight = detach_provenance(log_q).detach().double().exp()
        elbo = estimator()
        start = elbo._tracking
        loss = elbo.differentiable_loss(model, forced, *args)
        fell_back.append(elbo._tracking is not start)
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        row = torch.cat(
            [(torch.zeros_like(p) if g is None else g).reshape(-1) for g, p in zip(grads, params)]
        ).double()
        mean = mean + weight * row
    return mean, fell_back


@pytest.mark.parametrize("name", ESTIMATORS)
def test_fallback_decided_by_latent_first_step_exact(name):
    mean, fell_back = first_step_moments(
        ESTIMATORS[name], fallback_model, fallback_guide, REP_X
    )
    # Some paths fell back and some did not: the choice depended on b's value.
    assert any(fell_back) and not all(fell_back)
    params = list(guide_params(fallback_guide, REP_X).values())
    exact = exact_grads(fallback_model, fallback_guide, params, REP_X)
    assert_exact(mean, exact)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_fallback_decided_by_latent_settled_estimator_exact(name):
    mean, _ = estimator_moments(ESTIMATORS[name](), fallback_model, fallback_guide, REP_X)
    params = list(guide_params(fallback_guide, REP_X).values())
    assert_exact(mean, exact_grads(fallback_model, fallback_guide, params, REP_X))


def test_fallback_decided_by_latent_per_element_rule_biased():
    # The test has power: the per-element rule is wrong on this model.
    with forced_rule("per_element"):
        mean, _ = estimator_moments(TraceGraph_ELBO(), fallback_model, fallback_guide, REP_X)
    params = list(guide_params(fallback_guide, REP_X).values())
    exact = exact_grads(fallback_model, fallback_guide, params, REP_X)
    assert relative_error(mean, exact) > 0.05
