"""``PlateRule`` (``tracegraph/infer/plates.py``): the particle plate of
``vectorize_particles`` stays per element even where plate claims are mixed.

A write such as ``scatter_`` along the data plate mixes *every* claim of what it
writes, the particle plate's included, although it never moves data between
particles.  The rule used to sum such a cost over the particles too; a site's
leave-one-out baseline (the mean of the other particles' downstream costs) then
contained the particle's own cost and was no longer independent of its draw.

Unbiasedness is checked as in ``test_site_estimators.py``: ``n`` independent
gradient estimates must have a mean within 4 standard errors (sample std /
sqrt(n), per coordinate) of the gradient of the enumerated ELBO
(:func:`enumeration.assert_unbiased`).  Seeds are fixed.
"""

from __future__ import annotations

import math

import pytest
import torch
from enumeration import assert_unbiased, exact_grads, grad_estimates, guide_params, one_thread

import tracegraph
import tracegraph.distributions as dist
from tracegraph.distributions import constraints
from tracegraph.infer import TraceGraph_ELBO
from tracegraph.infer.plates import PARTICLE_PLATE, PerElement, PlateRule

X = torch.tensor([1.0, -1.5, 0.5])
A = torch.tensor([2.0, -2.5, 1.5])
B = torch.tensor([1.0, 0.5, -1.0])
PERM = torch.tensor([2, 0, 1])


def guide(x: torch.Tensor) -> None:
    q = tracegraph.param("q", torch.tensor([0.3, 0.6, 0.7]), constraint=constraints.unit_interval)
    with tracegraph.plate("p", 3):
        tracegraph.sample("z", dist.Bernoulli(q))


def scatter_model(x: torch.Tensor) -> None:
    # x[j] reads z[j] and, through scatter_, z[PERM^-1[j]]: mixing along "p" only.
    with tracegraph.plate("p", 3):
        z = tracegraph.sample("z", dist.Bernoulli(0.4))
    m = torch.zeros_like(z).scatter_(-1, PERM.expand(z.shape), z)
    with tracegraph.plate("p", 3):
        tracegraph.sample("x", dist.Normal(A * m + B * z, 1.0), obs=x)


def test_plate_rule_keeps_particle_plate_without_claims():
    rule = PlateRule({"z": (frozenset({"p", PARTICLE_PLATE}), frozenset(), frozenset())})
    shared = frozenset({"p", PARTICLE_PLATE})
    assert rule.elementwise("z", frozenset({"z"}), frozenset(), shared) == {PARTICLE_PLATE}
    proven = frozenset({"z", PerElement("z", "p")})
    assert rule.elementwise("z", proven, frozenset(), shared) == shared


def test_plate_rule_particle_plate_summed_after_control_flow():
    # A Python decision read the site: the conservative rule is unchanged.
    rule = PlateRule({"z": (frozenset({"p", PARTICLE_PLATE}), frozenset(), frozenset())})
    shared = frozenset({"p", PARTICLE_PLATE})
    assert rule.elementwise("z", frozenset({"z"}), frozenset({"z"}), shared) == frozenset()


def test_vectorized_leave_one_out_after_scatter_write_gradient_matches_enumeration():
    # Before the fix the worst coordinate was 28 standard errors off (n=600).
    elbo = TraceGraph_ELBO(
        num_particles=4, vectorize_particles=True, max_plate_nesting=1, leave_one_out=True
    )
    params = list(guide_params(guide, X).values())
    exact = exact_grads(scatter_model, guide, params, X)
    tracegraph.set_rng_seed(1)
    with one_thread():
        samples = grad_estimates(
            lambda: elbo.differentiable_loss(scatter_model, guide, X), params, 600
        )
    assert_unbiased(samples, exact)
    # Power: the same check against a gradient off by 10 SE on one coordinate fails.
    se = samples.std(0) / math.sqrt(samples.shape[0])
    shifted = exact.double().clone()
    shifted[2] += 10 * se[2]
    with pytest.raises(AssertionError, match="biased"):
        assert_unbiased(samples, shifted)
