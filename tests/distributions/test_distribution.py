import pytest
import torch

import tracegraph.distributions as dist
from tracegraph.distributions.distribution import Distribution
from tracegraph.errors import SiteError


class Coin(Distribution):
    def __init__(self, p):
        super().__init__()
        self.p = torch.as_tensor(p)

    def sample(self, *args, **kwargs):
        return torch.bernoulli(self.p)

    def log_prob(self, x, *args, **kwargs):
        return torch.where(x.bool(), self.p.log(), (1 - self.p).log())


def test_distribution_subclass_gets_call_and_score_parts():
    coin = Coin(0.25)
    x = torch.tensor(1.0)
    parts = coin.score_parts(x)
    assert coin().shape == () and parts.entropy_term == 0
    assert torch.equal(parts.score_function, torch.tensor(0.25).log())


def test_distribution_has_rsample_switches_score_parts():
    coin = Coin(0.25).has_rsample_(True)
    parts = coin.score_parts(torch.tensor(0.0))
    assert parts.score_function == 0 and torch.equal(parts.entropy_term, torch.tensor(0.75).log())


@pytest.mark.parametrize("flag", [1, 0, None, "yes"])
def test_distribution_has_rsample_non_bool_raises_value_error(flag):
    with pytest.raises(ValueError, match=r"Expected value in \[False,True\]"):
        Coin(0.5).has_rsample_(flag)
    with pytest.raises(SiteError):
        dist.Normal(0.0, 1.0).has_rsample_(flag)


def test_distribution_defaults_refuse_enumeration_and_conjugacy():
    with pytest.raises(NotImplementedError, match="Support not implemented for Coin"):
        Coin(0.5).enumerate_support()
    with pytest.raises(NotImplementedError, match="Coin does not support .conjugate_update"):
        Coin(0.5).conjugate_update(Coin(0.5))
    assert Coin.has_rsample is False and Coin.has_enumerate_support is False


def test_distribution_is_abstract_without_sample_and_log_prob():
    class Incomplete(Distribution):
        pass

    with pytest.raises(TypeError, match="abstract"):
        Incomplete()


def test_distribution_counts_tracegraph_classes_not_plain_torch_ones():
    assert isinstance(dist.Normal(0.0, 1.0), Distribution)
    assert isinstance(dist.Normal(0.0, 1.0).to_event(0).mask(True), Distribution)
    assert issubclass(dist.TorchDistribution, Distribution)
    assert not isinstance(torch.distributions.Normal(0.0, 1.0), Distribution)


def test_distribution_rv_builds_transformed_distribution():
    y = (3 * dist.Uniform(0.0, 1.0).rv - 1).dist
    # Uniform(0, 1) scaled by 3 and shifted by -1 is Uniform(-1, 2): density 1/3.
    assert torch.allclose(y.log_prob(torch.tensor(0.5)), torch.tensor(1 / 3).log())
