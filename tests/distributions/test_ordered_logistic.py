import torch

import tracegraph.distributions as dist

from .pyro_dist_checks import check_mixin, check_provenance


def test_ordered_logistic_probabilities_are_cumulative_sigmoid_differences():
    predictor, cutpoints = torch.tensor(0.5), torch.tensor([-1.0, 0.0, 2.0])
    d = dist.OrderedLogistic(predictor, cutpoints)
    cumulative = torch.sigmoid(cutpoints - predictor)
    expected = torch.diff(torch.cat([torch.zeros(1), cumulative, torch.ones(1)]))
    torch.testing.assert_close(d.probs, expected)
    torch.testing.assert_close(d.log_prob(torch.arange(4)).exp(), expected)


def test_ordered_logistic_broadcasts_and_expands():
    d = dist.OrderedLogistic(
        torch.zeros(2, 1), torch.tensor([[-1.0, 1.0], [0.0, 2.0], [-2.0, 0.0]])
    )
    assert (
        d.batch_shape == (2, 3) and d.predictor.shape == (2, 3) and d.cutpoints.shape == (2, 3, 2)
    )
    e = d.expand((4, 2, 3))
    assert type(e) is dist.OrderedLogistic and e.cutpoints.shape == (4, 2, 3, 2)


def test_ordered_logistic_mixin_and_provenance():
    d = dist.OrderedLogistic(torch.tensor([0.5, -1.0]), torch.tensor([-1.0, 0.0, 2.0]))
    check_mixin(d, torch.tensor([0, 3]))
    check_provenance(
        lambda p: dist.OrderedLogistic(p, torch.tensor([-1.0, 1.0])), 0.3, torch.tensor(1)
    )
