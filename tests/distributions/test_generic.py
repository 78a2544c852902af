import pytest
import torch

import tracegraph.distributions as dist
from tracegraph.distributions import (
    ExpandedDistribution,
    Independent,
    MaskedDistribution,
    draw,
    event_dim,
    expand_by,
    has_rsample,
    mask,
    score_parts,
    to_event,
)
from tracegraph.errors import ShapeError

TD = torch.distributions


class PlainNoExpand(TD.Normal):
    """A plain torch subclass with its own __init__ and no expand()."""

    def __init__(self, loc):
        super().__init__(loc, 1.0)


@pytest.mark.parametrize("make", [TD.Normal, dist.Normal])
def test_has_rsample_and_event_dim_plain_and_ours(make):
    d = make(torch.zeros(2), 1.0)
    assert has_rsample(d) is True and event_dim(d) == 0
    assert event_dim(to_event(d)) == 1


def test_has_rsample_plain_non_reparameterized_false():
    assert has_rsample(TD.Poisson(1.0)) is False


def test_draw_plain_reparameterized_has_gradient_path():
    loc = torch.tensor(0.0, requires_grad=True)
    x = draw(TD.Normal(loc, 1.0), (3,))
    assert x.shape == (3,) and x.requires_grad


def test_draw_plain_non_reparameterized_detached():
    probs = torch.tensor(0.5, requires_grad=True)
    assert not draw(TD.Bernoulli(probs), (3,)).requires_grad


def test_draw_respects_has_rsample_setting():
    loc = torch.tensor(0.0, requires_grad=True)
    assert not draw(dist.Normal(loc, 1.0).has_rsample_(False)).requires_grad


def test_score_parts_plain_reparameterized_convention():
    d = TD.Normal(0.0, 1.0)
    x = torch.tensor(0.3)
    parts = score_parts(d, x)
    assert parts.score_function == 0.0 and isinstance(parts.entropy_term, torch.Tensor)
    assert torch.equal(parts.entropy_term, d.log_prob(x))


def test_score_parts_plain_non_reparameterized_convention():
    d = TD.Bernoulli(0.3)
    x = torch.tensor(1.0)
    parts = score_parts(d, x)
    assert parts.entropy_term == 0.0 and isinstance(parts.score_function, torch.Tensor)
    assert torch.equal(parts.score_function, d.log_prob(x))


def test_score_parts_uses_subclass_override():
    class Custom(dist.Normal):
        def score_parts(self, x, *args, **kwargs):
            return dist.ScoreParts(x, x, x)

    x = torch.tensor(0.3)
    assert score_parts(Custom(0.0, 1.0), x).score_function is x


def test_expand_by_plain_prepends_batch_dims():
    d = expand_by(TD.Normal(torch.zeros(3), 1.0), (2,))
    assert d.batch_shape == (2, 3) and type(d) is dist.Normal


def test_expand_by_plain_without_expand_uses_expanded_distribution():
    d = expand_by(PlainNoExpand(torch.zeros(3)), (2,))
    assert isinstance(d, ExpandedDistribution) and d.sample().shape == (2, 3)


def test_to_event_plain_builds_independent():
    d = to_event(TD.Normal(torch.zeros(2, 3), 1.0), 1)
    x = torch.randn(2, 3)
    assert isinstance(d, Independent)
    assert torch.allclose(d.log_prob(x), TD.Normal(0.0, 1.0).log_prob(x).sum(-1))


def test_to_event_plain_out_of_range_raises():
    with pytest.raises(ShapeError):
        to_event(TD.Normal(torch.zeros(2), 1.0), 2)


def test_mask_plain_zeroes_log_prob():
    d = mask(TD.Normal(torch.zeros(2), 1.0), torch.tensor([False, True]))
    assert isinstance(d, MaskedDistribution)
    assert d.log_prob(torch.zeros(2))[0] == 0.0
