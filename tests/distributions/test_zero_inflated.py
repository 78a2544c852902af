import pytest
import torch

import tracegraph.distributions as dist
from tracegraph.errors import ShapeError, SiteError

from .pyro_dist_checks import check_mixin, check_provenance


def test_zero_inflated_poisson_log_prob_by_gate_and_by_logits_agree():
    x = torch.arange(6.0)
    by_gate = dist.ZeroInflatedPoisson(torch.tensor(2.0), gate=torch.tensor(0.25))
    by_logits = dist.ZeroInflatedPoisson(torch.tensor(2.0), gate_logits=torch.tensor(0.25).logit())
    torch.testing.assert_close(by_gate.log_prob(x), by_logits.log_prob(x))
    poisson = torch.distributions.Poisson(2.0).log_prob(x).exp()
    expected = 0.75 * poisson + torch.tensor([0.25, 0, 0, 0, 0, 0])
    torch.testing.assert_close(by_gate.log_prob(x).exp(), expected)


def test_zero_inflated_accepts_number_gates():
    # Pyro needs a tensor gate; a number is no less clear, so it is accepted here.
    d = dist.ZeroInflatedPoisson(2.0, gate=0.5)
    assert d.gate.dtype == torch.get_default_dtype() and d.batch_shape == ()


def test_zero_inflated_moments_match_sample_moments():
    # 5 standard errors: sqrt(var / n) for the mean.
    torch.manual_seed(0)
    d = dist.ZeroInflatedNegativeBinomial(
        torch.tensor(3.0), logits=torch.tensor(0.2), gate=torch.tensor(0.3)
    )
    x = d.sample((40000,))
    assert (x.mean() - d.mean).abs() <= 5 * (d.variance / 40000).sqrt()
    assert ((x == 0).float().mean() - d.log_prob(torch.tensor(0.0)).exp()).abs() < 0.01


def test_zero_inflated_expand_keeps_subclass_after_gate_logits_is_read():
    d = dist.ZeroInflatedPoisson(torch.tensor([1.0, 2.0]), gate=torch.tensor(0.3))
    _ = d.gate_logits  # Pyro's expand fails once both are cached; ours does not.
    e = d.expand((3, 2))
    assert type(e) is dist.ZeroInflatedPoisson and e.rate.shape == (3, 2)


def test_zero_inflated_argument_errors():
    with pytest.raises(SiteError):
        dist.ZeroInflatedPoisson(torch.tensor(1.0))
    with pytest.raises(SiteError):
        dist.ZeroInflatedPoisson(torch.tensor(1.0), gate=0.1, gate_logits=0.1)
    with pytest.raises(ShapeError):
        dist.ZeroInflatedDistribution(dist.Normal(torch.zeros(2), 1.0).to_event(1), gate=0.1)


def test_zero_inflated_mixin_and_provenance():
    d = dist.ZeroInflatedDistribution(
        dist.Poisson(torch.tensor([1.0, 3.0])), gate=torch.tensor(0.2)
    )
    check_mixin(d, torch.tensor([0.0, 2.0]))
    check_mixin(
        dist.ZeroInflatedNegativeBinomial(2.0, probs=torch.tensor([0.3, 0.5]), gate_logits=0.0),
        torch.tensor([0.0, 1.0]),
    )
    check_provenance(lambda g: dist.ZeroInflatedPoisson(2.0, gate=g), 0.3, torch.tensor(0.0))
    check_provenance(lambda r: dist.ZeroInflatedPoisson(r, gate_logits=0.3), 2.0, torch.tensor(1.0))
