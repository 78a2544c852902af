"""TraceMeanField_ELBO: analytic KL where it is valid, unbiased with
non-reparameterized sites (beyond Pyro, which refuses them), the Monte Carlo terms
where a site's KL would depend on its own value, exact under unequal scales.

Exact references: the estimator's expected gradient by enumerating the guide's
paths (:func:`enumeration.estimator_moments`, no sampling error: tolerance covers
float32 rounding only), against the gradient of the enumerated ELBO.
"""

from __future__ import annotations

import math

import pytest
import torch
from enumeration import estimator_moments, exact_grads, guide_params

import tracegraph
import tracegraph.distributions as dist
from tracegraph import poutine
from tracegraph.distributions import constraints
from tracegraph.infer import (
    JitTraceMeanField_ELBO,
    Trace_ELBO,
    TraceGraph_ELBO,
    TraceMeanField_ELBO,
)
from tracegraph.infer.runs import Tracking, trace_run
from tracegraph.infer.terms import collect_terms, tracked_deps
from tracegraph.infer.trace_mean_field_elbo import mean_field_term

ESTIMATORS = {"eager": TraceMeanField_ELBO, "jit": JitTraceMeanField_ELBO}
X = torch.tensor([0.8, -0.4])


def _p(name: str, init: list[float]) -> torch.Tensor:
    return tracegraph.param(name, torch.tensor(init), constraint=constraints.unit_interval)


def assert_exact(mean: torch.Tensor, exact: torch.Tensor) -> None:
    torch.testing.assert_close(mean, exact.double(), rtol=1e-4, atol=1e-5)


# -- discrete latents: the KL of a Bernoulli is analytic too ---------------------------


def chain_model(x: torch.Tensor) -> None:
    z1 = tracegraph.sample("z1", dist.Bernoulli(0.3))
    z2 = tracegraph.sample("z2", dist.Bernoulli(0.2 + 0.6 * z1))
    with tracegraph.plate("data", 2):
        tracegraph.sample("x", dist.Normal(z1 + 2.0 * z2 - 1.0, 1.0), obs=x)


def chain_guide(x: torch.Tensor) -> None:
    z1 = tracegraph.sample("z1", dist.Bernoulli(_p("q1", [0.6])[0]))
    tracegraph.sample("z2", dist.Bernoulli(0.1 + 0.8 * _p("q2", [0.5])[0] * (0.5 + z1)))


def reversed_guide(x: torch.Tensor) -> None:
    # z2 first, and z1 computed from it: the model's prior of z2 reads z1, so the KL
    # of z2 depends on z2's own value (through z1) and must not be used.
    z2 = tracegraph.sample("z2", dist.Bernoulli(_p("r2", [0.4])[0]))
    tracegraph.sample("z1", dist.Bernoulli(0.2 + 0.6 * _p("r1", [0.5])[0] * (0.5 + z2)))


@pytest.mark.parametrize("guide", [chain_guide, reversed_guide], ids=["chain", "reversed"])
@pytest.mark.parametrize("name", ESTIMATORS)
def test_mean_field_nonreparam_expected_gradient_exact(name, guide):
    mean, _ = estimator_moments(ESTIMATORS[name](), chain_model, guide, X)
    params = list(guide_params(guide, X).values())
    assert_exact(mean, exact_grads(chain_model, guide, params, X))


def test_mean_field_uses_kl_only_where_valid():
    guide_params(reversed_guide, X)
    m, g = trace_run(chain_model, reversed_guide, (X,), {}, Tracking.COMPLETE)
    terms = collect_terms(m, g, tracked_deps, True, True, mean_field_term)
    # z1's prior reads nothing later; z2's prior reads z1, drawn from z2.
    assert set(terms.analytic) == {"z1"}
    m, g = trace_run(chain_model, chain_guide, (X,), {}, Tracking.COMPLETE)
    terms = collect_terms(m, g, tracked_deps, True, True, mean_field_term)
    assert set(terms.analytic) == {"z1", "z2"}


def test_mean_field_always_kl_would_be_biased_on_reversed_guide(monkeypatch):
    # The check has power: replacing z2's terms by its KL anyway moves the
    # expected gradient away from the exact one.
    import tracegraph.infer.terms as terms

    def no_check(model_trace, guide_trace, deps_fn, analytic):
        out = {}
        for name in ("z1", "z2"):
            cost = analytic(model_trace.nodes[name], guide_trace.nodes[name])
            out[name] = (cost, deps_fn(cost, model_trace.nodes[name], "analytic"))
            out[name] = (cost, (out[name][1][0] - {name}, out[name][1][1]))
        return out

    monkeypatch.setattr(terms, "_analytic_terms", no_check)
    mean, _ = estimator_moments(TraceMeanField_ELBO(), chain_model, reversed_guide, X)
    params = list(guide_params(reversed_guide, X).values())
    exact = exact_grads(chain_model, reversed_guide, params, X)
    assert float((mean - exact.double()).norm() / exact.double().norm()) > 0.05


