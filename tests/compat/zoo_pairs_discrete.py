"""Valid pairs with discrete or non-reparameterized latents, and baselines (TraceGraph_ELBO).

Pairs of the model--guide zoo (see ``model_guide_zoo.py``).
"""

from __future__ import annotations

import torch
from model_guide_zoo import (
    DATA,
    Pair,
    _bernoulli_guide,
    _bernoulli_model,
    _normal_model,
    pair,
)

# -- valid, discrete / non-reparameterized


@pair
def bernoulli_latent_score_function(pyro, dist, poutine):
    return Pair(_bernoulli_model(pyro, dist), _bernoulli_guide(pyro, dist))


@pair
def categorical_latent(pyro, dist, poutine):
    def model():
        c = pyro.sample("c", dist.Categorical(torch.ones(3) / 3))
        pyro.sample("x", dist.Normal(c.float(), 1.0), obs=torch.tensor(1.5))

    def guide():
        probs = pyro.param("probs", torch.ones(3) / 3, constraint=dist.constraints.simplex)
        pyro.sample("c", dist.Categorical(probs))

    return Pair(model, guide)


@pair
def one_hot_categorical_latent(pyro, dist, poutine):
    def model():
        c = pyro.sample("c", dist.OneHotCategorical(torch.ones(3) / 3))
        pyro.sample("x", dist.Normal((c * torch.arange(3.0)).sum(), 1.0), obs=torch.tensor(1.0))

    def guide():
        logits = pyro.param("logits", torch.zeros(3))
        pyro.sample("c", dist.OneHotCategorical(logits=logits))

    return Pair(model, guide)


@pair
def poisson_latent(pyro, dist, poutine):
    def model():
        n = pyro.sample("n", dist.Poisson(3.0))
        pyro.sample("x", dist.Normal(n, 1.0), obs=torch.tensor(2.0))

    def guide():
        rate = pyro.param("rate", torch.tensor(2.0), constraint=dist.constraints.positive)
        pyro.sample("n", dist.Poisson(rate))

    return Pair(model, guide)


@pair
def mixture_assignments_in_plate(pyro, dist, poutine):
    def model():
        locs = torch.tensor([-1.0, 1.0])
        with pyro.plate("data", 5):
            k = pyro.sample("k", dist.Categorical(torch.ones(2) / 2))
            pyro.sample("x", dist.Normal(locs[k], 1.0), obs=DATA)

    def guide():
        probs = pyro.param("probs", torch.ones(5, 2) / 2, constraint=dist.constraints.simplex)
        with pyro.plate("data", 5):
            pyro.sample("k", dist.Categorical(probs))

    return Pair(model, guide)


@pair
def nonreparam_normal_via_has_rsample(pyro, dist, poutine):
    def guide():
        loc = pyro.param("loc", torch.tensor(0.0))
        pyro.sample("z", dist.Normal(loc, 1.0).has_rsample_(False))

    return Pair(_normal_model(pyro, dist), guide)


@pair
def discrete_then_continuous_chain(pyro, dist, poutine):
    def model():
        b = pyro.sample("b", dist.Bernoulli(0.5))
        z = pyro.sample("z", dist.Normal(2.0 * b, 1.0))
        pyro.sample("x", dist.Normal(z, 0.5), obs=torch.tensor(1.0))

    def guide():
        b = pyro.sample(
            "b",
            dist.Bernoulli(
                pyro.param("p", torch.tensor(0.5), constraint=dist.constraints.unit_interval)
            ),
        )
        pyro.sample("z", dist.Normal(b + pyro.param("loc", torch.tensor(0.0)), 1.0))

    return Pair(model, guide)


@pair
def sigmoid_belief_two_layers(pyro, dist, poutine):
    def model():
        with pyro.plate("units", 3):
            h = pyro.sample("h", dist.Bernoulli(0.5))
            v = pyro.sample("v", dist.Bernoulli(0.2 + 0.6 * h))
        pyro.sample("y", dist.Normal(v.sum(), 1.0), obs=torch.tensor(2.0))

    def guide():
        ph = pyro.param("ph", torch.full((3,), 0.5), constraint=dist.constraints.unit_interval)
        pv = pyro.param("pv", torch.full((3,), 0.5), constraint=dist.constraints.unit_interval)
        with pyro.plate("units", 3):
            pyro.sample("h", dist.Bernoulli(ph))
            pyro.sample("v", dist.Bernoulli(pv))

    return Pair(model, guide)


