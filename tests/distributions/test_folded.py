import pytest
import torch

import tracegraph.distributions as dist
from tracegraph.errors import ShapeError

from .pyro_dist_checks import check_mixin, check_provenance


def test_folded_normal_log_prob_adds_both_reflections():
    d = dist.FoldedDistribution(dist.Normal(torch.tensor(1.0), 2.0))
    x = torch.tensor([0.5, 3.0])
    base = torch.distributions.Normal(1.0, 2.0)
    expected = (base.log_prob(x).exp() + base.log_prob(-x).exp()).log()
    torch.testing.assert_close(d.log_prob(x), expected)
    assert (d.sample((100,)) >= 0).all()


def test_folded_refuses_multivariate_bases_and_negative_values():
    with pytest.raises(ShapeError):
        dist.FoldedDistribution(dist.Normal(torch.zeros(2), 1.0).to_event(1))
    with pytest.raises(ValueError):
        dist.FoldedDistribution(dist.Normal(0.0, 1.0), validate_args=True).log_prob(
            torch.tensor(-1.0)
        )


def test_folded_mixin_and_provenance():
    d = dist.FoldedDistribution(dist.Normal(torch.tensor([1.0, -2.0]), 1.0))
    check_mixin(d, torch.tensor([0.5, 2.0]))
    assert type(d.expand((3, 2))) is dist.FoldedDistribution
    check_provenance(
        lambda loc: dist.FoldedDistribution(dist.Normal(loc, 1.0)), 1.0, torch.tensor(0.5)
    )
