"""SVI: one optimizer step per call, loss evaluation without side effects, and
convergence to analytic posteriors."""

from __future__ import annotations

import math

import pytest
import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph.distributions import constraints
from tracegraph.errors import OptimizerError
from tracegraph.infer import SVI, JitTraceGraph_ELBO, Trace_ELBO, TraceGraph_ELBO
from tracegraph.optim import Adam


def _model(data, scale=1.0):
    z = tracegraph.sample("z", dist.Normal(0.0, 1.0))
    with tracegraph.plate("data", len(data)):
        tracegraph.sample("x", dist.Normal(z, scale), obs=data)


def _guide(data, scale=1.0):
    loc = tracegraph.param("loc", torch.tensor(0.0))
    tracegraph.sample("z", dist.Normal(loc, 0.5))


DATA = torch.tensor([1.0, 2.0, 1.5])


def _store_values():
    return {k: v.detach().clone() for k, v in tracegraph.get_param_store().items()}


@pytest.mark.parametrize("estimator", [Trace_ELBO, TraceGraph_ELBO, JitTraceGraph_ELBO])
def test_svi_step_returns_float_and_moves_params(estimator):
    svi = SVI(_model, _guide, Adam({"lr": 0.1}), estimator())
    loss = svi.step(DATA)
    assert isinstance(loss, float) and math.isfinite(loss)
    first = _store_values()["loc"]
    svi.step(DATA)
    assert float(_store_values()["loc"]) != float(first)
    for _, p in tracegraph.get_param_store().named_parameters():
        # Zeroed after the step, as Pyro's zero_grads does: nothing accumulates.
        assert p.grad is not None and not p.grad.any()


def test_svi_step_passes_args_and_kwargs():
    seen = []

    def model(data, scale=1.0):
        seen.append(("model", len(data), scale))
        _model(data, scale)

    def guide(data, scale=1.0):
        seen.append(("guide", len(data), scale))
        _guide(data, scale)

    SVI(model, guide, Adam({"lr": 0.1}), Trace_ELBO()).step(DATA, scale=2.0)
    assert ("model", 3, 2.0) in seen and ("guide", 3, 2.0) in seen


def test_svi_evaluate_loss_leaves_params_and_grads_alone():
    svi = SVI(_model, _guide, Adam({"lr": 0.1}), Trace_ELBO())
    svi.step(DATA)
    before = _store_values()
    loss = svi.evaluate_loss(DATA)
    assert isinstance(loss, float) and math.isfinite(loss)
    assert _store_values().keys() == before.keys()
    for name, value in _store_values().items():
        assert torch.equal(value, before[name]), name
    for _, p in tracegraph.get_param_store().named_parameters():
        assert not p.grad.any()


def test_svi_evaluate_loss_is_the_elbo_estimate():
    svi = SVI(_model, _guide, Adam({"lr": 0.1}), Trace_ELBO())
    svi.step(DATA)
    tracegraph.set_rng_seed(4)
    loss = svi.evaluate_loss(DATA)
    tracegraph.set_rng_seed(4)
    assert loss == Trace_ELBO().loss(_model, _guide, DATA)


def test_svi_accepts_callable_loss_returning_tensor():
    elbo = Trace_ELBO()

    def loss_fn(model, guide, *args, **kwargs):
        return elbo.differentiable_loss(model, guide, *args, **kwargs)

    svi = SVI(_model, _guide, Adam({"lr": 0.1}), loss_fn)
    value = svi.step(DATA)
    assert isinstance(value, float)
    assert float(_store_values()["loc"]) != 0.0
    assert isinstance(svi.evaluate_loss(DATA), float)


def test_svi_accepts_explicit_loss_and_grads():
    elbo = Trace_ELBO()
    calls = []

    def loss_and_grads(model, guide, *args, **kwargs):
        calls.append(1)
        return elbo.loss_and_grads(model, guide, *args, **kwargs)

    svi = SVI(_model, _guide, Adam({"lr": 0.1}), elbo.loss, loss_and_grads=loss_and_grads)
    svi.step(DATA)
    assert calls == [1]
    assert float(_store_values()["loc"]) != 0.0


def test_svi_rejects_an_optim_that_is_not_a_pyro_optim():
    # Pyro raises ValueError here; OptimizerError is one.
    for optim in ({"lr": 0.1}, torch.optim.Adam):
        with pytest.raises(OptimizerError, match="PyroOptim"):
            SVI(_model, _guide, optim, Trace_ELBO())  # type: ignore[arg-type]
    assert issubclass(OptimizerError, ValueError)


def test_svi_rejects_non_callable_model():
    with pytest.raises(TypeError, match="model"):
        SVI(None, _guide, Adam({"lr": 0.1}), Trace_ELBO())  # type: ignore[arg-type]


