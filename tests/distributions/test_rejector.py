import torch

import tracegraph.distributions as dist
from tracegraph.distributions import ExpandedDistribution

from .pyro_dist_checks import check_mixin


def _thinned(rate, extra):
    # Exponential(rate) accepted with probability exp(-extra x) is Exponential(rate + extra).
    return dist.Rejector(
        dist.Exponential(rate), lambda x: -extra * x, torch.log(rate / (rate + extra))
    )


def test_rejector_log_prob_is_the_thinned_density():
    d = _thinned(torch.tensor([1.0, 2.0]), 0.5)
    x = torch.tensor([0.3, 1.2])
    torch.testing.assert_close(
        d.log_prob(x), dist.Exponential(torch.tensor([1.5, 2.5])).log_prob(x)
    )


def test_rejector_samples_follow_the_thinned_law_and_gradient_is_unbiased():
    # Mean of Exponential(1.5) within 5 standard errors; the ELBO-style surrogate
    # sum(x) + sum(score_function) * stop_grad(x) gives d/drate E[x] = -1 / 1.5**2
    # (Naesseth et al. 2017), checked with 5 batch standard errors.
    torch.manual_seed(0)
    grads = []
    for _ in range(40):
        rate = torch.tensor(1.0, requires_grad=True)
        d = _thinned(rate, 0.5)
        x = d.rsample((2000,))
        score = d.score_parts(x).score_function
        surrogate = (x + score * x.detach()).mean()
        grads.append(torch.autograd.grad(surrogate, rate)[0])
    grads = torch.stack(grads)
    assert (grads.mean() + 1 / 1.5**2).abs() <= 5 * grads.std() / 40**0.5
    x = _thinned(torch.tensor(1.0), 0.5).sample((40000,))
    assert (x.mean() - 1 / 1.5).abs() <= 5 * (1 / 1.5) / 200


def test_rejector_expands_by_wrapping_and_mixin():
    d = _thinned(torch.tensor([1.0, 2.0]), 0.5)
    assert isinstance(d.expand((3, 2)), ExpandedDistribution)
    assert d.support is d.propose.support
    check_mixin(d, torch.tensor([0.3, 1.2]))
