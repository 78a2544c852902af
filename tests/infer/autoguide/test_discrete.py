"""AutoDiscrete and AutoMixed: families, params inside plates, encoders, baselines,
an unbiased gradient, errors, and the tools (Predictive, render_model, variance)."""

from __future__ import annotations

import itertools
import re

import pytest
import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph import poutine
from tracegraph.cli import main
from tracegraph.infer import SVI, Predictive, Trace_ELBO, TraceGraph_ELBO, render_model
from tracegraph.infer.autoguide import AutoDiscrete, AutoGuideList, AutoMixed, AutoNormal
from tracegraph.infer.autoguide.utils import UnsupportedSiteError
from tracegraph.infer.runs import particles
from tracegraph.optim import Adam


def params():
    store = tracegraph.get_param_store()
    return {k: tuple(store[k].shape) for k in store.keys()}


def every_family():
    with tracegraph.plate("data", 4):
        tracegraph.sample("b", dist.Bernoulli(0.3))
        tracegraph.sample("v", dist.Bernoulli(torch.full((4, 2), 0.3)).to_event(1))
        tracegraph.sample("c", dist.Categorical(torch.ones(3)))
        tracegraph.sample("h", dist.OneHotCategorical(torch.ones(3)))
        tracegraph.sample("n", dist.Binomial(5, 0.3))
        tracegraph.sample("g", dist.Geometric(0.25))
        tracegraph.sample("p", dist.Poisson(3.0))
        tracegraph.sample("t", dist.Poisson(2.0))


def test_discrete_families_params_and_values():
    guide = AutoDiscrete(every_family, max_values={"t": 6})
    values = guide()
    assert params() == {
        "AutoDiscrete.logits.b": (4,),
        "AutoDiscrete.logits.v": (4, 2),
        "AutoDiscrete.logits.c": (4, 3),
        "AutoDiscrete.logits.h": (4, 3),
        "AutoDiscrete.logits.n": (4,),
        "AutoDiscrete.logits.g": (4,),
        "AutoDiscrete.logits.p": (4,),
        "AutoDiscrete.logits.t": (4, 7),
    }
    tr = poutine.trace(guide).get_trace()
    kinds = {n: type(s["fn"]).__name__ for n, s in tr.nodes.items() if s["type"] == "sample"}
    assert kinds == {
        "data": kinds["data"],
        "b": "Bernoulli",
        "v": "Independent",
        "c": "Categorical",
        "h": "OneHotCategorical",
        "n": "Binomial",
        "g": "Geometric",
        "p": "Poisson",
        "t": "BoundedCategorical",
    }
    assert values["t"].dtype == torch.float32 and bool((values["t"] <= 6).all())
    # Geometric and Poisson start at the prior; the bounded family at the
    # truncated prior.
    assert torch.allclose(tracegraph.param("AutoDiscrete.logits.p").exp(), torch.full((4,), 3.0))
    g = dist.Geometric(logits=tracegraph.param("AutoDiscrete.logits.g"))
    assert torch.allclose(g.probs, torch.full((4,), 0.25))
    t = torch.softmax(tracegraph.param("AutoDiscrete.logits.t")[0], -1)
    truncated = dist.Poisson(2.0).log_prob(torch.arange(7.0)).exp()
    assert torch.allclose(t, truncated / truncated.sum(), atol=1e-6)


def test_discrete_bounded_support_gets_a_categorical_over_it():
    class Die(dist.Categorical):
        # values 1..6 (as a user-defined distribution might declare them)
        @property
        def support(self):
            return dist.constraints.integer_interval(1, 6)

    def model():
        tracegraph.sample("d", Die(torch.ones(6)), infer={})

    guide = AutoDiscrete(model)
    value = guide()["d"]
    assert 1 <= value.item() <= 6 and params() == {"AutoDiscrete.logits.d": (6,)}


