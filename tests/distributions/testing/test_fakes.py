import pytest
import torch

import tracegraph.distributions as dist
from tracegraph.distributions.testing import fakes

TD = torch.distributions

CASES = [
    (fakes.NonreparameterizedNormal, TD.Normal, (torch.tensor([0.5, -1.0]), torch.tensor(2.0))),
    (fakes.NonreparameterizedBeta, TD.Beta, (torch.tensor([2.0, 0.5]), torch.tensor(3.0))),
    (fakes.NonreparameterizedGamma, TD.Gamma, (torch.tensor([2.0, 0.5]), torch.tensor(3.0))),
    (fakes.NonreparameterizedDirichlet, TD.Dirichlet, (torch.tensor([[1.0, 2.0, 3.0]]),)),
]
IDS = [case[0].__name__ for case in CASES]


@pytest.mark.parametrize(("fake", "original", "args"), CASES, ids=IDS)
def test_fake_is_non_reparameterized_wrapped_subclass(fake, original, args):
    d = fake(*args)
    assert d.has_rsample is False and original(*args).has_rsample is True
    assert isinstance(d, original) and isinstance(d, dist.TorchDistributionMixin)


@pytest.mark.parametrize(("fake", "original", "args"), CASES, ids=IDS)
def test_fake_log_prob_equals_torch(fake, original, args):
    x = original(*args).sample((5,))
    assert torch.equal(fake(*args).log_prob(x), original(*args).log_prob(x))


@pytest.mark.parametrize(("fake", "original", "args"), CASES, ids=IDS)
def test_fake_draw_has_no_gradient_path(fake, original, args):
    params = [a.clone().requires_grad_() for a in args]
    d = fake(*params)
    assert not d().requires_grad and not d.sample((2,)).requires_grad
    assert not dist.draw(d).requires_grad


@pytest.mark.parametrize(("fake", "original", "args"), CASES, ids=IDS)
def test_fake_score_parts_uses_score_function(fake, original, args):
    d = fake(*args)
    x = d()
    parts = d.score_parts(x)
    assert parts.entropy_term == 0.0 and isinstance(parts.score_function, torch.Tensor)
    assert torch.equal(parts.score_function, d.log_prob(x))


@pytest.mark.parametrize(("fake", "original", "args"), CASES, ids=IDS)
def test_fake_samples_have_original_mean(fake, original, args):
    # Sample mean within 5 standard errors (sqrt(variance / n)) of the true mean.
    n = 4000
    d, ref = fake(*args), original(*args)
    x = d.sample((n,))
    assert (x.mean(0) - ref.mean).abs().le(5 * (ref.variance / n).sqrt()).all()


def test_fake_has_rsample_can_be_switched_back_per_instance():
    loc = torch.tensor(0.0, requires_grad=True)
    d = fakes.NonreparameterizedNormal(loc, 1.0).has_rsample_(True)
    assert d.has_rsample and d().requires_grad
    assert fakes.NonreparameterizedNormal(loc, 1.0).has_rsample is False


def test_fake_expand_stays_fake():
    d = fakes.NonreparameterizedGamma(torch.tensor(2.0), 1.0).expand((3,))
    assert type(d) is fakes.NonreparameterizedGamma and d.has_rsample is False


def test_fake_expand_keeps_instance_setting():
    d = fakes.NonreparameterizedNormal(0.0, 1.0).has_rsample_(True).expand((2,))
    assert d.has_rsample is True
