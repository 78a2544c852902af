import pytest
import torch

import tracegraph.distributions as dist
from tracegraph.errors import ShapeError, SiteError

from .pyro_dist_checks import check_provenance


def _marginal(loc, scale, obs, idx):
    cov = torch.diag(obs**2) + scale[idx, None] ** 2 * (idx[:, None] == idx[None, :]).float()
    return torch.distributions.MultivariateNormal(loc[idx], cov)


def test_grouped_normal_normal_is_the_marginal_multivariate_normal():
    loc, scale = torch.tensor([0.3, -0.5, 1.0]), torch.tensor([0.8, 1.5, 0.6])
    obs, idx = torch.tensor([0.5, 0.9, 1.2, 0.7]), torch.tensor([1, 0, 2, 1])
    x = torch.tensor([0.4, -1.2, 2.0, 0.1])
    d = dist.GroupedNormalNormal(loc, scale, obs, idx)
    torch.testing.assert_close(d.log_prob(x), _marginal(loc, scale, obs, idx).log_prob(x))
    assert torch.equal(d.num_data_per_batch, torch.tensor([1.0, 2.0, 1.0]))


def test_grouped_normal_normal_posterior_is_conjugate():
    loc, scale = torch.tensor([0.0, 1.0]), torch.tensor([1.0, 2.0])
    d = dist.GroupedNormalNormal(loc, scale, torch.tensor(0.5), torch.tensor([0, 0]))
    post = d.get_posterior(torch.tensor([1.0, 2.0]))
    precision = torch.tensor([1.0 + 8.0, 0.25])
    torch.testing.assert_close(post.scale, precision.rsqrt())
    torch.testing.assert_close(post.loc, torch.tensor([12.0 / 9.0, 1.0]))


def test_grouped_normal_normal_argument_errors_and_no_sampler():
    loc, scale = torch.zeros(2), torch.ones(2)
    with pytest.raises(SiteError):
        dist.GroupedNormalNormal(loc, scale, 1.0, torch.tensor([0.0, 1.0]))
    with pytest.raises(SiteError):
        dist.GroupedNormalNormal(loc, scale, 1.0, torch.tensor([0, 2]))
    with pytest.raises(SiteError):
        dist.GroupedNormalNormal(torch.zeros(2, 2), scale, 1.0, torch.tensor([0, 1]))
    d = dist.GroupedNormalNormal(loc, scale, 1.0, torch.tensor([0, 1, 1]))
    with pytest.raises(ShapeError):
        d.log_prob(torch.zeros(2))
    with pytest.raises(NotImplementedError):
        d.sample()
    with pytest.raises(NotImplementedError):
        d.expand((2,))
    assert type(d.expand(())) is dist.GroupedNormalNormal


def test_grouped_normal_normal_provenance_and_mask():
    idx = torch.tensor([0, 1, 1])
    check_provenance(
        lambda loc: dist.GroupedNormalNormal(loc, torch.ones(2), 1.0, idx),
        [0.0, 1.0],
        torch.zeros(3),
    )
    d = dist.GroupedNormalNormal(torch.zeros(2), torch.ones(2), 1.0, idx)
    assert (d.mask(False).log_prob(torch.zeros(3)) == 0).all()
