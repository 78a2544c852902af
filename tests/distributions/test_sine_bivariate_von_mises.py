import math

import pytest
import torch

import tracegraph.distributions as dist
from tracegraph.distributions.sine_bivariate_von_mises import log_bessel_i_orders, wrap_angle
from tracegraph.errors import TracegraphWarning

from .pyro_dist_checks import check_mixin, check_provenance

D = torch.float64


def _grid(d, n=400):
    g = torch.linspace(-math.pi, math.pi, n + 1, dtype=D)[:-1] + math.pi / n
    a, b = torch.meshgrid(g, g, indexing="ij")
    return g, d.log_prob(torch.stack([a, b], -1)).exp() * (2 * math.pi / n) ** 2


@pytest.mark.parametrize(
    "k1,k2,rho", [(2.0, 3.0, 1.0), (10.0, 3.0, -4.0), (1.0, 1.0, 0.0), (500.0, 800.0, 600.0)]
)
def test_sine_bivariate_von_mises_density_integrates_to_one(k1, k2, rho):
    d = dist.SineBivariateVonMises(
        torch.tensor(0.5, dtype=D), torch.tensor(-1.0, dtype=D), k1, k2, correlation=rho
    )
    _, mass = _grid(d, 1200 if k1 > 100 else 400)
    torch.testing.assert_close(mass.sum(), torch.tensor(1.0, dtype=D))


def test_log_bessel_orders_match_torch_and_the_series():
    x = torch.tensor([0.1, 1.0, 30.0, 2000.0], dtype=D)
    out = log_bessel_i_orders(x, 4)
    torch.testing.assert_close(out[:, 0], torch.special.i0e(x).log() + x)
    torch.testing.assert_close(out[:, 1], torch.special.i1e(x).log() + x)
    # I_3(0.1) from its power series (x/2)**3 / 3! (1 + (x/2)**2 / 4 + ...).
    half = 0.05
    series = half**3 / 6 * (1 + half**2 / 4 + half**4 / 40)
    torch.testing.assert_close(out[0, 3], torch.tensor(math.log(series), dtype=D))


def test_sine_bivariate_von_mises_sampler_follows_its_density():
    # Marginal CDFs at three points against the density on a grid: 5 standard errors
    # sqrt(p (1 - p) / n).  (Pyro 1.9.2's sampler fails this check for phi.)
    torch.manual_seed(0)
    d = dist.SineBivariateVonMises(torch.tensor(0.5, dtype=D), -1.0, 2.0, 3.0, correlation=1.0)
    x = d.sample((40000,))
    assert ((x >= -math.pi) & (x < math.pi)).all()
    g, mass = _grid(d)
    for c in (-1.0, 0.0, 1.0):
        for i, marginal in enumerate((mass.sum(1), mass.sum(0))):
            p = marginal[g <= c].sum()
            frac = (x[:, i] <= c).to(D).mean()
            assert (frac - p).abs() <= 5 * (p * (1 - p) / 40000).sqrt()


def test_sine_bivariate_von_mises_arguments_and_warning():
    d = dist.SineBivariateVonMises(0.0, 0.0, 2.0, 3.0, weighted_correlation=0.5)
    torch.testing.assert_close(d.correlation, torch.tensor(0.5 * 6**0.5))
    with pytest.raises(AssertionError):
        dist.SineBivariateVonMises(0.0, 0.0, 1.0, 1.0)
    with pytest.raises(ValueError):
        dist.SineBivariateVonMises(0.0, 0.0, 1.0, 1.0, 0.1, 0.2)
    with pytest.warns(TracegraphWarning, match="bimodal"):
        dist.SineBivariateVonMises(0.0, 0.0, 0.5, 0.5, correlation=0.6)
    assert torch.equal(
        wrap_angle(torch.tensor([math.pi, -math.pi])), torch.tensor([-math.pi, -math.pi])
    )


def test_sine_bivariate_von_mises_mixin_and_provenance():
    d = dist.SineBivariateVonMises(torch.tensor([0.0, 1.0]), 0.0, 2.0, 3.0, correlation=1.0)
    check_mixin(d, torch.tensor([0.3, -0.8]))
    assert d.expand((3, 2)).norm_const.shape == (3, 2)
    check_provenance(
        lambda k: dist.SineBivariateVonMises(0.0, 0.0, k, 3.0, correlation=1.0),
        2.0,
        torch.tensor([0.3, -0.8]),
    )