# -- baselines


def _baseline_pair(pyro, dist, baseline):
    return Pair(
        _bernoulli_model(pyro, dist), _bernoulli_guide(pyro, dist, infer={"baseline": baseline})
    )


@pair
def baseline_decaying_average(pyro, dist, poutine):
    return _baseline_pair(pyro, dist, {"use_decaying_avg_baseline": True})


@pair
def baseline_decaying_average_beta(pyro, dist, poutine):
    return _baseline_pair(pyro, dist, {"use_decaying_avg_baseline": True, "baseline_beta": 0.5})


@pair
def baseline_user_value(pyro, dist, poutine):
    return _baseline_pair(pyro, dist, {"baseline_value": torch.tensor(1.0)})


class _Baseline(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.reshape(-1, 1)).reshape(x.shape)


@pair
def baseline_nn_module(pyro, dist, poutine):
    net = _Baseline()

    def guide():
        pyro.module("baseline_net", net)
        p = pyro.param("p", torch.tensor(0.5), constraint=dist.constraints.unit_interval)
        pyro.sample(
            "b",
            dist.Bernoulli(p),
            infer={"baseline": {"nn_baseline": net, "nn_baseline_input": torch.tensor(1.0)}},
        )

    return Pair(_bernoulli_model(pyro, dist), guide)


@pair
def baseline_nn_module_with_decaying_average(pyro, dist, poutine):
    net = _Baseline()

    def guide():
        pyro.module("baseline_net", net)
        p = pyro.param("p", torch.tensor(0.5), constraint=dist.constraints.unit_interval)
        baseline = {
            "nn_baseline": net,
            "nn_baseline_input": torch.tensor(1.0),
            "use_decaying_avg_baseline": True,
        }
        pyro.sample("b", dist.Bernoulli(p), infer={"baseline": baseline})

    return Pair(_bernoulli_model(pyro, dist), guide)


@pair
def bad_baseline_nn_without_input(pyro, dist, poutine):
    net = _Baseline()

    def guide():
        pyro.module("baseline_net", net)
        p = pyro.param("p", torch.tensor(0.5), constraint=dist.constraints.unit_interval)
        pyro.sample("b", dist.Bernoulli(p), infer={"baseline": {"nn_baseline": net}})

    return Pair(_bernoulli_model(pyro, dist), guide)


@pair
def bad_baseline_value_and_nn(pyro, dist, poutine):
    net = _Baseline()

    def guide():
        pyro.module("baseline_net", net)
        p = pyro.param("p", torch.tensor(0.5), constraint=dist.constraints.unit_interval)
        baseline = {
            "nn_baseline": net,
            "nn_baseline_input": torch.tensor(1.0),
            "baseline_value": torch.tensor(0.0),
        }
        pyro.sample("b", dist.Bernoulli(p), infer={"baseline": baseline})

    return Pair(_bernoulli_model(pyro, dist), guide)


@pair
def baseline_value_and_decaying_average(pyro, dist, poutine):
    return _baseline_pair(
        pyro, dist, {"baseline_value": torch.tensor(0.0), "use_decaying_avg_baseline": True}
    )


@pair
def bad_baseline_unknown_key(pyro, dist, poutine):
    return _baseline_pair(pyro, dist, {"use_decaying_avg": True})


@pair
def baseline_on_reparameterized_site(pyro, dist, poutine):
    def guide():
        loc = pyro.param("z_loc", torch.tensor(0.0))
        pyro.sample(
            "z", dist.Normal(loc, 1.0), infer={"baseline": {"use_decaying_avg_baseline": True}}
        )

    return Pair(_normal_model(pyro, dist), guide)


@pair
def baseline_in_plate(pyro, dist, poutine):
    def model():
        with pyro.plate("data", 5):
            b = pyro.sample("b", dist.Bernoulli(0.5))
            pyro.sample("x", dist.Normal(b, 1.0), obs=DATA)

    def guide():
        p = pyro.param("p", torch.full((5,), 0.5), constraint=dist.constraints.unit_interval)
        with pyro.plate("data", 5):
            pyro.sample(
                "b", dist.Bernoulli(p), infer={"baseline": {"use_decaying_avg_baseline": True}}
            )

    return Pair(model, guide)
