"""AutoContinuous and its Normal families: the latent vector, posteriors, median,
quantiles, batched latents."""

from __future__ import annotations

import pytest
import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph import poutine
from tracegraph.infer import SVI, Trace_ELBO
from tracegraph.infer.autoguide import (
    AutoDiagonalNormal,
    AutoLowRankMultivariateNormal,
    AutoMultivariateNormal,
    init_to_value,
)
from tracegraph.optim import Adam

INIT = init_to_value(values={"a": torch.tensor([1.0, 2.0, 3.0]), "b": torch.tensor(2.0)})


def model():
    a = tracegraph.sample("a", dist.Normal(0.0, 1.0).expand([3]).to_event(1))
    b = tracegraph.sample("b", dist.Exponential(1.0))
    tracegraph.sample("o", dist.Normal(a.sum() + b, 1.0), obs=torch.tensor(2.0))


GUIDES = [AutoDiagonalNormal, AutoMultivariateNormal, AutoLowRankMultivariateNormal]


@pytest.mark.parametrize("cls", GUIDES)
def test_continuous_latent_vector_starts_at_the_initial_values(cls):
    guide = cls(model, init_loc_fn=INIT)
    guide()
    assert guide.latent_dim == 4
    loc = tracegraph.param(f"{cls.__name__}.loc")
    assert torch.allclose(loc, torch.tensor([1.0, 2.0, 3.0, torch.log(torch.tensor(2.0))]))
    median = guide.median()
    assert torch.allclose(median["a"], torch.tensor([1.0, 2.0, 3.0]))
    assert median["b"].item() == pytest.approx(2.0)
    q = guide.quantiles([0.25, 0.75])
    assert q["a"].shape == (2, 3) and bool((q["a"][0] < median["a"]).all())


@pytest.mark.parametrize("cls", GUIDES)
def test_continuous_guide_density_is_the_posterior_pushed_forward(cls):
    guide = cls(model, init_loc_fn=INIT)
    tr = poutine.trace(guide).get_trace()
    tr.compute_log_prob()
    latent = tr.nodes[f"_{cls.__name__}_latent"]
    b = tr.nodes["b"]["value"]
    # log q(a, b) = log q(latent) - log b (the Jacobian of b = exp(u)).
    total = latent["log_prob_sum"] + tr.nodes["a"]["log_prob_sum"] + tr.nodes["b"]["log_prob_sum"]
    expected = guide.get_posterior().log_prob(latent["value"]) - torch.log(b)
    assert torch.allclose(total, expected, atol=1e-5)


def test_multivariate_normal_params_and_posterior():
    guide = AutoMultivariateNormal(model, init_loc_fn=INIT, init_scale=0.2)
    guide()
    assert guide.scale_tril.shape == (4, 4)
    post = guide.get_posterior()
    assert torch.allclose(post.covariance_matrix, 0.04 * torch.eye(4), atol=1e-6)
    assert type(guide.get_transform()).__name__ == "LowerCholeskyAffine"


def test_low_rank_covariance_is_scaled_factor_plus_diagonal():
    guide = AutoLowRankMultivariateNormal(model, init_loc_fn=INIT, init_scale=0.2, rank=2)
    guide()
    scale = guide.scale.detach()
    w = guide.cov_factor.detach() * scale[:, None]
    post = guide.get_posterior()
    expected = w @ w.T + torch.diag(scale**2)
    assert torch.allclose(post.covariance_matrix, expected, atol=1e-6)
    assert torch.allclose(scale, torch.full((4,), 0.5**0.5 * 0.2))
    _, marginal = guide._loc_scale()
    assert torch.allclose(marginal, expected.diagonal().sqrt(), atol=1e-6)


def test_low_rank_default_rank_is_about_the_square_root():
    guide = AutoLowRankMultivariateNormal(model)
    guide()
    assert guide.rank == 2 and guide.cov_factor.shape == (4, 2)


def test_continuous_guide_with_vectorized_particles():
    def plated():
        tracegraph.sample("g", dist.Normal(0.0, 1.0))
        with tracegraph.plate("data", 3):
            tracegraph.sample("z", dist.Gamma(2.0, 1.0))

    guide = AutoDiagonalNormal(plated)
    elbo = Trace_ELBO(num_particles=5, vectorize_particles=True)
    svi = SVI(plated, guide, Adam({"lr": 0.01}), elbo)
    assert torch.isfinite(torch.tensor(svi.step()))
    latent = torch.zeros(5, 1, 4)
    shapes = {site["name"]: tuple(v.shape) for site, v in guide._unpack_latent(latent)}
    assert shapes == {"g": (5, 1), "z": (5, 3)}


def test_continuous_guide_without_latents_raises():
    def empty():
        tracegraph.sample("o", dist.Normal(0.0, 1.0), obs=torch.tensor(0.0))

    with pytest.raises(RuntimeError, match="found no latent variables"):
        AutoDiagonalNormal(empty)()