def test_discrete_site_errors_name_the_site():
    def continuous():
        tracegraph.sample("x", dist.Normal(0.0, 1.0))

    with pytest.raises(UnsupportedSiteError, match="site 'x'.*AutoMixed"):
        AutoDiscrete(continuous)()

    def unbounded():
        tracegraph.sample("k", dist.NegativeBinomial(3.0, 0.5))

    with pytest.raises(UnsupportedSiteError, match=r"site 'k'.*max_values=\{'k': K\}"):
        AutoDiscrete(unbounded)()
    assert AutoDiscrete(unbounded, max_values={"k": 30})()["k"].item() <= 30
    with pytest.raises(UnsupportedSiteError, match=r"max_values names \['q'\]"):
        AutoDiscrete(unbounded, max_values={"q": 3})()


def test_discrete_local_params_are_indexed_by_the_subsample():
    fixed = torch.tensor([3, 0])

    def model():
        with tracegraph.plate("data", 5, subsample_size=2):
            tracegraph.sample("z", dist.Categorical(torch.ones(4)))

    guide = AutoDiscrete(model, create_plates=lambda: tracegraph.plate("data", 5, subsample=fixed))
    guide()
    # Element i of the full plate all but surely takes the value i % 4.
    logits = torch.full((5, 4), -50.0)
    logits[torch.arange(5), torch.arange(5) % 4] = 50.0
    tracegraph.get_param_store()["AutoDiscrete.logits.z"] = logits
    assert guide()["z"].tolist() == [3, 0]
    assert guide.median()["z"].tolist() == [0, 1, 2, 3, 0]


class Encoder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(1, 2)

    def forward(self, data):
        return self.linear(data.unsqueeze(-1))


def plated_model(data):
    with tracegraph.plate("data", len(data), subsample_size=3) as idx:
        z = tracegraph.sample("z", dist.Categorical(torch.ones(2)))
        tracegraph.sample("x", dist.Normal(z.float(), 1.0), obs=data[idx])


def test_discrete_encoder_output_is_subsampled_and_trained():
    data = torch.arange(6.0)
    guide = AutoDiscrete(plated_model, encoder=Encoder())
    tr = poutine.trace(guide).get_trace(data)
    assert "AutoDiscrete.encoder$$$linear.weight" in tr.nodes
    idx = tr.nodes["data"]["value"]
    expected = guide.encoder(data.unsqueeze(-1).squeeze(-1))[idx]
    assert torch.allclose(tr.nodes["z"]["fn"].logits, expected - expected.logsumexp(-1, True))
    loss = TraceGraph_ELBO().differentiable_loss(plated_model, guide, data)
    loss.backward()
    assert guide.encoder.linear.weight.grad is not None
    assert bool(guide.encoder.linear.weight.grad.abs().sum() > 0)


def test_discrete_encoder_shape_error_names_the_site():
    guide = AutoDiscrete(plated_model, encoder=lambda data: {"z": torch.zeros(len(data), 5)})
    with pytest.raises(UnsupportedSiteError, match="site 'z'.*must be \\(2,\\)"):
        guide(torch.arange(6.0))


def guide_baseline(guide, *args, k=None):
    if k is None:
        tr = poutine.trace(guide).get_trace(*args)
    else:
        with particles(k):
            tr = poutine.trace(guide).get_trace(*args)
    return tr.nodes["z"]["infer"].get("baseline")


def test_discrete_baseline_follows_the_particle_count():
    data = torch.arange(6.0)
    guide = AutoDiscrete(plated_model)
    assert guide_baseline(guide, data) == {"use_decaying_avg_baseline": True, "baseline_beta": 0.9}
    assert guide_baseline(guide, data, k=1)["use_decaying_avg_baseline"]
    assert guide_baseline(guide, data, k=4) == {"use_leave_one_out": True}
    explicit = AutoDiscrete(plated_model, baseline={"baseline_value": 0.0})
    assert guide_baseline(explicit, data) == {"baseline_value": 0.0}
    assert guide_baseline(AutoDiscrete(plated_model, baseline=None), data) is None


