import torch

import tracegraph.distributions as dist

from .pyro_dist_checks import check_mixin, check_provenance


def test_affine_beta_is_a_moved_beta():
    d = dist.AffineBeta(torch.tensor(2.0), torch.tensor(3.0), torch.tensor(-1.0), torch.tensor(4.0))
    beta = torch.distributions.Beta(2.0, 3.0)
    x = torch.tensor([-0.5, 1.0, 2.5])
    torch.testing.assert_close(
        d.log_prob(x), beta.log_prob((x + 1) / 4) - torch.log(torch.tensor(4.0))
    )
    torch.testing.assert_close(d.mean, -1 + 4 * beta.mean)
    torch.testing.assert_close(d.variance, 16 * beta.variance)
    assert (d.low, d.high, d.sample_size) == (
        torch.tensor(-1.0),
        torch.tensor(3.0),
        torch.tensor(5.0),
    )


def test_affine_beta_samples_stay_strictly_inside_and_are_reparameterized():
    c = torch.tensor(0.01, requires_grad=True)
    d = dist.AffineBeta(c, 0.01, 0.0, 1.0)
    x = d.rsample((1000,))
    assert (x > 0).all() and (x < 1).all()
    x.sum().backward()
    assert torch.isfinite(c.grad)


def test_affine_beta_expand_keeps_loc_and_scale():
    d = dist.AffineBeta(torch.tensor([2.0, 3.0]), 4.0, -1.0, 3.0).expand((5, 2))
    assert type(d) is dist.AffineBeta and d.batch_shape == (5, 2) and d.loc.shape == ()
    assert d.sample().shape == (5, 2)


def test_affine_beta_mixin_and_provenance():
    check_mixin(dist.AffineBeta(torch.tensor([2.0, 3.0]), 4.0, -1.0, 3.0), torch.tensor([0.5, 1.0]))
    check_provenance(lambda c: dist.AffineBeta(c, 4.0, -1.0, 3.0), 2.0, torch.tensor(0.5))
