import pytest
import torch

import tracegraph.distributions as dist
from tracegraph.errors import SiteError

from .pyro_dist_checks import check_mixin, check_provenance


def test_lkj_two_by_two_density_is_the_beta_law_of_the_correlation():
    # For dim 2, (r + 1) / 2 ~ Beta(eta, eta).
    eta = torch.tensor(2.5)
    r = torch.tensor([-0.5, 0.1, 0.8])
    m = torch.stack([torch.stack([torch.ones(3), r], -1), torch.stack([r, torch.ones(3)], -1)], -2)
    expected = torch.distributions.Beta(eta, eta).log_prob((r + 1) / 2) - torch.log(
        torch.tensor(2.0)
    )
    torch.testing.assert_close(dist.LKJ(2, eta).log_prob(m), expected)


def test_lkj_samples_are_correlation_matrices_and_expand():
    d = dist.LKJ(4, torch.tensor([0.5, 3.0]))
    x = d.sample((3,))
    assert x.shape == (3, 2, 4, 4) and d.support.check(x).all()
    e = d.expand((5, 2))
    assert type(e) is dist.LKJ and e.sample().shape == (5, 2, 4, 4) and e.dim == 4
    with pytest.raises(SiteError):
        dist.LKJ(1, 1.0)


def test_lkj_corr_cholesky_is_deprecated_lkj_cholesky():
    with pytest.warns(FutureWarning, match="deprecated"):
        d = dist.LKJCorrCholesky(3, torch.tensor(0.5))
    x = dist.LKJCholesky(3, 0.5).sample()
    torch.testing.assert_close(d.log_prob(x), dist.LKJCholesky(3, 0.5).log_prob(x))
    assert type(d.expand((2,))) is dist.LKJCorrCholesky


def test_lkj_mixin_and_provenance():
    d = dist.LKJ(3, torch.tensor([0.5, 2.0]))
    check_mixin(d, torch.eye(3))
    check_provenance(lambda c: dist.LKJ(3, c), 2.0, torch.eye(3))