def test_mean_field_variance_below_tracegraph_on_chain():
    # The analytic terms remove the sites' own log-density noise.
    _, var_mf = estimator_moments(TraceMeanField_ELBO(), chain_model, chain_guide, X)
    _, var_tg = estimator_moments(TraceGraph_ELBO(), chain_model, chain_guide, X)
    assert float(var_mf.sum()) < float(var_tg.sum())


# -- reparameterized latents: Pyro's setting ------------------------------------------


def normal_model(x: torch.Tensor) -> None:
    z = tracegraph.sample("z", dist.Normal(0.0, 1.0))
    with tracegraph.plate("data", 2):
        tracegraph.sample("x", dist.Normal(z, 1.0), obs=x)


def normal_guide(x: torch.Tensor) -> None:
    loc = tracegraph.param("loc", torch.tensor(0.3))
    scale = tracegraph.param("scale", torch.tensor(0.7), constraint=constraints.positive)
    tracegraph.sample("z", dist.Normal(loc, scale))


def normal_exact_elbo(x: torch.Tensor) -> torch.Tensor:
    # E_q[log p(x | z)] - KL(q || p) in closed form.
    loc, scale = tracegraph.param("loc"), tracegraph.param("scale")
    expected_sq = (x - loc) ** 2 + scale**2
    log_lik = (-0.5 * math.log(2 * math.pi) - 0.5 * expected_sq).sum()
    kl = torch.distributions.kl_divergence(
        torch.distributions.Normal(loc, scale), torch.distributions.Normal(0.0, 1.0)
    )
    return log_lik - kl


@pytest.mark.parametrize("name", ESTIMATORS)
def test_mean_field_normal_unbiased_and_lower_variance_than_trace_elbo(name):
    # 400 single-particle estimates: the mean within 4 standard errors of the
    # closed-form gradient; the KL removes noise, so the variance is lower.
    guide_params(normal_guide, X)
    params = [tracegraph.param("loc").unconstrained(), tracegraph.param("scale").unconstrained()]
    exact = torch.cat(
        [g.reshape(-1) for g in torch.autograd.grad(-normal_exact_elbo(X), params)]
    ).double()
    rows = {}
    for label, elbo in (("mf", ESTIMATORS[name]()), ("trace", Trace_ELBO())):
        tracegraph.set_rng_seed(0)
        samples = []
        for _ in range(400):
            loss = elbo.differentiable_loss(normal_model, normal_guide, X)
            samples.append(torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, params)]))
        rows[label] = torch.stack(samples).double()
    mf = rows["mf"]
    se = mf.std(0) / math.sqrt(len(mf))
    assert bool(((mf.mean(0) - exact).abs() <= 4 * se + 1e-6).all())
    assert float(mf.var(0).sum()) < float(rows["trace"].var(0).sum())


def test_mean_field_scaled_model_exact_with_entropy():
    # KL annealing: the model's terms scaled by 0.25, the guide's not.  The expected
    # ELBO is -0.25 KL - 0.75 H(q) + 0.25 E[log p(x|z)]; with a single latent and no
    # data the estimate has no noise at all.
    def model() -> None:
        tracegraph.sample("z", dist.Normal(0.0, 1.0))

    def guide() -> None:
        tracegraph.sample("z", dist.Normal(torch.tensor(0.5), 2.0))

    q, p = torch.distributions.Normal(0.5, 2.0), torch.distributions.Normal(0.0, 1.0)
    expected = -(-0.25 * torch.distributions.kl_divergence(q, p) - (0.25 - 1.0) * q.entropy())
    for _ in range(3):
        loss = TraceMeanField_ELBO().loss(poutine.scale(model, 0.25), guide)
        assert loss == pytest.approx(float(expected), abs=1e-6)


def test_mean_field_masked_model_site_keeps_monte_carlo_terms():
    site = {"scale": 1.0, "mask": None}
    q = {**site, "fn": dist.Normal(0.0, 1.0)}
    p = {**site, "fn": dist.Normal(0.0, 1.0).mask(torch.tensor(False))}
    assert mean_field_term(p, q) is None


def test_mean_field_matches_closed_form_loss_without_noise():
    # Guide equal to the posterior's family, no data: the loss is exactly the KL.
    def model() -> None:
        with tracegraph.plate("p", 3):
            tracegraph.sample("z", dist.Normal(0.0, 1.0))

    def guide() -> None:
        with tracegraph.plate("p", 3):
            tracegraph.sample("z", dist.Normal(torch.tensor([0.0, 1.0, -2.0]), 1.0))

    assert TraceMeanField_ELBO().loss(model, guide) == pytest.approx(0.0 + 0.5 + 2.0, abs=1e-6)


def test_jit_mean_field_equals_eager_after_warmup():
    params = list(guide_params(chain_guide, X).values())
    jit, eager = JitTraceMeanField_ELBO(), TraceMeanField_ELBO()
    jit.loss(chain_model, chain_guide, X)
    out = []
    for elbo in (eager, jit):
        tracegraph.set_rng_seed(4)
        loss = elbo.differentiable_loss(chain_model, chain_guide, X)
        out.append((loss.detach(), torch.autograd.grad(loss, params)))
    assert torch.equal(out[0][0], out[1][0])
    for a, b in zip(out[0][1], out[1][1]):
        torch.testing.assert_close(a, b)
