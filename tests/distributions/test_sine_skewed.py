import math

import pytest
import torch

import tracegraph.distributions as dist
from tracegraph.errors import TracegraphWarning

from .pyro_dist_checks import check_mixin, check_provenance

D = torch.float64


def test_sine_skewed_density_adds_the_skewing_factor_and_integrates_to_one():
    base = dist.VonMises(torch.tensor([0.5, -1.0], dtype=D), torch.tensor(2.0, dtype=D)).to_event(1)
    skew = torch.tensor([0.3, -0.4], dtype=D)
    d = dist.SineSkewed(base, skew)
    x = torch.tensor([0.3, -0.8], dtype=D)
    expected = base.log_prob(x) + torch.log1p((skew * torch.sin(x - base.mean)).sum())
    torch.testing.assert_close(d.log_prob(x), expected)
    n = 400
    g = torch.linspace(-math.pi, math.pi, n + 1, dtype=D)[:-1] + math.pi / n
    a, b = torch.meshgrid(g, g, indexing="ij")
    mass = d.log_prob(torch.stack([a, b], -1)).exp().sum() * (2 * math.pi / n) ** 2
    torch.testing.assert_close(mass, torch.tensor(1.0, dtype=D))


def test_sine_skewed_samples_follow_the_density():
    # E[sin(x_0 - loc_0)] from the density vs draws: 5 standard errors sqrt(var / n).
    torch.manual_seed(0)
    base = dist.VonMises(torch.tensor([0.5], dtype=D), torch.tensor(1.0, dtype=D)).to_event(1)
    d = dist.SineSkewed(base, torch.tensor([0.8], dtype=D))
    x = d.sample((40000,))[:, 0]
    g = torch.linspace(-math.pi, math.pi, 4001, dtype=D)[:-1]
    p = d.log_prob(g.unsqueeze(-1)).exp() * (2 * math.pi / 4000)
    expected = (p * torch.sin(g - 0.5)).sum()
    values = torch.sin(x - 0.5)
    assert (values.mean() - expected).abs() <= 5 * (values.var() / 40000).sqrt()


def test_sine_skewed_errors_and_warning():
    with pytest.raises(AssertionError):
        dist.SineSkewed(dist.VonMises(0.0, 1.0), torch.tensor([0.3]))
    with pytest.warns(TracegraphWarning, match="skewness"):
        dist.SineSkewed(dist.VonMises(torch.zeros(2), 1.0).to_event(1), torch.tensor([0.8, -0.4]))


def test_sine_skewed_mixin_and_provenance():
    base = dist.VonMises(torch.zeros(3, 2), 1.0).to_event(1)
    d = dist.SineSkewed(base, torch.tensor([0.3, -0.4]))
    check_mixin(d, torch.tensor([0.3, -0.8]))
    assert type(d.expand((4, 3))) is dist.SineSkewed
    check_provenance(
        lambda s: dist.SineSkewed(dist.VonMises(torch.zeros(2), 1.0).to_event(1), s),
        [0.3, -0.4],
        torch.tensor([0.3, -0.8]),
    )
