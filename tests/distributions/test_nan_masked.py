import torch

import tracegraph.distributions as dist

from .pyro_dist_checks import check_mixin, check_provenance

NAN = float("nan")


def test_nan_masked_normal_zeroes_missing_values_without_nan_gradients():
    loc = torch.tensor([0.0, 1.0, 2.0], requires_grad=True)
    x = torch.tensor([0.5, NAN, 1.0])
    lp = dist.NanMaskedNormal(loc, 1.0).log_prob(x)
    assert lp[1] == 0
    torch.testing.assert_close(lp[[0, 2]], dist.Normal(loc[[0, 2]], 1.0).log_prob(x[[0, 2]]))
    lp.sum().backward()
    assert torch.equal(loc.grad, torch.tensor([0.5, 0.0, -1.0]))


def test_nan_masked_multivariate_normal_marginalizes_missing_coordinates():
    cov = torch.tensor([[2.0, 0.5, 0.0], [0.5, 1.0, 0.2], [0.0, 0.2, 1.5]])
    loc = torch.tensor([0.5, -0.5, 0.0], requires_grad=True)
    d = dist.NanMaskedMultivariateNormal(loc, cov)
    x = torch.tensor([[0.1, 0.2, 3.4], [0.5, NAN, 0.3], [NAN, NAN, NAN]])
    lp = d.log_prob(x)
    torch.testing.assert_close(lp[0], dist.MultivariateNormal(loc, cov).log_prob(x[0]))
    keep = torch.tensor([0, 2])
    marginal = dist.MultivariateNormal(loc[keep], cov[keep][:, keep])
    torch.testing.assert_close(lp[1], marginal.log_prob(x[1, keep]))
    assert lp[2] == 0
    lp.sum().backward()
    assert torch.isfinite(loc.grad).all()


def test_nan_masked_mixin_and_provenance():
    check_mixin(dist.NanMaskedNormal(torch.zeros(2), 1.0), torch.tensor([NAN, 1.0]))
    check_mixin(
        dist.NanMaskedMultivariateNormal(torch.zeros(2, 2), torch.eye(2)), torch.tensor([NAN, 1.0])
    )
    check_provenance(
        lambda loc: dist.NanMaskedNormal(loc, 1.0), [0.0, 1.0], torch.tensor([NAN, 1.0])
    )
    check_provenance(
        lambda loc: dist.NanMaskedMultivariateNormal(loc, torch.eye(2)),
        [0.0, 1.0],
        torch.tensor([[NAN, 1.0], [0.5, 0.5]]),
    )
