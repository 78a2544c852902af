import pytest
import torch

import tracegraph.distributions as dist
from tracegraph.errors import ShapeError, SiteError

from .pyro_dist_checks import check_mixin, check_provenance


def test_masked_mixture_picks_each_component_by_mask():
    mask = torch.tensor([True, False, True])
    d = dist.MaskedMixture(mask, dist.Normal(0.0, 1.0), dist.Normal(torch.tensor(5.0), 2.0))
    x = torch.tensor([1.0, 1.0, 1.0])
    expected = torch.where(
        mask, dist.Normal(5.0, 2.0).log_prob(x), dist.Normal(0.0, 1.0).log_prob(x)
    )
    torch.testing.assert_close(d.log_prob(x), expected)
    assert torch.equal(d.mean, torch.tensor([5.0, 0.0, 5.0]))
    torch.manual_seed(0)
    s = d.sample((4000,))
    assert (s[:, 0].mean() - 5).abs() < 5 * 2 / 4000**0.5


def test_masked_mixture_support_is_shared_or_masked():
    mask = torch.tensor([True, False])
    same = dist.MaskedMixture(mask, dist.Normal(0.0, 1.0), dist.Normal(1.0, 1.0))
    assert same.support is torch.distributions.constraints.real
    mixed = dist.MaskedMixture(mask, dist.Normal(0.0, 1.0), dist.Gamma(1.0, 1.0))
    assert mixed.support.check(torch.tensor([1.0, -1.0])).tolist() == [True, True]
    assert mixed.support.check(torch.tensor([-1.0, -1.0])).tolist() == [False, True]
    assert mixed.has_rsample


def test_masked_mixture_argument_errors():
    with pytest.raises(SiteError):
        dist.MaskedMixture(torch.tensor([1, 0]), dist.Normal(0.0, 1.0), dist.Normal(0.0, 1.0))
    with pytest.raises(ShapeError):
        dist.MaskedMixture(
            torch.tensor([True]),
            dist.Normal(0.0, 1.0),
            dist.Normal(torch.zeros(2), 1.0).to_event(1),
        )


def test_masked_mixture_mixin_and_provenance():
    mask = torch.tensor([True, False])
    d = dist.MaskedMixture(mask, dist.Normal(0.0, 1.0), dist.Normal(1.0, 2.0))
    check_mixin(d, torch.tensor([0.5, -1.0]))
    assert type(d.expand((3, 2))) is dist.MaskedMixture
    check_provenance(
        lambda loc: dist.MaskedMixture(mask, dist.Normal(loc, 1.0), dist.Normal(1.0, 2.0)),
        0.5,
        torch.tensor([0.0, 1.0]),
    )
