import math

import pytest
import torch

import tracegraph.distributions as dist

from .pyro_dist_checks import check_mixin, check_provenance

D = torch.float64


def t(*v):
    return torch.tensor(v if len(v) > 1 else v[0], dtype=D)


def test_stable_special_cases_are_normal_cauchy_and_levy():
    x = torch.linspace(-6, 6, 13, dtype=D)
    normal = dist.Stable(t(2.0), t(0.5), t(1.5), t(0.3)).log_prob(x)
    torch.testing.assert_close(
        normal, torch.distributions.Normal(0.3, 1.5 * 2**0.5).log_prob(x), rtol=1e-6, atol=1e-6
    )
    cauchy = dist.Stable(t(1.0), t(0.0), t(2.0), t(-1.0)).log_prob(x)
    torch.testing.assert_close(cauchy, torch.distributions.Cauchy(t(-1.0), t(2.0)).log_prob(x))
    # S(1/2, 1; S) with scale c and location mu is Levy(mu, c).
    y = torch.tensor([0.2, 1.0, 5.0, 40.0], dtype=D)
    levy = (
        0.5 * torch.log(torch.tensor(1.5 / (2 * math.pi), dtype=D)) - 1.5 / (2 * y) - 1.5 * y.log()
    )
    torch.testing.assert_close(
        dist.Stable(t(0.5), t(1.0), t(1.5), t(0.0), coords="S").log_prob(y),
        levy,
        rtol=1e-6,
        atol=1e-6,
    )


@pytest.mark.parametrize("alpha,beta", [(0.6, 0.4), (1.0, -0.7), (1.3, 0.9), (1.8, -1.0)])
def test_stable_log_prob_agrees_with_its_sampler(alpha, beta):
    # P(a < X < b) from the integrated density vs draws: 5 standard errors.
    torch.manual_seed(0)
    d = dist.Stable(t(alpha), t(beta), t(1.5), t(0.5))
    x = d.sample((40000,))
    for a, b in [(-1.0, 0.5), (0.5, 2.0)]:
        grid = torch.linspace(a, b, 2001, dtype=D)
        p = torch.trapezoid(d.log_prob(grid).exp(), grid)
        frac = ((x > a) & (x < b)).to(D).mean()
        assert (frac - p).abs() <= 5 * (p * (1 - p) / 40000).sqrt()


def test_stable_s0_is_continuous_in_stability_and_differentiable_at_one():
    x = t(0.7)
    near = [dist.Stable(t(a), t(0.5)).log_prob(x) for a in (1 - 1e-6, 1.0, 1 + 1e-6)]
    torch.testing.assert_close(near[0], near[1], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(near[2], near[1], rtol=1e-5, atol=1e-5)
    alpha = t(1.0).requires_grad_()
    dist.Stable(alpha, t(0.5)).log_prob(x).backward()
    h = 1e-3
    fd = (dist.Stable(t(1 + h), t(0.5)).log_prob(x) - dist.Stable(t(1 - h), t(0.5)).log_prob(x)) / (
        2 * h
    )
    torch.testing.assert_close(alpha.grad, fd, rtol=1e-4, atol=1e-4)


def test_stable_moments_and_coords():
    d = dist.Stable(t(1.5, 0.8, 2.0), t(0.3), t(2.0), t(1.0))
    torch.testing.assert_close(d.mean[0], t(1.0 + 0.3 * 2.0))
    assert math.isnan(d.mean[1]) and d.variance[2] == 8.0 and math.isinf(d.variance[0])
    s = dist.Stable(t(1.5), t(0.3), t(2.0), t(1.0), coords="S")
    assert s.mean == 1.0 and type(s.expand((2,))) is dist.Stable and s.expand((2,)).coords == "S"
    with pytest.raises(AssertionError):
        dist.Stable(t(1.5), t(0.0), coords="S1")
    assert issubclass(dist.StableWithLogProb, dist.Stable)


def test_stable_mixin_and_provenance():
    check_mixin(dist.Stable(torch.tensor([1.5, 0.7]), 0.3), torch.tensor([0.5, -1.0]))
    check_provenance(lambda a: dist.Stable(a, 0.3), 1.5, torch.tensor(0.5))
    check_provenance(lambda s: dist.StableWithLogProb(1.2, 0.3, s), 2.0, torch.tensor(0.5))
