"""Tests of tracegraph.infer.fit: history, Ctrl-C, non-finite losses, progress bar."""

from __future__ import annotations

import math

import pytest
import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph.infer import SVI, Trace_ELBO, TraceGraph_ELBO
from tracegraph.infer.fit import FitResult, NonFiniteLossError, fit
from tracegraph.optim import Adam


def _normal_model(data: torch.Tensor) -> None:
    loc = tracegraph.sample("loc", dist.Normal(0.0, 10.0))
    with tracegraph.plate("data", len(data)):
        tracegraph.sample("x", dist.Normal(loc, 1.0), obs=data)


def _normal_guide(data: torch.Tensor) -> None:
    mean = tracegraph.param("mean", torch.tensor(0.0))
    tracegraph.sample("loc", dist.Normal(mean, 0.1))


def _svi(model=_normal_model, guide=_normal_guide, elbo=None, lr=0.1) -> SVI:
    return SVI(model, guide, Adam({"lr": lr}), Trace_ELBO() if elbo is None else elbo)


def test_fit_runs_all_steps_and_keeps_history():
    data = torch.full((10,), 3.0)
    result = fit(_svi(), 150, data, progress=False)
    assert isinstance(result, FitResult)
    assert result.num_steps == 150 and not result.interrupted
    assert all(math.isfinite(loss) for loss in result.losses)
    assert result.elbos == [-loss for loss in result.losses]
    # The posterior mean is 3 * 100 / (100 + 0.1) ~ 3; Adam gets there in 150 steps.
    assert abs(tracegraph.param("mean").item() - 3.0) < 0.3
    assert sum(result.losses[-10:]) < sum(result.losses[:10])


def test_fit_passes_keyword_arguments_to_model_and_guide():
    seen = []

    def model(*, data):
        seen.append(data)

    def guide(*, data):
        tracegraph.param("p", torch.tensor(0.0))

    fit(_svi(model, guide), 2, data="payload", progress=False)
    assert seen == ["payload", "payload"]


def test_fit_zero_steps_returns_empty_history():
    result = fit(_svi(), 0, torch.zeros(2), progress=False)
    assert result.losses == [] and math.isnan(result.final_loss)


@pytest.mark.parametrize("steps", ["10", 2.0, True])
def test_fit_num_steps_not_int_raises_type_error(steps):
    with pytest.raises(TypeError, match="num_steps must be an int"):
        fit(_svi(), steps, torch.zeros(2), progress=False)


def test_fit_negative_num_steps_raises_value_error():
    with pytest.raises(ValueError, match="num_steps must be >= 0, got -1"):
        fit(_svi(), -1, torch.zeros(2), progress=False)


def test_fit_not_svi_raises_type_error():
    with pytest.raises(TypeError, match="fit needs a tracegraph.infer.SVI object, got int"):
        fit(3, 10, progress=False)  # type: ignore[arg-type]


def test_fit_keyboard_interrupt_returns_history_and_keeps_params():
    seen_means = []

    def guide(data):
        mean = tracegraph.param("mean", torch.tensor(0.0))
        seen_means.append(mean.item())
        tracegraph.sample("loc", dist.Normal(mean, 0.1))

    def model(data):
        if len(seen_means) == 6:  # the 6th step: Ctrl-C while the model runs
            raise KeyboardInterrupt
        _normal_model(data)

    result = fit(_svi(model, guide), 20, torch.full((4,), 3.0), progress=False)
    assert result.interrupted and result.num_steps == 5
    # The params are where the 5 completed steps left them (the 6th step's guide
    # read them), and the cut-short step left no gradient behind.
    assert tracegraph.param("mean").item() == seen_means[-1] != 0.0
    assert all(p.grad is None for _, p in tracegraph.get_param_store().named_parameters())


def test_fit_interrupt_message_on_progress_bar(capsys):
    calls = []

    def model(data):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        _normal_model(data)

    result = fit(_svi(model), 10, torch.zeros(2), progress=True)
    assert result.interrupted
    assert "interrupted after 2 of 10 steps; params kept" in capsys.readouterr().err


def _exploding_model(step_of_failure: int, calls: list[int]):
    def model(data):
        calls.append(1)
        _normal_model(data)
        # The re-run that diagnoses the failure calls the model again: it must
        # fail the same way, as a model whose params went bad would.
        value = torch.tensor(-math.inf if len(calls) > step_of_failure else 0.0)
        tracegraph.factor("penalty", value)

    return model


def test_fit_nan_loss_raises_naming_step_and_site():
    calls: list[int] = []
    model = _exploding_model(3, calls)
    with pytest.raises(NonFiniteLossError) as info:
        fit(_svi(model), 10, torch.full((4,), 3.0), progress=False)
    err = info.value
    assert err.step == 3 and err.loss == math.inf
    assert err.sites == ["model site 'penalty'"]
    assert "at step 3" in str(err) and "model site 'penalty'" in str(err)
    assert err.result.num_steps == 3 and all(math.isfinite(x) for x in err.result.losses)
    assert isinstance(err, ValueError)


def test_fit_nan_loss_keeps_params_from_before_the_step():
    calls: list[int] = []
    seen_means = []

    def guide(data):
        mean = tracegraph.param("mean", torch.tensor(0.0))
        seen_means.append(mean.item())
        tracegraph.sample("loc", dist.Normal(mean, 0.1))

    with pytest.raises(NonFiniteLossError):
        fit(_svi(_exploding_model(2, calls), guide), 10, torch.full((4,), 3.0), progress=False)
    # seen_means: steps 0, 1, the failing step 2, then the diagnosing re-run.
    assert tracegraph.param("mean").item() == seen_means[2] == seen_means[3]
    assert all(p.grad is None for _, p in tracegraph.get_param_store().named_parameters())


def test_fit_nan_in_guide_site_is_named_with_particles():
    calls: list[int] = []

    def model(data):
        tracegraph.sample("z", dist.Normal(0.0, 1.0))

    def guide(data):
        calls.append(1)
        loc = tracegraph.param("loc", torch.tensor(0.0))
        # From the 3rd call on, a zero scale: log q(z) = 0/0 - log 0 = NaN.
        scale = torch.tensor(0.0 if len(calls) > 2 else 1.0)
        tracegraph.sample("z", dist.Normal(loc, scale))

    elbo = TraceGraph_ELBO(num_particles=2)
    with tracegraph.validation_enabled(False), pytest.raises(NonFiniteLossError) as info:
        fit(_svi(model, guide, elbo), 5, None, progress=False)
    assert info.value.step == 1  # two guide calls per step: the 2nd step fails
    assert info.value.sites == ["guide site 'z'"]  # the model's log p(z) is finite
    assert math.isnan(info.value.loss)


def test_fit_leaves_the_users_svi_unchanged():
    svi = _svi()
    before = svi.loss_and_grads
    fit(svi, 2, torch.zeros(2), progress=False)
    assert svi.loss_and_grads is before


def test_fit_progress_bar_shows_step_and_elbo(capsys):
    fit(_svi(), 5, torch.zeros(2), progress=True, desc="training")
    err = capsys.readouterr().err
    assert "training" in err and "5/5" in err and "elbo=" in err


def test_fit_progress_false_prints_nothing(capsys):
    fit(_svi(), 5, torch.zeros(2), progress=False)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""
