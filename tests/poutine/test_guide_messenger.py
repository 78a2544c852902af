"""GuideMessenger: one run yields model and guide traces."""

from __future__ import annotations

import pytest
import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph.infer import TraceGraph_ELBO
from tracegraph.poutine.guide import GuideMessenger


class Shift(GuideMessenger):
    def get_posterior(self, name, prior):
        if name == "fixed":
            return torch.tensor(5.0)  # a value: a point mass
        loc = tracegraph.param(f"{name}_shift", torch.tensor(1.0))
        return dist.Normal(prior.loc + loc, prior.scale)


def model():
    a = tracegraph.sample("a", dist.Normal(0.0, 1.0))
    tracegraph.sample("fixed", dist.Normal(0.0, 1.0))
    with tracegraph.plate("data", 2):
        tracegraph.sample("b", dist.Normal(a, 1.0))
        tracegraph.sample("x", dist.Normal(a, 1.0), obs=torch.zeros(2))


def test_guide_messenger_returns_every_sample_site():
    out = Shift(model)()
    assert sorted(out) == ["a", "b", "fixed", "x"]
    assert out["fixed"].item() == 5.0


def test_guide_messenger_traces_priors_and_posteriors():
    guide = Shift(model)
    guide()
    model_trace, guide_trace = guide.get_traces()
    assert guide_trace.stochastic_nodes == ["a", "fixed", "b"]
    assert "x" in model_trace.nodes and "x" not in guide_trace.nodes
    assert "data" not in model_trace.nodes and "data" not in guide_trace.nodes
    assert model_trace.nodes["a"]["fn"].loc.item() == 0.0
    assert guide_trace.nodes["a"]["fn"].loc.item() == 1.0
    # The prior of b is conditioned on the drawn a; the plate broadcast it.
    assert model_trace.nodes["b"]["fn"].batch_shape == (2,)
    assert guide.upstream_value("a") is guide_trace.nodes["a"]["value"]


def test_guide_messenger_is_abstract():
    with pytest.raises(TypeError):
        GuideMessenger(model)


def test_guide_messenger_gradient_of_the_elbo():
    # Model a ~ N(0, 1); guide a = s + eps, eps ~ N(0, 1): the pathwise gradient of
    # -ELBO is the mean of a over the particles, s + mean(eps) with s = 1 and
    # standard error 1/sqrt(2000) = 0.022; allow 4 standard errors.
    def only_a():
        tracegraph.sample("a", dist.Normal(0.0, 1.0))

    guide = Shift(only_a)
    loss = TraceGraph_ELBO(num_particles=2000, vectorize_particles=True).differentiable_loss(
        only_a, guide
    )
    (grad,) = torch.autograd.grad(loss, [tracegraph.param("a_shift").unconstrained()])
    assert grad.item() == pytest.approx(1.0, abs=4 / 2000**0.5)