def test_svi_tuple_loss_gives_tuple_of_numbers():
    def loss(model, guide, *args, **kwargs):
        return torch.tensor(1.0), torch.tensor(2.0)

    svi = SVI(_model, _guide, Adam({"lr": 0.1}), loss, loss_and_grads=loss)
    assert svi.step(DATA) == (1.0, 2.0) and svi.evaluate_loss(DATA) == (1.0, 2.0)


def test_svi_callable_loss_without_graph_steps_without_error():
    svi = SVI(_model, _guide, Adam({"lr": 0.1}), lambda m, g, *a, **k: torch.tensor(1.5))
    assert svi.step(DATA) == 1.5


def test_svi_legacy_num_steps_and_num_samples_warn_and_run():
    with pytest.warns(FutureWarning) as record:
        svi = SVI(_model, _guide, Adam({"lr": 0.1}), Trace_ELBO(), num_samples=3, num_steps=4)
    assert len(record) == 2
    with pytest.warns(FutureWarning, match="SVI.run"):
        assert svi.run(DATA) is svi
    assert float(_store_values()["loc"]) != 0.0  # four steps were taken
    assert len(svi.exec_traces) == 3 and svi.log_weights == [torch.tensor(1.0)] * 3
    assert list(svi.exec_traces[0].nodes) == ["_INPUT", "z", "data", "x", "_RETURN"]
    assert svi.marginal(["z"]).support()["z"].shape == (3,)


def test_svi_kwargs_go_to_trace_posterior():
    svi = SVI(_model, _guide, Adam({"lr": 0.1}), Trace_ELBO(), num_chains=2)
    assert svi.num_chains == 2


def test_svi_steps_only_params_used_in_this_step():
    tracegraph.param("bystander", torch.tensor(3.0))
    svi = SVI(_model, _guide, Adam({"lr": 0.1}), Trace_ELBO())
    for _ in range(3):
        svi.step(DATA)
    assert float(_store_values()["bystander"]) == 3.0


# -- convergence ---------------------------------------------------------------------


BETA_DATA = torch.tensor([1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0])


def _beta_model(data):
    p = tracegraph.sample("p", dist.Beta(1.0, 1.0))
    with tracegraph.plate("data", len(data)):
        tracegraph.sample("obs", dist.Bernoulli(p), obs=data)


def _beta_guide(data):
    a = tracegraph.param("alpha_q", torch.tensor(15.0), constraint=constraints.positive)
    b = tracegraph.param("beta_q", torch.tensor(15.0), constraint=constraints.positive)
    tracegraph.sample("p", dist.Beta(a, b))


@pytest.mark.slow
def test_svi_beta_bernoulli_reaches_analytic_posterior_mean():
    # 6 heads in 10 flips under Beta(1, 1): the posterior is Beta(7, 5), mean 7/12.
    # Adam at lr 0.05 then 0.005 (400 steps each, 10 particles): over 8 seeds the
    # final guide mean had sd 0.008 and mean 0.5855, so 0.03 is about 4 sd (and
    # a fifth of the posterior's sd, 0.137).
    elbo = TraceGraph_ELBO(num_particles=10, vectorize_particles=True)
    for lr in (0.05, 0.005):
        svi = SVI(_beta_model, _beta_guide, Adam({"lr": lr}), elbo)
        for _ in range(400):
            svi.step(BETA_DATA)
    a = float(tracegraph.param("alpha_q").detach())
    b = float(tracegraph.param("beta_q").detach())
    assert a / (a + b) == pytest.approx(7 / 12, abs=0.03)


@pytest.mark.slow
def test_svi_discrete_latent_reaches_exact_posterior():
    # z ~ Bernoulli(0.3), x | z ~ N(3z, 1), x = 2: P(z = 1 | x) = 0.3 N(2; 3, 1) /
    # (0.3 N(2; 3, 1) + 0.7 N(2; 0, 1)), which a Bernoulli guide can equal exactly.
    # Score-function gradients with a decaying-average baseline; the same two-phase
    # schedule; tolerance 0.03 as above (the ELBO is flat near the optimum: it
    # changes by KL, quadratic in the error).
    n1, n0 = math.exp(-0.5), math.exp(-2.0)
    posterior = 0.3 * n1 / (0.3 * n1 + 0.7 * n0)

    def model():
        z = tracegraph.sample("z", dist.Bernoulli(0.3))
        tracegraph.sample("x", dist.Normal(3.0 * z, 1.0), obs=torch.tensor(2.0))

    def guide():
        p = tracegraph.param("p", torch.tensor(0.2), constraint=constraints.unit_interval)
        tracegraph.sample(
            "z", dist.Bernoulli(p), infer={"baseline": {"use_decaying_avg_baseline": True}}
        )

    elbo = TraceGraph_ELBO(num_particles=10, vectorize_particles=True)
    for lr in (0.05, 0.005):
        svi = SVI(model, guide, Adam({"lr": lr}), elbo)
        for _ in range(400):
            svi.step()
    assert float(tracegraph.param("p").detach()) == pytest.approx(posterior, abs=0.03)
