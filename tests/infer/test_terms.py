"""Cost terms (``tracegraph.infer.terms``): the cached 0/1 dependency matrix of
scalar costs and the stacked cost groups, with every dtype and grad mode a step
can meet."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph.infer import Trace_ELBO, TraceGraph_ELBO

ESTIMATORS = [Trace_ELBO, TraceGraph_ELBO]


def _leaf(name: str) -> torch.Tensor:
    # The optimized tensor behind a param (its ``.grad`` is what a step reads).
    return dict(tracegraph.get_param_store().named_parameters())[name]


# -- the dependency matrix is never an inference tensor ------------------------------


def _many_scalar_sites(prefix: str, n: int = 8):
    # Unplated discrete sites: more than a handful of scalar costs, so the ELBO
    # goes through the cached dependency matrix.  The site names are unique to
    # the test so that no other test has filled the cache for this pattern.
    def model() -> None:
        for i in range(n):
            z = tracegraph.sample(f"{prefix}{i}", dist.Bernoulli(0.5))
            tracegraph.sample(f"{prefix}x{i}", dist.Normal(z, 1.0), obs=torch.tensor(0.25))

    def guide() -> None:
        p = tracegraph.param(f"{prefix}p", torch.tensor(0.3))
        for i in range(n):
            tracegraph.sample(f"{prefix}{i}", dist.Bernoulli(p))

    return model, guide


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: e.__name__)
def test_loss_and_grads_after_inference_mode_evaluation_still_differentiates(estimator):
    # An evaluation under torch.inference_mode() must not leave anything behind
    # that a later training step cannot use: the lru-cached dependency matrix
    # and signs were built there as inference tensors, and autograd refuses to
    # save them for backward ("Inference tensors cannot be saved for backward").
    model, guide = _many_scalar_sites(f"review_inference_{estimator.__name__}_")
    name = f"review_inference_{estimator.__name__}_p"
    tracegraph.param(name, torch.tensor(0.3))
    tracegraph.set_rng_seed(0)
    elbo = estimator()
    with torch.inference_mode():
        elbo.loss(model, guide)
    tracegraph.set_rng_seed(1)
    loss = elbo.loss_and_grads(model, guide)
    assert np.isfinite(loss)
    assert _leaf(name).grad is not None


# -- mixed dtypes: products do not promote, so operands are brought to one dtype ----------


def _mixed_dtype_scalar(obs_dtype: torch.dtype, n: int = 4):
    # float32 guide scores, observations of ``obs_dtype`` (float64 promotes the
    # model's log-densities): 3 * n > 6 scalar costs, the dependency-matrix path.
    def model() -> None:
        for i in range(n):
            z = tracegraph.sample(f"z{i}", dist.Bernoulli(0.5))
            obs = torch.tensor(0.5, dtype=obs_dtype)
            tracegraph.sample(f"x{i}", dist.Normal(z, 1.0), obs=obs)

    def guide() -> None:
        p = tracegraph.param("p", torch.tensor(0.3))
        for i in range(n):
            tracegraph.sample(f"z{i}", dist.Bernoulli(p))

    return model, guide


def _mixed_dtype_plated(obs_dtype: torch.dtype):
    # Eight plated costs with the same dependencies and plates: one cost group
    # whose parts are stacked; every other one is float64 when obs_dtype is.
    def model() -> None:
        z = tracegraph.sample("z", dist.Bernoulli(0.5))
        with tracegraph.plate("data", 3):
            for i in range(8):
                dtype = obs_dtype if i % 2 else torch.float32
                obs = torch.full((3,), 0.5, dtype=dtype)
                tracegraph.sample(f"x{i}", dist.Normal(z, 1.0), obs=obs)

    def guide() -> None:
        p = tracegraph.param("p", torch.tensor(0.3))
        tracegraph.sample("z", dist.Bernoulli(p))

    return model, guide


def _loss_and_grad(estimator, make, obs_dtype: torch.dtype, method: str) -> tuple[float, float]:
    model, guide = make(obs_dtype)
    tracegraph.clear_param_store()
    tracegraph.param("p", torch.tensor(0.3))
    p = _leaf("p")
    tracegraph.set_rng_seed(0)
    elbo = estimator()
    if method == "loss_and_grads":
        loss = elbo.loss_and_grads(model, guide)
        grad = p.grad
    else:
        out = elbo.differentiable_loss(model, guide)
        (grad,) = torch.autograd.grad(out, [p])
        loss = float(out.detach())
    assert grad is not None
    return loss, float(grad)


@pytest.mark.parametrize("method", ["loss_and_grads", "differentiable_loss"])
@pytest.mark.parametrize(
    "make", [_mixed_dtype_scalar, _mixed_dtype_plated], ids=["scalar", "plated"]
)
@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: e.__name__)
def test_elbo_float64_observations_with_float32_latents_match_all_float32(estimator, make, method):
    # Worked before the speed changes (elementwise products promote dtypes);
    # ``matrix @ scores`` and ``tensordot(signs, stacked)`` do not.  The values
    # agree with the all-float32 model up to float32 rounding (0.5 is exact in
    # both dtypes; rel 1e-5 covers the rounding of ~10 summed terms).
    want = _loss_and_grad(estimator, make, torch.float32, method)
    got = _loss_and_grad(estimator, make, torch.float64, method)
    assert got == pytest.approx(want, rel=1e-5, abs=1e-6)
