"""RenyiELBO and VIMCO against exact references.

Unbiasedness: ``n`` independent gradient estimates of the bound must have a mean
within 4 standard errors (sample std / sqrt(n), per coordinate) of the gradient
of the bound's exact expectation over ``K`` particles
(:func:`multi_sample_reference.exact_renyi_bound`, every ``K``-tuple of guide
paths); :func:`enumeration.assert_unbiased` does the comparison.  Four standard
errors put a false alarm near 6e-5 per coordinate; seeds are fixed, so the tests
are deterministic.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from enumeration import (
    CONTROL_FLOW_ZOO,
    ZOO,
    assert_unbiased,
    grad_estimates,
    guide_params,
    one_thread,
)
from multi_sample_reference import exact_renyi_bound

import tracegraph
import tracegraph.distributions as dist
from tracegraph.distributions import constraints
from tracegraph.errors import PlateError, SiteError
from tracegraph.infer import VIMCO, RenyiELBO, Trace_ELBO

CASES = {c.name: c for c in ZOO + CONTROL_FLOW_ZOO}


def _check_unbiased(case, elbo, n, plate_dim=None, guide=None):
    guide = case.guide if guide is None else guide
    params = list(guide_params(case.guide, *case.args).values())
    exact_bound = exact_renyi_bound(
        case.model,
        case.guide,
        elbo.num_particles,
        float(elbo.alpha),
        *case.args,
        plate_dim=plate_dim,
    )
    exact = torch.cat([g.reshape(-1) for g in torch.autograd.grad(-exact_bound, params)])
    with one_thread():
        samples = grad_estimates(
            lambda: elbo.differentiable_loss(case.model, guide, *case.args), params, n
        )
    assert_unbiased(samples, exact)
    return samples


# -- unbiasedness ----------------------------------------------------------------------


@pytest.mark.parametrize("case", ZOO, ids=repr)
@pytest.mark.parametrize("alpha", [0.0, 0.5])
def test_renyi_elbo_discrete_gradient_matches_enumeration(case, alpha):
    with tracegraph.validation_enabled(False):
        _check_unbiased(case, RenyiELBO(alpha=alpha, num_particles=2), n=400)


@pytest.mark.parametrize("case", [CASES["plate"], CASES["markov"]], ids=repr)
def test_vimco_vectorized_gradient_matches_enumeration(case):
    elbo = VIMCO(num_particles=3, vectorize_particles=True, max_plate_nesting=2)
    _check_unbiased(case, elbo, n=300)


@pytest.mark.parametrize("case", [CASES["cf_bool"], CASES["cf_branch"]], ids=repr)
def test_vimco_control_flow_gradient_matches_enumeration(case):
    with tracegraph.validation_enabled(False):
        _check_unbiased(case, VIMCO(num_particles=3), n=400)


@pytest.mark.slow
@pytest.mark.parametrize("case", CONTROL_FLOW_ZOO, ids=repr)
@pytest.mark.parametrize("alpha", [0.0, -1.0])
def test_renyi_elbo_control_flow_gradient_matches_enumeration_slow(case, alpha):
    with tracegraph.validation_enabled(False):
        _check_unbiased(case, RenyiELBO(alpha=alpha, num_particles=3), n=1500)


# The pathwise gradient of a reparameterized guide, against the exact gradient of
# the expected bound by Gauss-Hermite quadrature over both particles' noise.


def _gaussian_model():
    z = tracegraph.sample("z", dist.Normal(0.0, 1.0))
    tracegraph.sample("x", dist.Normal(z, 1.0), obs=torch.tensor(1.0))


def _gaussian_guide():
    loc = tracegraph.param("loc", torch.tensor(0.2))
    scale = tracegraph.param("scale", torch.tensor(0.9), constraint=constraints.positive)
    tracegraph.sample("z", dist.Normal(loc, scale))


def _exact_gaussian_bound(params, alpha):
    # E[F(l_1, l_2)] with z_k = loc + scale * eps_k, eps_k ~ N(0, 1): a smooth
    # integrand, so 40 x 40 nodes are exact to float64 precision for our purpose.
    loc, unconstrained_scale = params
    scale = unconstrained_scale.double().exp()
    nodes, weights = np.polynomial.hermite_e.hermegauss(40)
    eps = torch.as_tensor(nodes)
    w = torch.as_tensor(weights) / math.sqrt(2 * math.pi)
    z = loc.double() + scale * eps
    log_w = (
        torch.distributions.Normal(0.0, 1.0).log_prob(z)
        + torch.distributions.Normal(z, 1.0).log_prob(torch.tensor(1.0, dtype=torch.float64))
        - torch.distributions.Normal(loc.double(), scale).log_prob(z)
    )
    pair = torch.stack(torch.broadcast_tensors(log_w[:, None], log_w[None, :]))
    bound = (torch.logsumexp((1 - alpha) * pair, 0) - math.log(2)) / (1 - alpha)
    return (w[:, None] * w[None, :] * bound).sum()


@pytest.mark.parametrize("alpha", [0.0, 0.5, -1.0])
def test_renyi_elbo_reparameterized_gradient_matches_quadrature(alpha):
    params = list(guide_params(_gaussian_guide).values())
    exact = torch.cat(
        [g.reshape(-1) for g in torch.autograd.grad(-_exact_gaussian_bound(params, alpha), params)]
    )
    elbo = RenyiELBO(alpha=alpha, num_particles=2)
    with one_thread():
        samples = grad_estimates(
            lambda: elbo.differentiable_loss(_gaussian_model, _gaussian_guide), params, 400
        )
    assert_unbiased(samples, exact)


# Every site inside the data plate: its elements are separate problems.


def _local_model(data):
    with tracegraph.plate("data", len(data)):
        z = tracegraph.sample("z", dist.Bernoulli(0.3))
        c = tracegraph.sample("c", dist.Bernoulli(0.6))
        tracegraph.sample("x", dist.Normal(2.0 * z + c - 1.0, 1.0), obs=data)


def _local_guide(data):
    q = tracegraph.param("q", torch.tensor([0.7, 0.2]), constraint=constraints.unit_interval)
    w = tracegraph.param(
        "w", torch.tensor([[0.5, 0.3], [0.2, 0.9]]), constraint=constraints.unit_interval
    )
    with tracegraph.plate("data", len(data)):
        z = tracegraph.sample("z", dist.Bernoulli(q))
        tracegraph.sample("c", dist.Bernoulli(w[0] + (w[1] - w[0]) * z))


class _Local:
    name = "local"
    model = staticmethod(_local_model)
    guide = staticmethod(_local_guide)
    args = (torch.tensor([1.5, -0.3]),)


@pytest.mark.parametrize("vectorize", [False, True])
def test_vimco_independent_plates_gradient_matches_enumeration(vectorize):
    elbo = VIMCO(
        num_particles=3,
        vectorize_particles=vectorize,
        max_plate_nesting=1,
        independent_plates=["data"],
    )
    _check_unbiased(_Local, elbo, n=300, plate_dim=-1)


def test_vimco_independent_plates_bound_is_per_element():
    # The per-element bound is above the joint one (Jensen, per element), and
    # the loss is its estimate.
    k = 4
    joint = float(exact_renyi_bound(_local_model, _local_guide, k, 0.0, *_Local.args).detach())
    per = float(
        exact_renyi_bound(_local_model, _local_guide, k, 0.0, *_Local.args, plate_dim=-1).detach()
    )
    assert per > joint
    elbo = VIMCO(num_particles=k, independent_plates="data", vectorize_particles=True)
    with torch.no_grad():
        losses = torch.tensor(
            [elbo.loss(_local_model, _local_guide, *_Local.args) for _ in range(400)]
        )
    # Mean within 4 standard errors of -E[bound].
    assert abs(float(losses.mean()) + per) < 4 * float(losses.std()) / math.sqrt(400)


def test_vimco_variance_below_renyi_without_baseline():
    # VIMCO's leave-one-out baseline against the plain learning signal F (the
    # same estimator with K=1 has no baseline): per particle, at equal cost.
    case = CASES["plate"]
    params = list(guide_params(case.guide, *case.args).values())
    vimco = VIMCO(num_particles=4)
    with tracegraph.validation_enabled(False), one_thread():
        v = grad_estimates(
            lambda: vimco.differentiable_loss(case.model, case.guide, *case.args), params, 300
        )
        single = RenyiELBO(alpha=0.0, num_particles=1)
        s = grad_estimates(
            lambda: single.differentiable_loss(case.model, case.guide, *case.args), params, 300
        )
    assert float(v.var(0).sum()) * 4 < float(s.var(0).sum())


# -- values, first-order path, arguments -----------------------------------------------


def _normal_model(data):
    z = tracegraph.sample("z", dist.Normal(0.0, 1.0))
    with tracegraph.plate("data", len(data)):
        tracegraph.sample("x", dist.Normal(z, 1.0), obs=data)


def _normal_guide(data):
    loc = tracegraph.param("loc", torch.tensor(0.3))
    tracegraph.sample("z", dist.Normal(loc, 1.0))


def test_renyi_elbo_exact_posterior_gives_log_evidence():
    def model():
        z = tracegraph.sample("z", dist.Normal(0.0, 1.0))
        tracegraph.sample("x", dist.Normal(z, 1.0), obs=torch.tensor(1.0))

    def guide():
        tracegraph.sample("z", dist.Normal(0.5, math.sqrt(0.5)))

    log_px = float(dist.Normal(0.0, math.sqrt(2.0)).log_prob(torch.tensor(1.0)))
    for alpha in (0.0, 0.5, -2.0):
        assert RenyiELBO(alpha=alpha, num_particles=3).loss(model, guide) == pytest.approx(-log_px)


@pytest.mark.parametrize("case", [CASES["plate"], CASES["cf_bool"]], ids=repr)
def test_renyi_elbo_first_order_gradient_equals_dice(case):
    # loss_and_grads differentiates the first-order surrogate; on the same draws
    # its gradient is differentiable_loss's.
    params = list(guide_params(case.guide, *case.args).values())
    elbo = RenyiELBO(alpha=0.3, num_particles=3)
    with tracegraph.validation_enabled(False):
        tracegraph.set_rng_seed(5)
        loss = elbo.loss_and_grads(case.model, case.guide, *case.args)
        first = [p.grad.clone() for p in params]
        tracegraph.set_rng_seed(5)
        dice = elbo.differentiable_loss(case.model, case.guide, *case.args)
    grads = torch.autograd.grad(dice, params)
    assert loss == pytest.approx(float(dice.detach()))
    for a, b in zip(first, grads):
        assert torch.allclose(a, b, atol=1e-6)


def test_renyi_elbo_alpha_one_raises():
    with pytest.raises(ValueError, match="alpha"):
        RenyiELBO(alpha=1.0)


def test_vimco_one_particle_raises():
    with pytest.raises(ValueError, match="num_particles"):
        VIMCO(num_particles=1)


def test_renyi_elbo_independent_plate_missing_site_raises():
    elbo = RenyiELBO(num_particles=2, independent_plates=["data"])
    with pytest.raises(PlateError, match="'z' is not inside"):
        elbo.loss(_normal_model, _normal_guide, torch.tensor([0.1, 0.2]))


def test_renyi_elbo_independent_plate_control_flow_raises():
    def model(data):
        with tracegraph.plate("data", len(data)):
            z = tracegraph.sample("z", dist.Bernoulli(0.5))
            loc = 1.0 if z.sum() > 0 else 0.0  # one decision from every element
            tracegraph.sample("x", dist.Normal(loc, 1.0), obs=data)

    def guide(data):
        with tracegraph.plate("data", len(data)):
            tracegraph.sample("z", dist.Bernoulli(0.5))

    elbo = RenyiELBO(num_particles=2, independent_plates=["data"])
    with pytest.raises(SiteError, match="decided Python control flow"):
        elbo.loss(model, guide, torch.tensor([0.1, 0.2]))


def test_renyi_elbo_rejects_disarm_sites():
    def guide():
        tracegraph.sample("z", dist.Bernoulli(0.5), infer={"estimator": "disarm"})

    def model():
        tracegraph.sample("z", dist.Bernoulli(0.5))

    with pytest.raises(SiteError, match="does not support the 'disarm' estimator"):
        RenyiELBO(num_particles=2).loss(model, guide)


def test_renyi_elbo_single_particle_alpha_zero_is_trace_elbo_value():
    data = torch.tensor([0.5, 1.0])
    tracegraph.set_rng_seed(3)
    a = RenyiELBO(alpha=0.0, num_particles=1).loss(_normal_model, _normal_guide, data)
    tracegraph.set_rng_seed(3)
    b = Trace_ELBO().loss(_normal_model, _normal_guide, data)
    assert a == pytest.approx(b)


# -- kept plates whose elements a computation mixes ------------------------------------
#
# Every site is in plate "p", so the bound is kept per element (as in Pyro); but
# x[j] reads all of z through a sum outside the plate.  A score of z[j] must then
# multiply every element's signal: it used to multiply only element j's (VIMCO 56
# standard errors off on this model with the sum written as an einsum).

_MIX_X = torch.tensor([1.0, -1.5, 0.5])
_MIX_A = torch.tensor([2.0, -2.5, 1.5])


def _mix_guide(x):
    q = tracegraph.param("q", torch.tensor([0.3, 0.6, 0.7]), constraint=constraints.unit_interval)
    with tracegraph.plate("p", 3):
        tracegraph.sample("z", dist.Bernoulli(q))


def _mixing_model(x):
    with tracegraph.plate("p", 3):
        z = tracegraph.sample("z", dist.Bernoulli(0.4))
    s = z.sum(-1, keepdim=True)  # outside the plate: not a site
    with tracegraph.plate("p", 3):
        tracegraph.sample("x", dist.Normal(_MIX_A * s + z, 1.0), obs=x)


def _elementwise_model(x):
    with tracegraph.plate("p", 3):
        z = tracegraph.sample("z", dist.Bernoulli(0.4))
    with tracegraph.plate("p", 3):
        tracegraph.sample("x", dist.Normal(_MIX_A * z, 1.0), obs=x)


class _Mixing:
    name = "mixing"
    model = staticmethod(_mixing_model)
    guide = staticmethod(_mix_guide)
    args = (_MIX_X,)


@pytest.mark.parametrize("vectorize", [False, True])
def test_vimco_kept_plate_mixed_by_computation_gradient_matches_enumeration(vectorize):
    elbo = VIMCO(num_particles=3, vectorize_particles=vectorize, max_plate_nesting=1)
    tracegraph.set_rng_seed(0)
    _check_unbiased(_Mixing, elbo, n=400, plate_dim=-1)


def test_renyi_elbo_mixed_plate_summed_only_where_mixed():
    from tracegraph.infer.renyi_elbo import _mixed_plates

    for model, expected in ((_mixing_model, {"p"}), (_elementwise_model, set())):
        elbo = RenyiELBO(alpha=0.0, num_particles=2)
        elbo.loss(model, _mix_guide, _MIX_X)  # the first step lacks tags: summed
        assert _mixed_plates(elbo._runs(model, _mix_guide, (_MIX_X,), {}), frozenset({"p"})) == (
            expected
        )
