import math

import pytest
import torch

import tracegraph.distributions as dist
from tracegraph.errors import ShapeError

from .pyro_dist_checks import check_mixin, check_provenance

D = torch.float64


def _circle_mass(d, n=20000):
    theta = torch.linspace(0, 2 * math.pi, n + 1, dtype=D)[:-1]
    x = torch.stack([theta.cos(), theta.sin()], -1)
    return d.log_prob(x).exp().sum() * 2 * math.pi / n


def _sphere_mass(d, n=400):
    # Midpoint rule in (cos polar angle, azimuth): the surface measure is d(cos) d(phi).
    u = (torch.arange(n, dtype=D) + 0.5) / n * 2 - 1
    phi = (torch.arange(2 * n, dtype=D) + 0.5) / (2 * n) * 2 * math.pi
    u, phi = torch.meshgrid(u, phi, indexing="ij")
    r = (1 - u**2).sqrt()
    x = torch.stack([r * phi.cos(), r * phi.sin(), u], -1)
    return d.log_prob(x).exp().sum() * (2 / n) * (math.pi / n)


@pytest.mark.parametrize("c", [[0.0, 0.0], [1.0, 2.0], [-6.0, 3.0]])
def test_projected_normal_circle_density_integrates_to_one(c):
    d = dist.ProjectedNormal(torch.tensor(c, dtype=D))
    torch.testing.assert_close(_circle_mass(d), torch.tensor(1.0, dtype=D))


@pytest.mark.parametrize("c", [[0.0, 0.0, 0.0], [1.0, 2.0, 0.5], [-3.0, 0.5, 4.0]])
def test_sphere_densities_integrate_to_one(c):
    one = torch.tensor(1.0, dtype=D)
    torch.testing.assert_close(
        _sphere_mass(dist.ProjectedNormal(torch.tensor(c, dtype=D))), one, rtol=1e-4, atol=1e-4
    )
    torch.testing.assert_close(
        _sphere_mass(dist.VonMises3D(torch.tensor(c, dtype=D))), one, rtol=1e-4, atol=1e-4
    )


def test_projected_normal_samples_follow_its_density_and_are_reparameterized():
    # P(first coordinate > 0) from the density (circle quadrature) vs draws:
    # 5 standard errors sqrt(p (1 - p) / n).
    torch.manual_seed(0)
    c = torch.tensor([0.7, -0.4], dtype=D, requires_grad=True)
    d = dist.ProjectedNormal(c)
    x = d.rsample((20000,))
    theta = torch.linspace(0, 2 * math.pi, 20001, dtype=D)[:-1]
    pts = torch.stack([theta.cos(), theta.sin()], -1)
    p = (d.log_prob(pts).exp() * (pts[:, 0] > 0)).sum() * 2 * math.pi / 20000
    frac = (x[:, 0] > 0).to(D).mean()
    assert (frac - p).abs() <= 5 * (p * (1 - p) / 20000).sqrt()
    x[:, 0].mean().backward()
    assert c.grad[0] > 0


def test_projected_normal_log_prob_dims_and_von_mises_3d_shapes():
    with pytest.raises(NotImplementedError, match="dim = 5"):
        dist.ProjectedNormal(torch.ones(5)).log_prob(torch.ones(5) / 5**0.5)
    with pytest.raises(ShapeError):
        dist.VonMises3D(torch.ones(2))
    with pytest.raises(NotImplementedError):
        dist.VonMises3D(torch.ones(3)).sample()
    assert torch.equal(dist.ProjectedNormal(torch.zeros(3)).mean, torch.tensor([1.0, 0.0, 0.0]))


def test_projected_normal_mixin_and_provenance():
    x = torch.tensor([0.6, 0.8, 0.0])
    check_mixin(dist.ProjectedNormal(torch.tensor([[1.0, 2.0, 0.5], [0.0, 1.0, 0.0]])), x)
    check_mixin(dist.VonMises3D(torch.tensor([[1.0, 2.0, 0.5], [0.0, 1.0, 0.0]])), x)
    check_provenance(dist.ProjectedNormal, [1.0, 2.0, 0.5], x)
    check_provenance(dist.VonMises3D, [1.0, 2.0, 0.5], x)
