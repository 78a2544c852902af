"""Trace_ELBO against exact references: enumerated ELBOs and their gradients,
analytic log evidences, and the ELBO recomputed from plain traces.

Statistical checks draw ``n`` independent gradient estimates (each the mean over
a batch of particles) and require the mean of every coordinate to lie within 4
standard errors (sample std / sqrt(n)) of the exact gradient; see
:func:`enumeration.assert_unbiased`.  Seeds are fixed, so each test is
deterministic.
"""

from __future__ import annotations

import math

import pytest
import torch
from enumeration import (
    CONTROL_FLOW_ZOO,
    MIXED,
    ZOO,
    Case,
    assert_unbiased,
    elbo_by_hand,
    exact_elbo,
    exact_grads,
    exact_posterior_guide,
    grad_estimates,
    guide_params,
    log_evidence,
)

import tracegraph
import tracegraph.distributions as dist
from tracegraph.distributions import constraints
from tracegraph.infer import Trace_ELBO
from tracegraph.infer.surrogate import FIRST_ORDER


def _check_unbiased(case: Case, elbo: Trace_ELBO, n: int) -> None:
    params = list(guide_params(case.guide, *case.args).values())
    exact = exact_grads(case.model, case.guide, params, *case.args)
    samples = grad_estimates(
        lambda: elbo.differentiable_loss(case.model, case.guide, *case.args), params, n
    )
    assert_unbiased(samples, exact)


# -- unbiasedness -----------------------------------------------------------------


@pytest.mark.parametrize("case", ZOO, ids=repr)
def test_trace_elbo_vectorized_gradient_matches_enumeration(case):
    # 40 estimates, each the mean of 100 particles drawn in one run.
    _check_unbiased(case, Trace_ELBO(num_particles=100, vectorize_particles=True), n=40)


@pytest.mark.slow
@pytest.mark.parametrize("case", ZOO, ids=repr)
def test_trace_elbo_single_particle_gradient_matches_enumeration(case):
    with tracegraph.validation_enabled(False):
        _check_unbiased(case, Trace_ELBO(), n=2000)


@pytest.mark.slow
@pytest.mark.parametrize("case", CONTROL_FLOW_ZOO, ids=repr)
def test_trace_elbo_control_flow_gradient_matches_enumeration(case):
    # Trace_ELBO multiplies every score by every cost, so control flow cannot
    # hide a dependency from it; this pins the references the TraceGraph tests use.
    with tracegraph.validation_enabled(False):
        _check_unbiased(case, Trace_ELBO(), n=800)


def test_trace_elbo_reparameterized_gradient_matches_analytic():
    # z ~ N(0, 1), x | z ~ N(z, 1), q = N(m, 0.5): d ELBO / dm = x - 2m exactly.
    x, m = 0.8, 0.1

    def model():
        z = tracegraph.sample("z", dist.Normal(0.0, 1.0))
        tracegraph.sample("x", dist.Normal(z, 1.0), obs=torch.tensor(x))

    def guide():
        loc = tracegraph.param("loc", torch.tensor(m))
        tracegraph.sample("z", dist.Normal(loc, 0.5))

    params = list(guide_params(guide).values())
    elbo = Trace_ELBO(num_particles=50, vectorize_particles=True)
    samples = grad_estimates(lambda: elbo.differentiable_loss(model, guide), params, 40)
    assert_unbiased(samples, torch.tensor([-(x - 2 * m)]))


# -- second derivatives ---------------------------------------------------------------


def _one_bernoulli_model():
    z = tracegraph.sample("z", dist.Bernoulli(0.3))
    tracegraph.sample("x", dist.Normal(3.0 * z, 1.0), obs=torch.tensor(2.0))


def _one_bernoulli_guide():
    p = tracegraph.param("p", torch.tensor(0.6), constraint=constraints.unit_interval)
    tracegraph.sample("z", dist.Bernoulli(p))


def test_trace_elbo_second_derivative_matches_enumeration():
    (u,) = guide_params(_one_bernoulli_guide).values()
    (g_exact,) = torch.autograd.grad(
        -exact_elbo(_one_bernoulli_model, _one_bernoulli_guide), [u], create_graph=True
    )
    (h_exact,) = torch.autograd.grad(g_exact, [u])
    elbo = Trace_ELBO(num_particles=100, vectorize_particles=True)
    rows = []
    for _ in range(40):
        loss = elbo.differentiable_loss(_one_bernoulli_model, _one_bernoulli_guide)
        (g,) = torch.autograd.grad(loss, [u], create_graph=True)
        (h,) = torch.autograd.grad(g, [u])
        rows.append(torch.stack([g.detach(), h]).reshape(-1))
    # Both derivatives are unbiased, each within 4 SE.
    assert_unbiased(
        torch.stack(rows).double(), torch.stack([g_exact.detach(), h_exact]).reshape(-1)
    )


def test_trace_elbo_create_graph_leaves_first_derivative_unchanged():
    (u,) = guide_params(_one_bernoulli_guide).values()
    elbo = Trace_ELBO(num_particles=10, vectorize_particles=True, max_plate_nesting=0)
    tracegraph.set_rng_seed(3)
    (plain,) = torch.autograd.grad(
        elbo.differentiable_loss(_one_bernoulli_model, _one_bernoulli_guide), [u]
    )
    tracegraph.set_rng_seed(3)
    loss = elbo.differentiable_loss(_one_bernoulli_model, _one_bernoulli_guide)
    (graphed,) = torch.autograd.grad(loss, [u], create_graph=True)
    assert graphed.requires_grad
    assert torch.equal(graphed.detach(), plain)


