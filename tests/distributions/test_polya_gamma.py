import math

import torch

import tracegraph.distributions as dist

D = torch.float64


def test_truncated_polya_gamma_density_integrates_to_about_one():
    d = dist.TruncatedPolyaGamma(torch.zeros((), dtype=D))
    x = torch.linspace(1e-4, 2.5, 200001, dtype=D)
    torch.testing.assert_close(
        torch.trapezoid(d.log_prob(x).exp(), x), torch.tensor(1.0, dtype=D), rtol=1e-5, atol=1e-5
    )


def test_truncated_polya_gamma_sampler_mean_is_its_gamma_sum_mean():
    # E = sum_{k<=8} 1 / (2 pi**2 (k - 1/2)**2); 5 standard errors sqrt(var / n).
    torch.manual_seed(0)
    d = dist.TruncatedPolyaGamma(torch.zeros(()))
    x = d.sample((40000,))
    k = torch.arange(1, 9, dtype=torch.float)
    mean = (1 / (2 * math.pi**2 * (k - 0.5) ** 2)).sum()
    assert (x.mean() - mean).abs() <= 5 * (x.var() / 40000).sqrt()
    assert (x > 0).all() and (x <= 2.5).all()


def test_truncated_polya_gamma_expand_and_masks():
    d = dist.TruncatedPolyaGamma(torch.zeros(()))
    e = d.expand((2, 3))
    assert type(e) is dist.TruncatedPolyaGamma and e.sample((4,)).shape == (4, 2, 3)
    assert e.log_prob(torch.full((2, 3), 0.5)).shape == (2, 3)
    assert (d.mask(False).log_prob(torch.tensor(0.5)) == 0).all()
    assert d.has_rsample is False and d.to_event(0) is d
