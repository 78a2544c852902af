"""Importance sampling, vectorized importance weights and the PSIS diagnostic."""

import math

import pytest
import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph.errors import TracegraphWarning
from tracegraph.infer import EmpiricalMarginal, Importance
from tracegraph.infer.importance import psis_diagnostic, vectorized_importance_weights
from tracegraph.infer.waic import waic


def model(x):
    z = tracegraph.sample("z", dist.Normal(0.0, 1.0))
    tracegraph.sample("x", dist.Normal(z, 1.0), obs=x)
    return z


def guide(x):
    loc = tracegraph.param("loc", torch.tensor(0.2))
    tracegraph.sample("z", dist.Normal(loc, 1.0))


def test_importance_prior_proposal_log_normalizer_matches_evidence():
    x = torch.tensor(0.7)
    n = 3000
    imp = Importance(model, num_samples=n).run(x)
    exact = dist.Normal(0.0, 2**0.5).log_prob(x)
    # The estimate of p(x) is a mean of n weights; its relative standard error is
    # std(w) / (mean(w) sqrt(n)); 4 standard errors on the log scale.
    w = torch.stack(imp.log_weights).exp()
    rel_se = float(w.std() / (w.mean() * math.sqrt(n)))
    assert abs(float(imp.get_log_normalizer() - exact)) < 4 * rel_se
    assert 0 < float(imp.get_ESS()) <= n


def test_importance_prior_proposal_weight_is_the_likelihood():
    imp = Importance(model, num_samples=3).run(torch.tensor(0.5))
    for tr, log_w in zip(imp.exec_traces, imp.log_weights):
        z = tr.nodes["z"]["value"]
        assert torch.isclose(log_w, dist.Normal(z, 1.0).log_prob(torch.tensor(0.5)))


def test_importance_guide_weight_is_model_minus_guide_and_detached():
    imp = Importance(model, guide, num_samples=4).run(torch.tensor(0.5))
    for tr, log_w in zip(imp.exec_traces, imp.log_weights):
        z = tr.nodes["z"]["value"].detach()
        expected = (
            dist.Normal(0.0, 1.0).log_prob(z)
            + dist.Normal(z, 1.0).log_prob(torch.tensor(0.5))
            - dist.Normal(0.2, 1.0).log_prob(z)
        )
        assert torch.isclose(log_w, expected) and not log_w.requires_grad
    assert list(imp.exec_traces[0].nodes) == ["_INPUT", "z", "x", "_RETURN"]


def test_importance_marginal_posterior_mean_close_to_exact():
    x = torch.tensor(1.0)
    imp = Importance(model, num_samples=3000).run(x)
    marginal = EmpiricalMarginal(imp, "z")
    # Posterior N(x/2, 1/2); self-normalized IS error ~ sqrt(var / ESS).
    se = math.sqrt(0.5 / float(imp.get_ESS()))
    assert abs(float(marginal.mean) - 0.5) < 4 * se
    assert marginal.sample(torch.Size([3])).shape == (3,)


def test_importance_without_num_samples_warns_and_draws_ten():
    with pytest.warns(TracegraphWarning, match="defaulting to 10"):
        imp = Importance(model)
    assert len(imp.run(torch.tensor(0.0)).exec_traces) == 10


def test_importance_zero_samples_run_raises():
    with pytest.raises(RuntimeError, match="no traces"):
        Importance(model, num_samples=0).run(torch.tensor(0.0))


def test_importance_before_run_summaries_warn_and_marginal_raises():
    imp = Importance(model, num_samples=2)
    with pytest.warns(TracegraphWarning, match="empty"):
        assert imp.get_log_normalizer() is None
    with pytest.warns(TracegraphWarning, match="effective sample size is zero"):
        assert imp.get_ESS() == 0
    with pytest.raises(RuntimeError, match="run"):
        imp.marginal()


def test_importance_run_again_replaces_traces():
    imp = Importance(model, num_samples=3)
    imp.run(torch.tensor(0.0))
    first = imp.exec_traces[0]
    imp.run(torch.tensor(0.0))
    assert len(imp.exec_traces) == 3 and imp.exec_traces[0] is not first


def test_importance_call_draws_a_copy_of_the_dominant_trace():
    def weighted():
        tracegraph.sample("z", dist.Normal(0.0, 1.0))
        tracegraph.factor("f", torch.tensor(0.0))

    imp = Importance(weighted, num_samples=4).run()
    imp.log_weights = [torch.tensor(-1e4)] * 4
    imp.log_weights[2] = torch.tensor(0.0)
    imp._categorical = torch.distributions.Categorical(logits=torch.stack(imp.log_weights))
    tr = imp()
    assert tr is not imp.exec_traces[2]
    assert tr.nodes["z"]["value"] is imp.exec_traces[2].nodes["z"]["value"]


def test_importance_information_criterion_is_waic_of_the_observed_site():
    def plated(data):
        z = tracegraph.sample("z", dist.Normal(0.0, 1.0))
        with tracegraph.plate("d", len(data)):
            tracegraph.sample("x", dist.Normal(z, 1.0), obs=data)

    data = torch.tensor([0.5, 1.0, 1.5])
    imp = Importance(plated, num_samples=7).run(data)
    loglik = torch.stack(
        [dist.Normal(tr.nodes["z"]["value"], 1.0).log_prob(data) for tr in imp.exec_traces]
    )
    expected = waic(loglik, torch.stack(imp.log_weights), pointwise=True)
    got = imp.information_criterion(pointwise=True)
    assert list(got) == ["waic", "p_waic"]
    assert torch.allclose(got["waic"], expected[0]) and torch.allclose(got["p_waic"], expected[1])
    assert torch.isclose(imp.information_criterion()["waic"], expected[0].sum())


