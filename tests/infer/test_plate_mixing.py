"""A path that leaves a plate without passing through a site (issue 16).

``z`` is sampled in plate ``p``; a computation that is not a site mixes its
elements along ``p`` (a sum, a matmul, ``roll``, indexing, ...); a site in ``p``
then reads the result.  Element ``j`` of that site depends on every element of
``z``, so the per-element rule (keep ``log p(x[j])`` with ``z[j]``'s score only) is
biased; the plate claims (:mod:`tracegraph.ops.provenance.claims`) must see the
mixing and make the rule sum the cost over ``p``.

References are exact: the estimator's expected gradient, enumerated over every
guide path (:func:`enumeration.estimator_moments`), equals the gradient of the
enumerated ELBO up to float32 rounding (``rtol=1e-4, atol=1e-5``, as in
``test_plate_soundness.py``).  Each mixing op also shows that the per-element rule
is off on the same model (so the test has power), and purely elementwise
computations must keep the per-element rule (no variance added).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import torch
from enumeration import estimator_moments, exact_grads, guide_params, one_thread
from test_plate_soundness import (
    ESTIMATORS,
    assert_exact,
    forced_rule,
    particle_terms,
    relative_error,
)

import tracegraph
import tracegraph.distributions as dist
from tracegraph.distributions import constraints
from tracegraph.infer import Trace_ELBO, TraceGraph_ELBO

X = torch.tensor([1.0, -1.5, 0.5])
A = torch.tensor([2.0, -2.5, 1.5])
B = torch.tensor([1.0, 0.5, -1.0])
PRIOR = 0.4
W = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.2, -0.7], [-1.2, 0.8, 0.3]])
PERM = torch.tensor([2, 0, 1])


@pytest.fixture(autouse=True)
def _single_thread() -> Iterator[None]:
    with one_thread():
        yield


def guide(x: torch.Tensor) -> None:
    q = tracegraph.param("q", torch.tensor([0.3, 0.6, 0.7]), constraint=constraints.unit_interval)
    with tracegraph.plate("p", 3):
        tracegraph.sample("z", dist.Bernoulli(q))


def mixing_model(mix: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], None]:
    """``z`` in ``p``; ``x[j] ~ Normal(A[j] * mix(z)[j] + B[j] * z[j], 1)`` in ``p``."""

    def model(x: torch.Tensor) -> None:
        with tracegraph.plate("p", 3):
            z = tracegraph.sample("z", dist.Bernoulli(PRIOR))
        m = mix(z)  # outside the plate: not a site
        with tracegraph.plate("p", 3):
            tracegraph.sample("x", dist.Normal(A * m + B * z, 1.0), obs=x)

    return model


# Every op mixes the elements of z along the plate dim (dim -1; leading dims, a
# particle plate for instance, are left alone).
MIXING: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "sum": lambda z: z.sum(-1, keepdim=True),
    "sum_broadcast_back": lambda z: z - z.mean(-1, keepdim=True),
    "mean": lambda z: z.mean(-1, keepdim=True).expand(z.shape),
    "max": lambda z: z.max(-1, keepdim=True).values,
    "matmul": lambda z: z @ W,
    "index_select": lambda z: z.index_select(-1, PERM),
    "gather": lambda z: z.gather(-1, PERM.expand(z.shape)),
    "advanced_indexing": lambda z: z[..., PERM],
    "roll": lambda z: torch.roll(z, 1, -1),
    "cumsum": lambda z: z.cumsum(-1),
    "flip": lambda z: z.flip(-1),
    "cat_slice": lambda z: torch.cat([z[..., 1:], z[..., :1]], -1),
    "sort": lambda z: (z + torch.tensor([0.1, 0.2, 0.3])).sort(-1).values,
    "softmax": lambda z: torch.softmax(2.0 * z, -1),
    # [z0, 1 - z0, z1]: a reshape that moves the plate dim.
    "stack_reshape": lambda z: torch.stack([z, 1 - z], -1).reshape(z.shape[:-1] + (6,))[..., :3],
    "unbind_stack": lambda z: torch.stack(list(z.unbind(-1))[::-1], -1),
    "scalar_elements": lambda z: torch.stack([z[..., 1], z[..., 2], z[..., 0]], -1),
}


@pytest.mark.parametrize("name", ["trace", "tracegraph"])
def test_issue_example_sum_outside_plate_expected_gradient_exact(name):
    # The issue's program: s = z.sum() outside the plate, x[j] ~ Normal(s, 1).
    def model(x: torch.Tensor) -> None:
        with tracegraph.plate("p", 3):
            z = tracegraph.sample("z", dist.Bernoulli(PRIOR))
        s = z.sum()
        with tracegraph.plate("p", 3):
            tracegraph.sample("x", dist.Normal(s, 1.0), obs=x)

    mean, _ = estimator_moments(ESTIMATORS[name](), model, guide, X)
    exact = exact_grads(model, guide, list(guide_params(guide, X).values()), X)
    assert_exact(mean, exact)
    with forced_rule("per_element"):
        biased, _ = estimator_moments(ESTIMATORS[name](), model, guide, X)
    assert relative_error(biased, exact) > 0.3  # measured 0.60 (the issue's bias)


@pytest.mark.parametrize("op", MIXING)
@pytest.mark.parametrize("name", ESTIMATORS)
def test_mixing_op_expected_gradient_exact(op, name):
    model = mixing_model(MIXING[op])
    mean, _ = estimator_moments(ESTIMATORS[name](), model, guide, X)
    exact = exact_grads(model, guide, list(guide_params(guide, X).values()), X)
    assert_exact(mean, exact)


@pytest.mark.parametrize("op", MIXING)
def test_mixing_op_per_element_rule_biased(op):
    # The tests above have power: on each model the per-element rule is off.
    model = mixing_model(MIXING[op])
    with forced_rule("per_element"):
        mean, _ = estimator_moments(TraceGraph_ELBO(), model, guide, X)
    exact = exact_grads(model, guide, list(guide_params(guide, X).values()), X)
    assert relative_error(mean, exact) > 0.02


@pytest.mark.parametrize("op", MIXING)
def test_mixing_op_collect_terms_sums_the_plate(op):
    groups = particle_terms(mixing_model(MIXING[op]), guide, (X,), rao_blackwellize=True)
    (x_group,) = [g for g in groups if g.plates and g.elementwise]
    assert x_group.elementwise == {"z": frozenset()}


@pytest.mark.parametrize("name", ESTIMATORS)
def test_mixing_op_vectorized_particles_expected_gradient_exact(name):
    # A particle plate left of "p": the sum along p must not be confused with it.
    model = mixing_model(MIXING["sum"])
    elbo = ESTIMATORS[name](num_particles=2, vectorize_particles=True)
    mean, _ = estimator_moments(elbo, model, guide, X)
    exact = exact_grads(model, guide, list(guide_params(guide, X).values()), X)
    assert_exact(mean, exact)


# -- elementwise computations keep the per-element rule ------------------------------

ELEMENTWISE: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "affine": lambda z: 2.0 * z - 1.0,
    "nonlinear": lambda z: torch.sigmoid(3.0 * z) ** 2 + z.exp(),
    "where": lambda z: torch.where(z > 0.5, torch.tensor(1.5), -z),
    "sum_over_other_dim": lambda z: torch.stack([z, z * z], -2).sum(-2),
    "unsqueeze_squeeze": lambda z: (z.unsqueeze(-1) * torch.ones(2)).mean(-1),
    "one_hot": lambda z: (
        torch.nn.functional.one_hot(z.long(), 2).float() @ torch.tensor([-1.0, 2.0])
    ),
    "index_constant_by_z": lambda z: torch.tensor([0.3, -1.2])[z.long()],
    "clone_detach_free": lambda z: z.clone().contiguous().float(),
    "permute_back": lambda z: (
        z.unsqueeze(-2).expand(z.shape[:-1] + (2, 3)).transpose(-1, -2)[..., 0]
    ),
}


@pytest.mark.parametrize("op", ELEMENTWISE)
@pytest.mark.parametrize("rao_blackwellize", [False, True])
def test_elementwise_op_keeps_plate(op, rao_blackwellize):
    groups = particle_terms(mixing_model(ELEMENTWISE[op]), guide, (X,), rao_blackwellize)
    assert any("z" in g.deps and g.plates for g in groups)
    assert all(g.elementwise == {} for g in groups)


@pytest.mark.parametrize("op", ELEMENTWISE)
def test_elementwise_op_variance_equals_per_element_rule(op):
    # Same estimator as the per-element rule (exact mean and variance), which is
    # unbiased here: no variance was added.
    model = mixing_model(ELEMENTWISE[op])
    mean, var = estimator_moments(TraceGraph_ELBO(), model, guide, X)
    with forced_rule("per_element"):
        mean_pe, var_pe = estimator_moments(TraceGraph_ELBO(), model, guide, X)
    # (float32 sums of the same terms grouped differently)
    torch.testing.assert_close(mean, mean_pe, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(var, var_pe, rtol=1e-5, atol=1e-6)
    exact = exact_grads(model, guide, list(guide_params(guide, X).values()), X)
    assert_exact(mean, exact)


def test_elementwise_with_global_latent_keeps_plate():
    # A global latent (outside the plate) read by every element does not mix z.
    def model(x: torch.Tensor) -> None:
        g = tracegraph.sample("g", dist.Bernoulli(0.5))
        with tracegraph.plate("p", 3):
            z = tracegraph.sample("z", dist.Bernoulli(0.25 + 0.5 * g))
            tracegraph.sample("x", dist.Normal(2.0 * z - g, 1.0), obs=x)

    def guide_g(x: torch.Tensor) -> None:
        g = tracegraph.sample("g", dist.Bernoulli(0.6))
        with tracegraph.plate("p", 3):
            tracegraph.sample("z", dist.Bernoulli(0.2 + 0.5 * g))

    groups = particle_terms(model, guide_g, (X,), rao_blackwellize=True)
    assert all(g.elementwise == {} for g in groups)


@pytest.mark.parametrize("name", ["trace", "tracegraph"])
def test_categorical_mixture_vector_observations_keeps_plate(name):
    # A Gaussian mixture with vector observations: locs[z] (advanced indexing of a
    # global latent by the plated assignment) and an event dim summed by to_event.
    locs = torch.tensor([[-1.0, 0.5], [2.0, 1.0]])
    data = torch.tensor([[1.0, 0.2], [-0.5, 0.3], [2.5, 1.2]])

    def model(x: torch.Tensor) -> None:
        with tracegraph.plate("p", 3):
            z = tracegraph.sample("z", dist.Categorical(torch.tensor([0.4, 0.6])))
            tracegraph.sample("x", dist.Normal(locs[z], 1.0).to_event(1), obs=x)

    def guide_c(x: torch.Tensor) -> None:
        probs = tracegraph.param("probs", torch.full((3, 2), 0.5), constraint=constraints.simplex)
        with tracegraph.plate("p", 3):
            tracegraph.sample("z", dist.Categorical(probs))

    groups = particle_terms(model, guide_c, (data,), rao_blackwellize=name == "tracegraph")
    assert all(g.elementwise == {} for g in groups)
    mean, _ = estimator_moments(ESTIMATORS[name](), model, guide_c, data)
    exact = exact_grads(model, guide_c, list(guide_params(guide_c, data).values()), data)
    assert_exact(mean, exact)


def test_intermediate_site_in_plate_reading_mixed_value_sums():
    # z -> (sum, not a site) -> y, a latent in the plate -> x in the plate: the
    # mixing happened before y, and y's value carries it on to x.
    def model(x: torch.Tensor) -> None:
        with tracegraph.plate("p", 3):
            z = tracegraph.sample("z", dist.Bernoulli(PRIOR))
        s = z.sum(-1, keepdim=True)
        with tracegraph.plate("p", 3):
            y = tracegraph.sample("y", dist.Bernoulli(torch.sigmoid(s - 1.5).expand(3)))
            tracegraph.sample("x", dist.Normal(2.0 * y + z, 1.0), obs=x)

    def guide_y(x: torch.Tensor) -> None:
        q = tracegraph.param(
            "q", torch.tensor([0.3, 0.6, 0.7]), constraint=constraints.unit_interval
        )
        r = tracegraph.param(
            "r", torch.tensor([0.5, 0.2, 0.8]), constraint=constraints.unit_interval
        )
        with tracegraph.plate("p", 3):
            z = tracegraph.sample("z", dist.Bernoulli(q))
            tracegraph.sample("y", dist.Bernoulli(r * (0.5 + 0.5 * z)))

    for estimator in (Trace_ELBO, TraceGraph_ELBO):
        mean, _ = estimator_moments(estimator(), model, guide_y, X)
        exact = exact_grads(model, guide_y, list(guide_params(guide_y, X).values()), X)
        assert_exact(mean, exact)
