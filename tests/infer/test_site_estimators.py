"""Per-site gradient estimators (``infer={"estimator": ...}`` and the ELBO's
``estimator`` argument) against exact gradients by enumeration.

Unbiasedness: ``n`` independent gradient estimates must have a mean within 4
standard errors (sample std / sqrt(n), per coordinate) of the gradient of the
enumerated ELBO (:func:`enumeration.assert_unbiased`; a false alarm is about
6e-5 likely per coordinate).  DisARM draws its own noise, so its estimates are
Monte Carlo draws, not the enumerated moments of ``estimator_moments``.  Seeds
are fixed, so every test is deterministic.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import pytest
import torch
from enumeration import (
    CONTROL_FLOW_ZOO,
    ZOO,
    assert_unbiased,
    exact_grads,
    grad_estimates,
    guide_params,
    one_thread,
)

import tracegraph
import tracegraph.distributions as dist
from tracegraph.distributions import constraints
from tracegraph.errors import SiteError
from tracegraph.infer import JitTraceGraph_ELBO, Trace_ELBO, TraceGraph_ELBO
from tracegraph.infer.site_estimators import BiasedEstimatorWarning, GumbelST, resolve_estimator
from tracegraph.infer.surrogate import FIRST_ORDER
from tracegraph.poutine import handlers

CASES = {c.name: c for c in ZOO + CONTROL_FLOW_ZOO}


def _samples(case, elbo, n, guide=None):
    guide = case.guide if guide is None else guide
    params = list(guide_params(case.guide, *case.args).values())
    with one_thread():
        return params, grad_estimates(
            lambda: elbo.differentiable_loss(case.model, guide, *case.args), params, n
        )


def _check_unbiased(case, elbo, n, guide=None):
    params, samples = _samples(case, elbo, n, guide)
    assert_unbiased(samples, exact_grads(case.model, case.guide, params, *case.args))
    return samples


def with_estimators(guide, choice: dict[str, Any]):
    """``guide`` with ``infer["estimator"]`` set per site name (``choice``)."""

    def config_fn(msg):
        name = msg["name"]
        return {"estimator": choice[name]} if name in choice else {}

    return handlers.infer_config(guide, config_fn=config_fn)


# -- DisARM: unbiased on independent sites, a chain, plates, control flow ----------------


@pytest.mark.parametrize(
    "case", [CASES[n] for n in ("independent", "markov", "plate", "nested_plates")], ids=repr
)
def test_disarm_gradient_matches_enumeration(case):
    # "independent" has a Categorical site: the ELBO's default leaves it to the
    # score function, next to two DisARM sites.
    with tracegraph.validation_enabled(False):
        _check_unbiased(case, TraceGraph_ELBO(estimator="disarm"), n=600)


@pytest.mark.parametrize("case", [CASES["cf_bool"], CASES["cf_branch"]], ids=repr)
def test_disarm_control_flow_gradient_matches_enumeration(case):
    with tracegraph.validation_enabled(False):
        _check_unbiased(case, TraceGraph_ELBO(estimator="disarm"), n=600)


def test_disarm_vectorized_particles_gradient_matches_enumeration():
    elbo = TraceGraph_ELBO(num_particles=20, vectorize_particles=True, estimator="disarm")
    _check_unbiased(CASES["plate"], elbo, n=100)


@pytest.mark.parametrize("estimator", [Trace_ELBO, JitTraceGraph_ELBO])
def test_disarm_other_elbos_gradient_matches_enumeration(estimator):
    with tracegraph.validation_enabled(False):
        _check_unbiased(CASES["markov"], estimator(estimator="disarm"), n=600)


@pytest.mark.slow
@pytest.mark.parametrize("case", ZOO + CONTROL_FLOW_ZOO, ids=repr)
def test_disarm_gradient_matches_enumeration_slow(case):
    with tracegraph.validation_enabled(False):
        _check_unbiased(case, TraceGraph_ELBO(estimator="disarm"), n=3000)


# -- score and leave-one-out through the estimator argument ------------------------------


@pytest.mark.parametrize(
    "case", [CASES[n] for n in ("independent", "markov", "plate", "cf_branch")], ids=repr
)
@pytest.mark.parametrize("estimator", ["score", "leave_one_out"])
def test_estimator_argument_gradient_matches_enumeration(case, estimator):
    # Independent sites, a chain, a plate and Python control flow; two particles
    # so that leave-one-out has a baseline.
    with tracegraph.validation_enabled(False):
        _check_unbiased(case, TraceGraph_ELBO(num_particles=2, estimator=estimator), n=500)


# -- choosing per site: every unbiased estimator composes with the others ----------------


def test_per_site_mixed_estimators_on_a_chain_match_enumeration():
    # A chain z0 -> z1 -> z2 -> z3 with four different estimators along it; the
    # decaying average of "z3" and the Rao-Blackwellization of every score.
    case = CASES["markov"]
    choice = {"z0": "disarm", "z1": "leave_one_out", "z2": "score", "z3": "disarm"}
    guide = with_estimators(case.guide, choice)
    with tracegraph.validation_enabled(False):
        _check_unbiased(case, TraceGraph_ELBO(num_particles=2), n=600, guide=guide)


def test_per_site_leave_one_out_in_plates_matches_enumeration():
    case = CASES["nested_plates"]
    elbo = TraceGraph_ELBO(num_particles=10, vectorize_particles=True, estimator="leave_one_out")
    _check_unbiased(case, elbo, n=150)


def test_per_site_leave_one_out_equals_the_baseline_option():
    case = CASES["plate"]
    params = list(guide_params(case.guide, *case.args).values())
    grads = []
    for elbo in (
        TraceGraph_ELBO(num_particles=3, estimator="leave_one_out"),
        TraceGraph_ELBO(num_particles=3, leave_one_out=True),
    ):
        tracegraph.set_rng_seed(11)
        grads.append(
            torch.autograd.grad(
                elbo.differentiable_loss(case.model, case.guide, *case.args), params
            )
        )
    for a, b in zip(*grads):
        assert torch.equal(a, b)


# Equal evaluations: DisARM with one particle runs model and guide twice per step,
# leave-one-out with two particles too.  On a vector of Bernoullis in one site (the
# setting of the DisARM paper) the antithetic pair wins by a wide margin.


def _vector_model():
    z = tracegraph.sample("z", dist.Bernoulli(torch.full((6,), 0.4)).to_event(1))
    tracegraph.sample(
        "x", dist.Normal((z * torch.arange(1.0, 7.0)).sum(), 2.0), obs=torch.tensor(9.0)
    )


def _vector_guide():
    logits = tracegraph.param("logits", torch.linspace(-1.0, 1.0, 6))
    tracegraph.sample("z", dist.Bernoulli(logits=logits).to_event(1))


class _Vector:
    name = "vector"
    model = staticmethod(_vector_model)
    guide = staticmethod(_vector_guide)
    args = ()


def test_disarm_vector_site_matches_enumeration():
    with tracegraph.validation_enabled(False):
        _check_unbiased(_Vector, TraceGraph_ELBO(estimator="disarm"), n=800)


def test_disarm_variance_below_leave_one_out_at_equal_evaluations():
    with tracegraph.validation_enabled(False):
        _, disarm = _samples(_Vector, TraceGraph_ELBO(estimator="disarm"), 800)
        _, loo = _samples(_Vector, TraceGraph_ELBO(num_particles=2, estimator="leave_one_out"), 800)
    # Summed variances from 800 draws each: each has a relative standard error
    # near 5-7% (sqrt(2 / 800) for normal draws, more for these heavier tails), so
    # their ratio near 10%; the measured ratio is about 1.4 (19 against 27), and a
    # margin of 1.2 is two standard errors inside it.
    assert 1.2 * float(disarm.var(0).sum()) < float(loo.var(0).sum())


def test_site_estimators_first_order_gradient_equals_dice():
    case = CASES["markov"]
    params = list(guide_params(case.guide, *case.args).values())
    guide = with_estimators(case.guide, {"z0": "disarm", "z2": "disarm", "z1": "leave_one_out"})
    elbo = TraceGraph_ELBO(num_particles=2)
    elbo.first_order = FIRST_ORDER  # every term DiCE has (see test_first_order_surrogate.py)
    tracegraph.set_rng_seed(5)
    loss = elbo.loss_and_grads(case.model, guide, *case.args)
    first = [p.grad.clone() for p in params]
    tracegraph.set_rng_seed(5)
    dice = elbo.differentiable_loss(case.model, guide, *case.args)
    assert loss == pytest.approx(float(dice.detach()))
    for a, b in zip(first, torch.autograd.grad(dice, params)):
        assert torch.allclose(a, b, atol=1e-6)


# -- the straight-through Gumbel-softmax: biased, and says so --------------------------


def test_gumbel_st_warns_that_it_is_biased():
    # One warning per site, on the first step only.
    case = CASES["plate"]
    elbo = TraceGraph_ELBO(estimator="gumbel_st")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(2):
            elbo.loss_and_grads(case.model, case.guide, *case.args)
    messages = [str(w.message) for w in caught if w.category is BiasedEstimatorWarning]
    assert len(messages) == 2
    assert "site 'g'" in messages[0] and "site 'z'" in messages[1]
    assert all("biased" in m for m in messages)


def _symmetric_model():
    # log p(x | z) is the same at z = 0 and z = 1 but has slopes of opposite
    # signs there: the straight-through gradient reads the slopes.
    z = tracegraph.sample("z", dist.Bernoulli(0.5))
    tracegraph.sample("x", dist.Normal(z, 0.3), obs=torch.tensor(0.5))


def _symmetric_guide():
    logits = tracegraph.param("logits", torch.tensor(1.5))
    tracegraph.sample("z", dist.Bernoulli(logits=logits))


class _Symmetric:
    name = "symmetric"
    model = staticmethod(_symmetric_model)
    guide = staticmethod(_symmetric_guide)
    args = ()


def test_gumbel_st_expected_gradient_differs_from_exact():
    case = _Symmetric
    params = list(guide_params(case.guide).values())
    exact = exact_grads(case.model, case.guide, params)
    elbo = TraceGraph_ELBO(estimator=GumbelST(temperature=1.0))
    with pytest.warns(BiasedEstimatorWarning):
        _, samples = _samples(case, elbo, 2000)
    se = samples.std(0) / math.sqrt(samples.shape[0])
    # Far beyond the 4 standard errors that every unbiased estimator here meets
    # (about 12 at this seed).
    assert float(((samples.mean(0) - exact).abs() / se).max()) > 8.0


def test_gumbel_st_one_hot_categorical_site_is_pathwise():
    def model():
        c = tracegraph.sample("c", dist.OneHotCategorical(torch.tensor([0.2, 0.3, 0.5])))
        tracegraph.sample(
            "x", dist.Normal((c * torch.tensor([-1.0, 0.0, 2.0])).sum(), 1.0), obs=torch.tensor(1.0)
        )

    def guide():
        logits = tracegraph.param("logits", torch.zeros(3))
        tracegraph.sample(
            "c", dist.OneHotCategorical(logits=logits), infer={"estimator": "gumbel_st"}
        )

    elbo = TraceGraph_ELBO()
    with pytest.warns(BiasedEstimatorWarning):
        elbo.loss_and_grads(model, guide)
    grad = tracegraph.param("logits").unconstrained().grad
    assert grad is not None and bool(grad.abs().sum() > 0)


# -- errors ---------------------------------------------------------------------------


def _one_site(fn, infer):
    def model():
        tracegraph.sample("z", fn)

    def guide():
        tracegraph.sample("z", fn, infer=infer)

    return model, guide


def test_site_estimator_unknown_name_raises():
    model, guide = _one_site(dist.Bernoulli(0.5), {"estimator": "arsm2"})
    with pytest.raises(SiteError, match="site 'z': unknown gradient estimator 'arsm2'"):
        TraceGraph_ELBO().loss(model, guide)


def test_site_estimator_disarm_on_categorical_raises():
    model, guide = _one_site(dist.Categorical(torch.ones(3) / 3), {"estimator": "disarm"})
    with pytest.raises(SiteError, match="needs a Bernoulli"):
        TraceGraph_ELBO().loss(model, guide)


def test_site_estimator_on_reparameterized_site_raises():
    model, guide = _one_site(dist.Normal(0.0, 1.0), {"estimator": "disarm"})
    with pytest.raises(SiteError, match="reparameterized"):
        TraceGraph_ELBO().loss(model, guide)


def test_site_estimator_leave_one_out_with_own_baseline_raises():
    infer = {"estimator": "leave_one_out", "baseline": {"use_decaying_avg_baseline": True}}
    model, guide = _one_site(dist.Bernoulli(0.5), infer)
    with pytest.raises(SiteError, match="keep one of them"):
        TraceGraph_ELBO(num_particles=2).loss(model, guide)


def test_site_estimator_default_gives_way_to_own_baseline():
    # The ELBO's default leave-one-out does not override a site's own baseline.
    infer = {"baseline": {"use_decaying_avg_baseline": True}}
    model, guide = _one_site(dist.Bernoulli(torch.tensor(0.5)), infer)
    TraceGraph_ELBO(num_particles=2, estimator="leave_one_out").loss_and_grads(model, guide)
    assert "__baseline_avg_downstream_cost_z" in tracegraph.get_param_store()


def test_resolve_estimator_instance_passes_through():
    est = GumbelST(temperature=0.2)
    assert resolve_estimator(est) is est
    assert resolve_estimator("disarm").name == "disarm"


def test_site_estimator_elbo_argument_unknown_raises():
    with pytest.raises(SiteError, match="unknown gradient estimator"):
        TraceGraph_ELBO(estimator="nope")


def test_disarm_user_infer_dict_is_not_mutated():
    infer = {"estimator": "disarm"}
    p = torch.tensor(0.4)
    model, guide = _one_site(dist.Bernoulli(p), infer)
    TraceGraph_ELBO().loss(model, guide)
    assert infer == {"estimator": "disarm"}


def test_disarm_zero_valued_term_keeps_the_loss():
    # The DisARM term has value 0: the loss is the ELBO of the first run.
    model, guide = _one_site(dist.Bernoulli(torch.tensor(0.3)), {"estimator": "disarm"})
    q = tracegraph.param("unused", torch.tensor(0.0))
    del q
    loss = TraceGraph_ELBO().loss(model, guide)
    assert loss == pytest.approx(0.0, abs=1e-6)  # guide equals the prior


def test_disarm_probs_param_gets_gradient_through_logits():
    def model():
        z = tracegraph.sample("z", dist.Bernoulli(0.5))
        tracegraph.sample("x", dist.Normal(3.0 * z, 1.0), obs=torch.tensor(3.0))

    def guide():
        p = tracegraph.param("p", torch.tensor(0.3), constraint=constraints.unit_interval)
        tracegraph.sample("z", dist.Bernoulli(p), infer={"estimator": "disarm"})

    TraceGraph_ELBO().loss_and_grads(model, guide)
    assert tracegraph.param("p").unconstrained().grad is not None