def test_importance_information_criterion_needs_one_observed_site():
    def two_obs():
        z = tracegraph.sample("z", dist.Normal(0.0, 1.0))
        tracegraph.sample("x", dist.Normal(z, 1.0), obs=torch.tensor(0.0))
        tracegraph.sample("y", dist.Normal(z, 1.0), obs=torch.tensor(0.0))

    with pytest.raises(ValueError, match="exactly one observed site"):
        Importance(two_obs, num_samples=2).run().information_criterion()


# -- vectorized_importance_weights ----------------------------------------------------


def test_vectorized_importance_weights_match_per_particle_log_densities():
    x = torch.tensor([0.5, 1.0])

    def plated_model(x):
        z = tracegraph.sample("z", dist.Normal(0.0, 1.0))
        with tracegraph.plate("d", 2):
            tracegraph.sample("x", dist.Normal(z, 1.0), obs=x)

    log_w, model_trace, guide_trace = vectorized_importance_weights(
        plated_model, guide, x, num_samples=5, max_plate_nesting=1
    )
    z = guide_trace.nodes["z"]["value"].reshape(5)
    expected = (
        dist.Normal(0.0, 1.0).log_prob(z)
        + dist.Normal(z[:, None], 1.0).log_prob(x).sum(-1)
        - dist.Normal(0.2, 1.0).log_prob(z)
    )
    assert log_w.shape == (5,) and torch.allclose(log_w, expected)
    assert model_trace.nodes["x"]["log_prob"].shape == (5, 2)
    frames = [f.name for f in model_trace.nodes["x"]["cond_indep_stack"]]
    assert frames == ["num_particles_vectorized", "d"]


def test_vectorized_importance_weights_one_sample_is_a_scalar():
    log_w, _, _ = vectorized_importance_weights(
        model, guide, torch.tensor(0.0), max_plate_nesting=0
    )
    assert log_w.shape == ()


def test_vectorized_importance_weights_normalized_sum_to_one():
    log_w, _, _ = vectorized_importance_weights(
        model, guide, torch.tensor(0.0), num_samples=6, max_plate_nesting=0, normalized=True
    )
    assert torch.isclose(log_w.exp().sum(), torch.tensor(1.0))


def test_vectorized_importance_weights_need_max_plate_nesting():
    with pytest.raises(ValueError, match="max_plate_nesting"):
        vectorized_importance_weights(model, guide, torch.tensor(0.0), num_samples=2)


# -- psis_diagnostic ------------------------------------------------------------------


def _fixed_weights_pair(log_weights):
    # The model adds a fixed log factor per particle (the particle plate sits at
    # dim -8 with the default max_plate_nesting=7); the guide draws nothing, so
    # the importance weights are exactly exp(log_weights).
    def fixed_model():
        tracegraph.factor("w", log_weights.reshape((-1,) + (1,) * 7))

    def empty_guide():
        pass

    return fixed_model, empty_guide


@pytest.mark.parametrize("k", [0.2, 0.8])
def test_psis_diagnostic_recovers_tail_index_of_pareto_weights(k):
    # Weights at the quantiles (i - 0.5) / n of a generalized Pareto with shape k:
    # a deterministic sample whose upper tail is that distribution's.  The fit
    # uses the top ceil(3 sqrt(n)) = 95 of n = 1000 weights; tolerance 0.15 (the
    # fit's standard error there is about (1 + k) / sqrt(95) < 0.19, and exact
    # quantiles sit far closer than a random sample).
    n = 1000
    u = (torch.arange(n, dtype=torch.float64) + 0.5) / n
    weights = ((1 - u) ** -k - 1) / k + 1
    m, g = _fixed_weights_pair(weights.log().float())
    assert psis_diagnostic(m, g, num_particles=n) == pytest.approx(k, abs=0.15)


def test_psis_diagnostic_chunked_equals_one_run_for_fixed_weights():
    u = (torch.arange(400, dtype=torch.float64) + 0.5) / 400
    weights = ((1 - u) ** -0.5 - 1) / 0.5 + 1
    m, g = _fixed_weights_pair(weights.log().float())
    whole = psis_diagnostic(m, g, num_particles=400)

    chunks = iter(weights.log().float().split(100))

    def chunked_model():
        tracegraph.factor("w", next(chunks).reshape((-1,) + (1,) * 7))

    assert psis_diagnostic(
        chunked_model, g, num_particles=400, max_simultaneous_particles=100
    ) == pytest.approx(whole, abs=1e-12)


def test_psis_diagnostic_too_few_particles_warns_inf():
    m, g = _fixed_weights_pair(torch.zeros(40))
    with pytest.warns(TracegraphWarning, match="Not enough tail samples"):
        assert psis_diagnostic(m, g, num_particles=40) == math.inf


def test_psis_diagnostic_indivisible_chunks_raise():
    m, g = _fixed_weights_pair(torch.zeros(10))
    with pytest.raises(ValueError, match="divisible"):
        psis_diagnostic(m, g, num_particles=10, max_simultaneous_particles=3)
