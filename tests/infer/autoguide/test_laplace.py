"""AutoLaplaceApproximation and the Hessian it uses."""

from __future__ import annotations

import pytest
import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph.infer import SVI, Trace_ELBO
from tracegraph.infer.autoguide import AutoLaplaceApproximation, AutoMultivariateNormal
from tracegraph.infer.autoguide.laplace import hessian
from tracegraph.optim import Adam


def test_hessian_of_a_quadratic_form():
    a = torch.tensor([[2.0, 1.0], [1.0, 3.0]])
    x = torch.tensor([0.5, -1.0], requires_grad=True)
    assert torch.allclose(hessian(0.5 * x @ a @ x, x), a)
    y = torch.tensor([1.0], requires_grad=True)
    h = hessian((x.sum() * y).sum(), [x, y])
    assert h.shape == (3, 3) and torch.allclose(h[:2, 2], torch.ones(2))


def test_laplace_of_a_gaussian_model_is_its_exact_posterior():
    # x ~ N(0, 1) (two coordinates), y_i ~ N(x, 0.5): the posterior is Gaussian with
    # precision 1 + n / 0.25 per coordinate, so the Laplace approximation at the
    # MAP is exact (up to optimization error: the MAP is reached to 1e-3).
    data = torch.tensor([[1.0, -1.0], [2.0, 0.0], [0.5, 0.5]])

    def model():
        x = tracegraph.sample("x", dist.Normal(0.0, 1.0).expand([2]).to_event(1))
        with tracegraph.plate("data", 3):
            tracegraph.sample("y", dist.Normal(x, 0.5).to_event(1), obs=data)

    guide = AutoLaplaceApproximation(model)
    svi = SVI(model, guide, Adam({"lr": 0.05}), Trace_ELBO())
    for _ in range(800):
        svi.step()
    precision = 1 + 3 / 0.25
    exact_mean = (data.sum(0) / 0.25) / precision
    laplace = guide.laplace_approximation()
    assert isinstance(laplace, AutoMultivariateNormal)
    assert torch.allclose(laplace.loc, exact_mean, atol=1e-3)
    assert torch.allclose(laplace.scale, torch.full((2,), precision**-0.5), atol=1e-4)
    assert torch.allclose(laplace.scale_tril, torch.eye(2), atol=1e-4)
    assert sorted(laplace.median()) == ["x"]
    # The Laplace guide's loc, scale and scale_tril are constants, not params.
    assert list(tracegraph.get_param_store().keys()) == ["AutoLaplaceApproximation.loc"]
    assert laplace.median()["x"].tolist() == pytest.approx(exact_mean.tolist(), abs=1e-3)