# -- values: the loss is -ELBO, and the three entry points agree -----------------------


@pytest.mark.parametrize(
    "num_particles,vectorize",
    [(1, False), (3, False), (4, True)],
    ids=["one", "loop", "vectorized"],
)
def test_trace_elbo_differentiable_loss_value_is_negative_elbo(num_particles, vectorize):
    elbo = Trace_ELBO(
        num_particles=num_particles, vectorize_particles=vectorize, max_plate_nesting=1
    )
    tracegraph.set_rng_seed(7)
    loss = elbo.differentiable_loss(MIXED.model, MIXED.guide, *MIXED.args)
    tracegraph.set_rng_seed(7)
    expected = elbo_by_hand(
        MIXED.model, MIXED.guide, MIXED.args, num_particles, vectorize, max_plate_nesting=1
    )
    assert float(loss.detach()) == pytest.approx(-expected, rel=1e-5, abs=1e-5)


def test_trace_elbo_loss_equals_differentiable_loss_value():
    elbo = Trace_ELBO(num_particles=3)
    tracegraph.set_rng_seed(1)
    value = float(elbo.differentiable_loss(MIXED.model, MIXED.guide, *MIXED.args).detach())
    tracegraph.set_rng_seed(1)
    loss = elbo.loss(MIXED.model, MIXED.guide, *MIXED.args)
    assert isinstance(loss, float)
    assert loss == value


def test_trace_elbo_loss_and_grads_match_autograd_of_differentiable_loss():
    params = guide_params(MIXED.guide, *MIXED.args)
    elbo = Trace_ELBO(num_particles=2)
    # With every term DiCE has (the step drops one of zero mean, as Pyro's does:
    # see test_first_order_surrogate.py).
    elbo.first_order = FIRST_ORDER
    elbo.loss(MIXED.model, MIXED.guide, *MIXED.args)
    tracegraph.set_rng_seed(2)
    loss = elbo.differentiable_loss(MIXED.model, MIXED.guide, *MIXED.args)
    expected = torch.autograd.grad(loss, list(params.values()))
    tracegraph.set_rng_seed(2)
    value = elbo.loss_and_grads(MIXED.model, MIXED.guide, *MIXED.args)
    assert value == float(loss.detach())
    for (name, p), g in zip(params.items(), expected):
        assert p.grad is not None, name
        assert torch.allclose(p.grad, g), name


# -- golden values: with the exact posterior as guide the ELBO is the log evidence -------


@pytest.mark.parametrize(
    "case", [c for c in ZOO if c.name in ("independent", "markov", "sequential")], ids=repr
)
def test_trace_elbo_exact_posterior_guide_gives_log_evidence(case):
    guide = exact_posterior_guide(case.model, *case.args)
    evidence = float(log_evidence(case.model, *case.args).detach())
    # log p(x, z) - log q(z) = log p(x) for every z: zero variance, any seed.
    for _ in range(5):
        assert -Trace_ELBO().loss(case.model, guide, *case.args) == pytest.approx(
            evidence, abs=1e-5
        )
    assert float(exact_elbo(case.model, guide, *case.args).detach()) == pytest.approx(
        evidence, abs=1e-6
    )


def test_trace_elbo_beta_bernoulli_posterior_guide_gives_analytic_evidence():
    # Beta(1, 1) prior, 10 flips with 6 heads: posterior Beta(7, 5) and
    # log p(x) = log B(7, 5) - log B(1, 1).
    data = torch.tensor([1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0])
    evidence = math.lgamma(7) + math.lgamma(5) - math.lgamma(12)

    def model(data):
        p = tracegraph.sample("p", dist.Beta(1.0, 1.0))
        with tracegraph.plate("data", len(data)):
            tracegraph.sample("obs", dist.Bernoulli(p), obs=data)

    def guide(data):
        tracegraph.sample("p", dist.Beta(7.0, 5.0))

    elbo = Trace_ELBO(num_particles=20, vectorize_particles=True)
    for _ in range(3):
        # float32 log-densities of Beta: agreement to about 1e-5 relative.
        assert -elbo.loss(model, guide, data) == pytest.approx(evidence, abs=2e-4)


def test_trace_elbo_normal_posterior_guide_gives_analytic_evidence():
    # z ~ N(0, 1), x | z ~ N(z, 1): z | x ~ N(x / 2, 1 / sqrt 2), x ~ N(0, sqrt 2).
    x = 0.8
    evidence = float(dist.Normal(0.0, math.sqrt(2.0)).log_prob(torch.tensor(x)))

    def model():
        z = tracegraph.sample("z", dist.Normal(0.0, 1.0))
        tracegraph.sample("x", dist.Normal(z, 1.0), obs=torch.tensor(x))

    def guide():
        tracegraph.sample("z", dist.Normal(x / 2, math.sqrt(0.5)))

    for _ in range(5):
        assert -Trace_ELBO().loss(model, guide) == pytest.approx(evidence, abs=1e-5)