@pytest.mark.parametrize("vectorize", [False, True])
def test_discrete_with_particles_uses_leave_one_out(vectorize):
    data = torch.arange(6.0)
    guide = AutoDiscrete(plated_model)
    elbo = TraceGraph_ELBO(num_particles=3, vectorize_particles=vectorize)
    svi = SVI(plated_model, guide, Adam({"lr": 0.05}), elbo)
    assert torch.isfinite(torch.tensor(svi.step(data)))
    # Leave-one-out keeps no state; a decaying average would.
    assert not any(k.startswith("__baseline") for k in params())
    SVI(plated_model, guide, Adam({"lr": 0.05}), TraceGraph_ELBO()).step(data)
    assert "__baseline_avg_downstream_cost_z" in params()


def exact_elbo(logits_a, logits_b):
    # model: a ~ Bern(0.3), b ~ Bern(sigmoid(2a - 1)), y ~ N(a + 2b, 1) at y = 2.5;
    # guide: a ~ Bern(sigmoid(la)), b ~ Bern(sigmoid(lb)), by enumeration.
    total = torch.zeros(())
    for a, b in itertools.product([0.0, 1.0], repeat=2):
        a_, b_ = torch.tensor(a), torch.tensor(b)
        log_p = (
            dist.Bernoulli(0.3).log_prob(a_)
            + dist.Bernoulli(logits=2 * a_ - 1).log_prob(b_)
            + dist.Normal(a_ + 2 * b_, 1.0).log_prob(torch.tensor(2.5))
        )
        log_q = dist.Bernoulli(logits=logits_a).log_prob(a_) + dist.Bernoulli(
            logits=logits_b
        ).log_prob(b_)
        total = total + log_q.exp() * (log_p - log_q)
    return total


def two_bits():
    a = tracegraph.sample("a", dist.Bernoulli(0.3))
    b = tracegraph.sample("b", dist.Bernoulli(logits=2 * a - 1))
    tracegraph.sample("y", dist.Normal(a + 2 * b, 1.0), obs=torch.tensor(2.5))


@pytest.mark.parametrize("particles_, vectorize", [(1, False), (4, True)])
def test_discrete_gradient_is_unbiased(particles_, vectorize):
    guide = AutoDiscrete(two_bits)
    guide()
    store = tracegraph.get_param_store()
    store["AutoDiscrete.logits.a"] = torch.tensor(0.4)
    store["AutoDiscrete.logits.b"] = torch.tensor(-0.3)
    guide()  # the guide adopts the new values (the very tensors of the store)
    leaves = [store[n].unconstrained() for n in ("AutoDiscrete.logits.a", "AutoDiscrete.logits.b")]
    exact = torch.autograd.grad(-exact_elbo(*leaves), leaves)
    elbo = TraceGraph_ELBO(num_particles=particles_, vectorize_particles=vectorize)
    draws = 500
    grads = torch.stack(
        [
            torch.stack(torch.autograd.grad(elbo.differentiable_loss(two_bits, guide), leaves))
            for _ in range(draws)
        ]
    )
    mean, se = grads.mean(0), grads.std(0) / draws**0.5
    # Each component within 4 standard errors of the exact gradient (the decaying
    # average baseline and leave-one-out never bias it).
    assert bool(((mean - torch.stack(exact)).abs() < 4 * se).all()), (mean, exact, se)


