import math

import pytest
import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph.infer import EmpiricalMarginal, Importance


def model(x):
    z = tracegraph.sample("z", dist.Normal(0.0, 1.0))
    tracegraph.sample("x", dist.Normal(z, 1.0), obs=x)


def test_importance_prior_proposal_log_normalizer_matches_evidence():
    x = torch.tensor(0.7)
    n = 20000
    imp = Importance(model, num_samples=n).run(x)
    exact = dist.Normal(0.0, 2**0.5).log_prob(x)
    # The estimate of p(x) is a mean of n weights; its relative standard error is
    # std(w) / (mean(w) sqrt(n)); 4 standard errors on the log scale.
    w = imp.log_weights.exp()
    rel_se = float(w.std() / (w.mean() * math.sqrt(n)))
    assert abs(float(imp.get_log_normalizer() - exact)) < 4 * rel_se
    assert 0 < float(imp.get_ESS()) <= n


def test_importance_marginal_posterior_mean_close_to_exact():
    x = torch.tensor(1.0)
    n = 20000
    imp = Importance(model, num_samples=n).run(x)
    marginal = imp.marginal("z")
    # Posterior N(x/2, 1/2); self-normalized IS error ~ sqrt(var / ESS).
    se = math.sqrt(0.5 / float(imp.get_ESS()))
    assert abs(float(marginal.mean) - 0.5) < 4 * se
    assert marginal.sample(torch.Size([3])).shape == (3,)


def test_importance_results_before_run_raise():
    with pytest.raises(RuntimeError, match="run"):
        Importance(model, num_samples=2).get_log_normalizer()


def test_importance_bad_num_samples_raises():
    with pytest.raises(ValueError, match="num_samples"):
        Importance(model, num_samples=0)


def test_empirical_marginal_length_mismatch_raises():
    with pytest.raises(ValueError, match="must match"):
        EmpiricalMarginal(torch.zeros(3), torch.zeros(2))
