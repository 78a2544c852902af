"""Initialization strategies and InitMessenger."""

from __future__ import annotations

import pytest
import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph import poutine
from tracegraph.infer.autoguide import (
    init_to_feasible,
    init_to_generated,
    init_to_mean,
    init_to_median,
    init_to_sample,
    init_to_uniform,
    init_to_value,
)
from tracegraph.infer.autoguide.initialization import InitMessenger
from tracegraph.infer.autoguide.utils import UnsupportedSiteError


def site(fn, name="x"):
    return {"name": name, "fn": fn, "type": "sample"}


def model():
    tracegraph.sample("p", dist.Beta(2.0, 2.0).expand([3]).to_event(1))
    tracegraph.sample("s", dist.Dirichlet(torch.ones(3)))
    tracegraph.sample("e", dist.Exponential(1.0))
    tracegraph.sample("o", dist.Normal(0.0, 1.0), obs=torch.tensor(5.0))


def values(init):
    tr = poutine.trace(InitMessenger(init)(model)).get_trace()
    return {n: s["value"] for n, s in tr.nodes.items() if s["type"] == "sample"}


def test_init_to_feasible_maps_zero_into_the_support():
    v = values(init_to_feasible)
    assert torch.allclose(v["p"], torch.full((3,), 0.5))
    assert torch.allclose(v["s"], torch.full((3,), 1 / 3))
    assert v["e"].item() == 1.0 and v["o"].item() == 5.0  # observed: untouched


def test_init_to_mean_uses_the_mean_and_falls_back_where_it_is_no_value():
    v = values(init_to_mean)
    assert torch.allclose(v["p"], torch.full((3,), 0.5)) and v["e"].item() == 1.0
    # A Bernoulli's mean (0.3) is not a value: the median of draws is used.
    b = init_to_mean(site(dist.Bernoulli(torch.tensor(0.3))))
    assert b.item() in (0.0, 1.0)
    # A categorical's mean is NaN: the fallback again.
    c = init_to_mean(site(dist.Categorical(torch.tensor([0.0, 0.0, 1.0]))))
    assert c.item() == 2


def test_init_to_median_of_a_simplex_falls_back_to_feasible():
    v = values(init_to_median)
    assert torch.allclose(v["s"], torch.full((3,), 1 / 3))
    # 15 draws of Exponential(1): the median is within the central 99% range.
    assert 0.1 < v["e"].item() < 3.0


def test_init_to_median_and_mean_without_fallback_raise():
    with tracegraph.validation_enabled(False):
        nan = dist.Normal(torch.tensor(float("nan")), 1.0)
    with pytest.raises(ValueError, match="site 's'"):
        init_to_median(fallback=None)(site(nan, "s"))
    # A multivariate site never has a median: a feasible point (as Pyro).
    simplex = init_to_median(fallback=None)(site(dist.Dirichlet(torch.ones(3)), "s"))
    assert torch.allclose(simplex, torch.full((3,), 1 / 3))
    with pytest.raises(ValueError, match="site 'c'"):
        init_to_mean(fallback=None)(site(dist.Categorical(torch.ones(2)), "c"))


def test_init_to_uniform_stays_within_radius_in_unconstrained_space():
    for _ in range(20):
        e = init_to_uniform(site(dist.Exponential(1.0)))
        assert torch.exp(torch.tensor(-2.0)) < e < torch.exp(torch.tensor(2.0))
    assert init_to_uniform(radius=0.0)(site(dist.Exponential(1.0))).item() == 1.0


def test_init_to_value_and_its_fallbacks():
    init = init_to_value(values={"e": torch.tensor(3.0)}, fallback=init_to_feasible)
    v = values(init)
    assert v["e"].item() == 3.0 and torch.allclose(v["p"], torch.full((3,), 0.5))
    with pytest.raises(ValueError, match="No init strategy specified for site 'p'"):
        values(init_to_value(values={}, fallback=None))


def test_init_to_sample_draws_from_the_prior():
    assert init_to_sample(site(dist.Bernoulli(1.0))).item() == 1.0


def test_strategies_called_without_site_return_strategies():
    assert init_to_feasible() is init_to_feasible and init_to_sample() is init_to_sample
    bound = init_to_median(num_samples=3)
    assert bound.keywords == {"num_samples": 3, "fallback": init_to_feasible}


def test_init_to_generated_asks_once_per_run():
    calls = []

    def generate():
        calls.append(1)
        return init_to_value(values={"e": torch.tensor(float(len(calls)))})

    init = init_to_generated(generate=generate)
    first = values(init)
    second = values(init)
    assert len(calls) == 2
    assert first["e"].item() == 1.0 and second["e"].item() == 2.0


def test_init_messenger_names_a_discrete_site_it_cannot_initialize():
    def discrete():
        tracegraph.sample("k", dist.Bernoulli(0.5))

    with pytest.raises(UnsupportedSiteError, match="discrete sample site 'k'"):
        poutine.trace(InitMessenger(init_to_feasible)(discrete)).get_trace()


def test_init_messenger_leaves_conditioned_sites_alone():
    def m():
        return tracegraph.sample("x", dist.Normal(0.0, 1.0))

    conditioned = poutine.condition(InitMessenger(init_to_mean)(m), data={"x": torch.tensor(7.0)})
    assert conditioned().item() == 7.0