def test_discrete_medians_per_family():
    def model():
        tracegraph.sample("b", dist.Bernoulli(0.5))
        tracegraph.sample("c", dist.Categorical(torch.ones(3)))
        tracegraph.sample("n", dist.Binomial(10, 0.5))
        tracegraph.sample("g", dist.Geometric(0.5))
        tracegraph.sample("p", dist.Poisson(4.0))

    guide = AutoDiscrete(model)
    guide()
    store = tracegraph.get_param_store()
    store["AutoDiscrete.logits.b"] = torch.tensor(1.0)
    store["AutoDiscrete.logits.c"] = torch.tensor([0.0, 2.0, 1.0])
    store["AutoDiscrete.logits.n"] = torch.tensor(0.0)
    median = guide.median()
    assert median["b"].item() == 1.0 and median["c"].item() == 1
    assert median["n"].item() == 5.0
    # Geometric(1/2): P(X <= 0) = 1/2, so the median is 0; Poisson(4): 4.
    assert median["g"].item() == 0.0 and median["p"].item() == 4.0
    assert guide.posterior("c").probs.argmax().item() == 1


def test_auto_mixed_splits_sites_per_support():
    def model(data):
        loc = tracegraph.sample("loc", dist.Normal(0.0, 10.0))
        with tracegraph.plate("data", len(data)):
            z = tracegraph.sample("z", dist.Bernoulli(0.5))
            tracegraph.sample("x", dist.Normal(loc + 3 * z, 1.0), obs=data)

    data = torch.tensor([0.0, 3.0])
    guide = AutoMixed(model)
    svi = SVI(model, guide, Adam({"lr": 0.01}), TraceGraph_ELBO())
    svi.step(data)
    assert [type(p).__name__ for p in guide] == ["AutoNormal", "AutoDiscrete"]
    assert sorted(params()) == [
        "AutoMixed.0.locs.loc",
        "AutoMixed.0.scales.loc",
        "AutoMixed.1.logits.z",
        "__baseline_avg_downstream_cost_z",
    ]
    assert sorted(guide.median(data)) == ["loc", "z"]


def mixture(data):
    locs = tracegraph.sample("locs", dist.Normal(0.0, 10.0).expand([2]).to_event(1))
    with tracegraph.plate("data", len(data)):
        z = tracegraph.sample("z", dist.Categorical(torch.ones(2) / 2))
        loc = torch.where(z == 1, locs[..., 1], locs[..., 0])
        tracegraph.sample("x", dist.Normal(loc, 1.0), obs=data)


def mixture_guide():
    guide = AutoGuideList(mixture)
    guide.append(AutoNormal(poutine.block(mixture, hide=["z"])))
    guide.append(AutoDiscrete(poutine.block(mixture, expose=["z"])))
    return guide


def test_discrete_guide_with_predictive_and_render_model():
    data = torch.tensor([-2.0, 2.0, 2.1])
    guide = mixture_guide()
    Trace_ELBO().loss(mixture, guide, data)
    out = Predictive(mixture, guide=guide, num_samples=5)(data)
    assert out["z"].shape == (5, 3) and out["locs"].shape[0] == 5
    dot = render_model(guide, model_args=(data,))
    assert "z" in dot.source and "locs_unconstrained" in dot.source
    assert "cluster_data" in render_model(mixture, model_args=(data,)).source


VARIANCE_FILE = """
import torch
import tracegraph
import tracegraph.distributions as dist
from tracegraph.infer.autoguide import AutoDiscrete

def model(data):
    with tracegraph.plate("data", len(data)):
        z = tracegraph.sample("z", dist.Bernoulli(0.5))
        tracegraph.sample("x", dist.Normal(4.0 * z - 2.0, 1.0), obs=data)

guide = AutoDiscrete(model)
"""


def test_discrete_guide_with_the_variance_command(tmp_path, capsys):
    path = tmp_path / "m.py"
    path.write_text(VARIANCE_FILE)
    argv = ["variance", f"{path}:model", f"{path}:guide", "--args", "[[-2.0, 2.0]]"]
    assert main([*argv, "--draws", "4", "--warmup", "1"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^TraceGraph_ELBO \+ the guide's baselines +1 ", out, re.MULTILINE)
    assert "AutoDiscrete.logits.z" in out
