import torch

from tracegraph.distributions.sampling import open_uniform, standard_exponential


def test_open_uniform_and_exponential_draws():
    # Means within 5 standard errors (1/sqrt(12 n) and 1/sqrt(n)).
    torch.manual_seed(0)
    like = torch.zeros((), dtype=torch.float64)
    u = open_uniform(torch.Size([40000]), like)
    assert u.dtype == torch.float64 and (u > 0).all() and (u < 1).all()
    assert (u.mean() - 0.5).abs() <= 5 / (12 * 40000) ** 0.5
    e = standard_exponential(torch.Size([40000]), like)
    assert torch.isfinite(e).all() and (e > 0).all()
    assert (e.mean() - 1).abs() <= 5 / 40000**0.5
