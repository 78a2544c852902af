"""A zoo of model--guide pairs, valid and invalid, written once for Pyro and tracegraph.

Every entry is a function ``pair(pyro, dist, poutine) -> Pair`` that builds a model
and a guide against the library passed in, plus the arguments to call them with
and the keyword arguments of the ELBO.  ``test_model_guide_zoo.py`` runs each pair
through two ``SVI.step`` calls with ``Trace_ELBO`` and ``TraceGraph_ELBO`` in both
libraries and checks the outcome is the same: runs (with equal losses), warns
(the same warning categories) or raises (the same exception type).

Names say what a pair exercises; ``bad_`` pairs are ones Pyro refuses or warns
about.  No pair is copied from Pyro's test suite.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch


@dataclasses.dataclass
class Pair:
    model: Callable[..., Any]
    guide: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: keyword arguments of the ELBO (``num_particles``, ``max_plate_nesting``, ...)
    elbo: dict[str, Any] = dataclasses.field(default_factory=dict)


#: name -> pair builder, in definition order (the test ids follow it).
PAIRS: dict[str, Callable[[Any, Any, Any], Pair]] = {}


def pair(fn: Callable[[Any, Any, Any], Pair]) -> Callable[[Any, Any, Any], Pair]:
    """Register ``fn`` in :data:`PAIRS` under its own name."""
    assert fn.__name__ not in PAIRS, fn.__name__
    PAIRS[fn.__name__] = fn
    return fn


DATA = torch.tensor([0.5, -0.3, 1.2, 0.1, -0.8])


def _normal_guide(pyro, dist, name="z", shape=(), event=0):
    constraints = dist.constraints

    def guide(*args, **kwargs):
        loc = pyro.param(f"{name}_loc", torch.zeros(shape))
        scale = pyro.param(f"{name}_scale", torch.ones(shape), constraint=constraints.positive)
        d = dist.Normal(loc, scale)
        return pyro.sample(name, d.to_event(event) if event else d)

    return guide


def _normal_model(pyro, dist):
    def model(data=DATA):
        z = pyro.sample("z", dist.Normal(0.0, 1.0))
        with pyro.plate("data", len(data)):
            pyro.sample("x", dist.Normal(z, 1.0), obs=data)

    return model


def _bernoulli_model(pyro, dist):
    def model():
        b = pyro.sample("b", dist.Bernoulli(0.4))
        pyro.sample("x", dist.Normal(3.0 * b, 1.0), obs=torch.tensor(2.0))

    return model


def _bernoulli_guide(pyro, dist, infer=None):
    def guide():
        p = pyro.param("p", torch.tensor(0.5), constraint=dist.constraints.unit_interval)
        pyro.sample("b", dist.Bernoulli(p), infer=infer or {})

    return guide


# ------------------------------------------------ valid, continuous


@pair
def normal_normal_global(pyro, dist, poutine):
    return Pair(_normal_model(pyro, dist), _normal_guide(pyro, dist))


@pair
def normal_normal_data_as_kwarg(pyro, dist, poutine):
    return Pair(_normal_model(pyro, dist), _normal_guide(pyro, dist), kwargs={"data": DATA[:3]})


@pair
def local_latents_in_plate(pyro, dist, poutine):
    def model(data):
        with pyro.plate("data", len(data)):
            z = pyro.sample("z", dist.Normal(0.0, 1.0))
            pyro.sample("x", dist.Normal(z, 1.0), obs=data)

    def guide(data):
        loc = pyro.param("loc", torch.zeros(len(data)))
        with pyro.plate("data", len(data)):
            pyro.sample("z", dist.Normal(loc, 1.0))

    return Pair(model, guide, (DATA,))


@pair
def nested_plates_local_latents(pyro, dist, poutine):
    def model():
        with pyro.plate("groups", 2, dim=-2):
            mu = pyro.sample("mu", dist.Normal(0.0, 1.0))
            with pyro.plate("items", 3, dim=-1):
                pyro.sample("x", dist.Normal(mu, 1.0), obs=torch.ones(2, 3))

    def guide():
        loc = pyro.param("loc", torch.zeros(2, 1))
        with pyro.plate("groups", 2, dim=-2):
            pyro.sample("mu", dist.Normal(loc, 1.0))

    return Pair(model, guide)


@pair
def event_dim_latent_vector(pyro, dist, poutine):
    def model():
        z = pyro.sample("z", dist.Normal(torch.zeros(3), 1.0).to_event(1))
        pyro.sample("x", dist.Normal(z.sum(), 1.0), obs=torch.tensor(1.0))

    return Pair(model, _normal_guide(pyro, dist, shape=(3,), event=1))


@pair
def multivariate_normal_latent(pyro, dist, poutine):
    def model():
        z = pyro.sample("z", dist.MultivariateNormal(torch.zeros(2), torch.eye(2)))
        pyro.sample("x", dist.Normal(z, 1.0).to_event(1), obs=torch.ones(2))

    def guide():
        loc = pyro.param("loc", torch.zeros(2))
        tril = pyro.param("tril", torch.eye(2), constraint=dist.constraints.lower_cholesky)
        pyro.sample("z", dist.MultivariateNormal(loc, scale_tril=tril))

    return Pair(model, guide)


@pair
def beta_bernoulli_coin(pyro, dist, poutine):
    data = torch.tensor([1.0, 0.0, 1.0, 1.0])

    def model():
        p = pyro.sample("p", dist.Beta(1.0, 1.0))
        with pyro.plate("flips", 4):
            pyro.sample("obs", dist.Bernoulli(p), obs=data)

    def guide():
        a = pyro.param("a", torch.tensor(2.0), constraint=dist.constraints.positive)
        b = pyro.param("b", torch.tensor(2.0), constraint=dist.constraints.positive)
        pyro.sample("p", dist.Beta(a, b))

    return Pair(model, guide)


@pair
def gamma_poisson(pyro, dist, poutine):
    def model():
        rate = pyro.sample("rate", dist.Gamma(2.0, 1.0))
        with pyro.plate("counts", 3):
            pyro.sample("obs", dist.Poisson(rate), obs=torch.tensor([1.0, 3.0, 2.0]))

    def guide():
        c = pyro.param("c", torch.tensor(2.0), constraint=dist.constraints.positive)
        r = pyro.param("r", torch.tensor(1.0), constraint=dist.constraints.positive)
        pyro.sample("rate", dist.Gamma(c, r))

    return Pair(model, guide)


@pair
def dirichlet_categorical(pyro, dist, poutine):
    def model():
        probs = pyro.sample("probs", dist.Dirichlet(torch.ones(3)))
        with pyro.plate("draws", 4):
            pyro.sample("obs", dist.Categorical(probs), obs=torch.tensor([0, 1, 2, 1]))

    def guide():
        conc = pyro.param("conc", torch.ones(3), constraint=dist.constraints.positive)
        pyro.sample("probs", dist.Dirichlet(conc))

    return Pair(model, guide)


@pair
def lognormal_latent_scale(pyro, dist, poutine):
    def model():
        s = pyro.sample("s", dist.LogNormal(0.0, 1.0))
        pyro.sample("x", dist.Normal(0.0, s), obs=torch.tensor(0.3))

    def guide():
        loc = pyro.param("loc", torch.tensor(0.0))
        pyro.sample("s", dist.LogNormal(loc, 0.5))

    return Pair(model, guide)


@pair
def map_guide_with_delta(pyro, dist, poutine):
    def model():
        z = pyro.sample("z", dist.Normal(0.0, 1.0))
        pyro.sample("x", dist.Normal(z, 1.0), obs=torch.tensor(0.7))

    def guide():
        pyro.sample("z", dist.Delta(pyro.param("z_map", torch.tensor(0.1))))

    return Pair(model, guide)


@pair
def delta_guide_with_event_dim(pyro, dist, poutine):
    def model():
        z = pyro.sample("z", dist.Normal(torch.zeros(2), 1.0).to_event(1))
        pyro.sample("x", dist.Normal(z, 1.0).to_event(1), obs=torch.ones(2))

    def guide():
        pyro.sample("z", dist.Delta(pyro.param("z_map", torch.zeros(2)), event_dim=1))

    return Pair(model, guide)


@pair
def simplex_param_in_guide(pyro, dist, poutine):
    def model():
        probs = pyro.sample("probs", dist.Dirichlet(torch.ones(3)))
        pyro.sample("obs", dist.Categorical(probs), obs=torch.tensor(1))

    def guide():
        w = pyro.param("w", torch.ones(3) / 3, constraint=dist.constraints.simplex)
        pyro.sample("probs", dist.Dirichlet(10.0 * w))

    return Pair(model, guide)


@pair
def model_param_only_mle(pyro, dist, poutine):
    def model():
        loc = pyro.param("loc", torch.tensor(0.0))
        with pyro.plate("data", 5):
            pyro.sample("x", dist.Normal(loc, 1.0), obs=DATA)

    def guide():
        pass

    return Pair(model, guide)


@pair
def sites_in_different_order(pyro, dist, poutine):
    def model():
        a = pyro.sample("a", dist.Normal(0.0, 1.0))
        b = pyro.sample("b", dist.Normal(a, 1.0))
        pyro.sample("x", dist.Normal(b, 1.0), obs=torch.tensor(0.0))

    def guide():
        pyro.sample("b", dist.Normal(pyro.param("b_loc", torch.tensor(0.0)), 1.0))
        pyro.sample("a", dist.Normal(pyro.param("a_loc", torch.tensor(0.0)), 1.0))

    return Pair(model, guide)


@pair
def hierarchical_model_guide_dependency(pyro, dist, poutine):
    def model():
        mu = pyro.sample("mu", dist.Normal(0.0, 1.0))
        with pyro.plate("data", 5):
            z = pyro.sample("z", dist.Normal(mu, 1.0))
            pyro.sample("x", dist.Normal(z, 0.5), obs=DATA)

    def guide():
        mu = pyro.sample("mu", dist.Normal(pyro.param("mu_loc", torch.tensor(0.0)), 1.0))
        with pyro.plate("data", 5):
            pyro.sample("z", dist.Normal(mu + pyro.param("z_off", torch.zeros(5)), 1.0))

    return Pair(model, guide)


@pair
def guide_with_deterministic_site(pyro, dist, poutine):
    def model():
        pyro.sample("z", dist.Normal(0.0, 1.0))

    def guide():
        z = pyro.sample("z", dist.Normal(pyro.param("loc", torch.tensor(0.0)), 1.0))
        pyro.deterministic("z2", z * 2)

    return Pair(model, guide)


@pair
def model_with_deterministic_site(pyro, dist, poutine):
    def model():
        z = pyro.sample("z", dist.Normal(0.0, 1.0))
        pyro.deterministic("z_sq", z**2)
        pyro.sample("x", dist.Normal(z, 1.0), obs=torch.tensor(1.0))

    return Pair(model, _normal_guide(pyro, dist))


@pair
def model_with_factor(pyro, dist, poutine):
    def model():
        z = pyro.sample("z", dist.Normal(0.0, 1.0))
        pyro.factor("penalty", -(z**2))

    return Pair(model, _normal_guide(pyro, dist))


@pair
def model_with_factor_in_plate(pyro, dist, poutine):
    def model():
        z = pyro.sample("z", dist.Normal(0.0, 1.0))
        with pyro.plate("data", 5):
            pyro.factor("lik", -((DATA - z) ** 2))

    return Pair(model, _normal_guide(pyro, dist))


@pair
def model_with_obs_mask(pyro, dist, poutine):
    def model():
        z = pyro.sample("z", dist.Normal(0.0, 1.0))
        with pyro.plate("data", 3):
            pyro.sample(
                "x",
                dist.Normal(z, 1.0),
                obs=torch.tensor([1.0, 0.0, 2.0]),
                obs_mask=torch.tensor([True, True, False]),
            )

    def guide():
        _normal_guide(pyro, dist)()
        with pyro.plate("data", 3):
            pyro.sample("x_unobserved", dist.Normal(pyro.param("xu", torch.zeros(3)), 1.0))

    return Pair(model, guide)


@pair
def model_mask_handler(pyro, dist, poutine):
    def model():
        z = pyro.sample("z", dist.Normal(0.0, 1.0))
        with (
            pyro.plate("data", 5),
            poutine.mask(mask=torch.tensor([True, False, True, True, False])),
        ):
            pyro.sample("x", dist.Normal(z, 1.0), obs=DATA)

    return Pair(model, _normal_guide(pyro, dist))


@pair
def model_scale_handler(pyro, dist, poutine):
    def model():
        z = pyro.sample("z", dist.Normal(0.0, 1.0))
        with poutine.scale(scale=10.0), pyro.plate("data", 5):
            pyro.sample("x", dist.Normal(z, 1.0), obs=DATA)

    return Pair(model, _normal_guide(pyro, dist))


@pair
def guide_scale_handler(pyro, dist, poutine):
    return Pair(_normal_model(pyro, dist), poutine.scale(_normal_guide(pyro, dist), scale=0.5))


@pair
def conditioned_model(pyro, dist, poutine):
    def model():
        z = pyro.sample("z", dist.Normal(0.0, 1.0))
        pyro.sample("x", dist.Normal(z, 1.0))

    return Pair(poutine.condition(model, data={"x": torch.tensor(0.4)}), _normal_guide(pyro, dist))


@pair
def bad_model_observed_python_float(pyro, dist, poutine):
    def model():
        z = pyro.sample("z", dist.Normal(0.0, 1.0))
        pyro.sample("x", dist.Normal(z, 1.0), obs=torch.tensor(1.0).item())

    return Pair(model, _normal_guide(pyro, dist))


@pair
def guide_auxiliary_site(pyro, dist, poutine):
    def guide():
        u = pyro.sample("u", dist.Normal(0.0, 1.0), infer={"is_auxiliary": True})
        pyro.sample("z", dist.Normal(u + pyro.param("loc", torch.tensor(0.0)), 1.0))

    return Pair(_normal_model(pyro, dist), guide)


@pair
def guide_returns_value(pyro, dist, poutine):
    def guide():
        z = _normal_guide(pyro, dist)()
        return {"z": z, "note": "anything"}

    return Pair(_normal_model(pyro, dist), guide)


@pair
def expanded_latent_to_event(pyro, dist, poutine):
    def model():
        z = pyro.sample("z", dist.Normal(0.0, 1.0).expand([4]).to_event(1))
        pyro.sample("x", dist.Normal(z.sum(), 1.0), obs=torch.tensor(0.0))

    return Pair(model, _normal_guide(pyro, dist, shape=(4,), event=1))


@pair
def model_and_guide_return_nothing_empty(pyro, dist, poutine):
    def model():
        pass

    def guide():
        pass

    return Pair(model, guide)


@pair
def model_observed_only_empty_guide(pyro, dist, poutine):
    def model():
        pyro.sample("x", dist.Normal(0.0, 1.0), obs=torch.tensor(0.5))

    def guide():
        pass

    return Pair(model, guide)


# ------------------------------------------------ valid, discrete / non-reparameterized


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


# ------------------------------------------------ baselines


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


# ------------------------------------------------ particles, plate nesting


@pair
def num_particles_three(pyro, dist, poutine):
    return Pair(_normal_model(pyro, dist), _normal_guide(pyro, dist), elbo={"num_particles": 3})


@pair
def num_particles_three_discrete(pyro, dist, poutine):
    return Pair(
        _bernoulli_model(pyro, dist), _bernoulli_guide(pyro, dist), elbo={"num_particles": 3}
    )


@pair
def vectorize_particles_with_max_plate_nesting(pyro, dist, poutine):
    return Pair(
        _normal_model(pyro, dist),
        _normal_guide(pyro, dist),
        elbo={"num_particles": 4, "vectorize_particles": True, "max_plate_nesting": 1},
    )


@pair
def vectorize_particles_inferred_nesting(pyro, dist, poutine):
    return Pair(
        _normal_model(pyro, dist),
        _normal_guide(pyro, dist),
        elbo={"num_particles": 4, "vectorize_particles": True},
    )


@pair
def vectorize_particles_discrete(pyro, dist, poutine):
    return Pair(
        _bernoulli_model(pyro, dist),
        _bernoulli_guide(pyro, dist),
        elbo={"num_particles": 3, "vectorize_particles": True, "max_plate_nesting": 0},
    )


@pair
def vectorize_particles_local_latents(pyro, dist, poutine):
    def model():
        with pyro.plate("data", 5):
            z = pyro.sample("z", dist.Normal(0.0, 1.0))
            pyro.sample("x", dist.Normal(z, 1.0), obs=DATA)

    def guide():
        loc = pyro.param("loc", torch.zeros(5))
        with pyro.plate("data", 5):
            pyro.sample("z", dist.Normal(loc, 1.0))

    return Pair(
        model, guide, elbo={"num_particles": 2, "vectorize_particles": True, "max_plate_nesting": 1}
    )


@pair
def bad_vectorize_particles_unbroadcastable_model(pyro, dist, poutine):
    # The model ignores the particle dim: a hand-built tensor of fixed shape.
    def model():
        z = pyro.sample("z", dist.Normal(0.0, 1.0))
        pyro.sample("x", dist.Normal(z.reshape(()), 1.0), obs=torch.tensor(0.0))

    return Pair(
        model, _normal_guide(pyro, dist), elbo={"num_particles": 3, "vectorize_particles": True}
    )


@pair
def max_plate_nesting_two_explicit_dims(pyro, dist, poutine):
    def model():
        with pyro.plate("a", 2, dim=-2), pyro.plate("b", 3, dim=-1):
            z = pyro.sample("z", dist.Normal(0.0, 1.0))
            pyro.sample("x", dist.Normal(z, 1.0), obs=torch.zeros(2, 3))

    def guide():
        loc = pyro.param("loc", torch.zeros(2, 3))
        with pyro.plate("a", 2, dim=-2), pyro.plate("b", 3, dim=-1):
            pyro.sample("z", dist.Normal(loc, 1.0))

    return Pair(model, guide, elbo={"max_plate_nesting": 2})


@pair
def bad_max_plate_nesting_too_small(pyro, dist, poutine):
    def model():
        with pyro.plate("a", 2, dim=-2), pyro.plate("b", 3, dim=-1):
            pyro.sample("x", dist.Normal(0.0, 1.0), obs=torch.zeros(2, 3))

    def guide():
        pass

    return Pair(model, guide, elbo={"max_plate_nesting": 1})


@pair
def bad_max_plate_nesting_too_small_vectorized(pyro, dist, poutine):
    def model():
        z = pyro.sample("z", dist.Normal(0.0, 1.0))
        with pyro.plate("a", 2, dim=-2), pyro.plate("b", 3, dim=-1):
            pyro.sample("x", dist.Normal(z, 1.0), obs=torch.zeros(2, 3))

    return Pair(
        model,
        _normal_guide(pyro, dist),
        elbo={"max_plate_nesting": 1, "num_particles": 2, "vectorize_particles": True},
    )


# ------------------------------------------------ subsampling


@pair
def subsample_in_model_and_guide(pyro, dist, poutine):
    data = torch.arange(10.0)

    def model():
        z = pyro.sample("z", dist.Normal(0.0, 1.0))
        with pyro.plate("data", 10, subsample_size=4) as idx:
            pyro.sample("x", dist.Normal(z, 1.0), obs=data[idx])

    def guide():
        _normal_guide(pyro, dist)()
        with pyro.plate("data", 10, subsample_size=4):
            pass

    return Pair(model, guide)


@pair
def subsample_local_latents_with_event_dim_param(pyro, dist, poutine):
    data = torch.arange(10.0)

    def model():
        with pyro.plate("data", 10, subsample_size=3) as idx:
            z = pyro.sample("z", dist.Normal(0.0, 1.0))
            pyro.sample("x", dist.Normal(z, 1.0), obs=data[idx])

    def guide():
        with pyro.plate("data", 10, subsample_size=3):
            loc = pyro.param("loc", torch.zeros(10), event_dim=0)
            pyro.sample("z", dist.Normal(loc, 1.0))

    return Pair(model, guide)


@pair
def subsample_local_param_indexed_by_hand(pyro, dist, poutine):
    data = torch.arange(10.0)

    def model():
        with pyro.plate("data", 10, subsample_size=3) as idx:
            z = pyro.sample("z", dist.Normal(0.0, 1.0))
            pyro.sample("x", dist.Normal(z, 1.0), obs=data[idx])

    def guide():
        loc = pyro.param("loc", torch.zeros(10))
        with pyro.plate("data", 10, subsample_size=3) as idx:
            pyro.sample("z", dist.Normal(loc[idx], 1.0))

    return Pair(model, guide)


@pair
def subsample_guide_only_model_full_plate(pyro, dist, poutine):
    # The model's plate has no subsample_size: replaying the guide subsamples it.
    data = torch.arange(10.0)

    def model():
        z = pyro.sample("z", dist.Normal(0.0, 1.0))
        with pyro.plate("data", 10) as idx:
            pyro.sample("x", dist.Normal(z, 1.0), obs=data[idx])

    def guide():
        _normal_guide(pyro, dist)()
        with pyro.plate("data", 10, subsample_size=4):
            pass

    return Pair(model, guide)


@pair
def subsample_explicit_indices(pyro, dist, poutine):
    data = torch.arange(10.0)
    idx = torch.tensor([1, 4, 7])

    def model():
        z = pyro.sample("z", dist.Normal(0.0, 1.0))
        with pyro.plate("data", 10, subsample=idx) as i:
            pyro.sample("x", dist.Normal(z, 1.0), obs=data[i])

    def guide():
        _normal_guide(pyro, dist)()
        with pyro.plate("data", 10, subsample=idx):
            pass

    return Pair(model, guide)


@pair
def subsample_primitive_in_model(pyro, dist, poutine):
    data = torch.arange(10.0)

    def model():
        z = pyro.sample("z", dist.Normal(0.0, 1.0))
        with pyro.plate("data", 10, subsample_size=5):
            batch = pyro.subsample(data, event_dim=0)
            pyro.sample("x", dist.Normal(z, 1.0), obs=batch)

    return Pair(model, _normal_guide(pyro, dist))


@pair
def bad_subsample_size_mismatch(pyro, dist, poutine):
    data = torch.arange(10.0)

    def model():
        z = pyro.sample("z", dist.Normal(0.0, 1.0))
        with pyro.plate("data", 10, subsample_size=3) as idx:
            pyro.sample("x", dist.Normal(z, 1.0), obs=data[idx])

    def guide():
        _normal_guide(pyro, dist)()
        with pyro.plate("data", 10, subsample_size=4):
            pass

    return Pair(model, guide)


@pair
def bad_subsample_full_data_observed(pyro, dist, poutine):
    # Observing the full data inside a subsampled plate.
    data = torch.arange(10.0)

    def model():
        z = pyro.sample("z", dist.Normal(0.0, 1.0))
        with pyro.plate("data", 10, subsample_size=3):
            pyro.sample("x", dist.Normal(z, 1.0), obs=data)

    return Pair(model, _normal_guide(pyro, dist))


@pair
def bad_subsample_plate_size_mismatch(pyro, dist, poutine):
    data = torch.arange(10.0)

    def model():
        z = pyro.sample("z", dist.Normal(0.0, 1.0))
        with pyro.plate("data", 10, subsample_size=3) as idx:
            pyro.sample("x", dist.Normal(z, 1.0), obs=data[idx])

    def guide():
        _normal_guide(pyro, dist)()
        with pyro.plate("data", 20, subsample_size=3):
            pass

    return Pair(model, guide)


@pair
def bad_subsample_local_latent_full_param(pyro, dist, poutine):
    # The guide's local latent ignores the subsample: batch 10 in a plate of 3.
    data = torch.arange(10.0)

    def model():
        with pyro.plate("data", 10, subsample_size=3) as idx:
            z = pyro.sample("z", dist.Normal(0.0, 1.0))
            pyro.sample("x", dist.Normal(z, 1.0), obs=data[idx])

    def guide():
        loc = pyro.param("loc", torch.zeros(10))
        with pyro.plate("data", 10, subsample_size=3):
            pyro.sample("z", dist.Normal(loc, 1.0))

    return Pair(model, guide)


@pair
def sequential_plate_subsample(pyro, dist, poutine):
    data = torch.arange(6.0)

    def model():
        z = pyro.sample("z", dist.Normal(0.0, 1.0))
        for i in pyro.plate("data", 6, subsample_size=2):
            pyro.sample(f"x_{int(i)}", dist.Normal(z, 1.0), obs=data[i])

    def guide():
        _normal_guide(pyro, dist)()
        for _ in pyro.plate("data", 6, subsample_size=2):
            pass

    return Pair(model, guide)


# ------------------------------------------------ sequential plates


@pair
def sequential_plates_model_and_guide(pyro, dist, poutine):
    def model():
        for i in pyro.plate("seq", 3):
            z = pyro.sample(f"z_{i}", dist.Normal(0.0, 1.0))
            pyro.sample(f"x_{i}", dist.Normal(z, 1.0), obs=DATA[i])

    def guide():
        for i in pyro.plate("seq", 3):
            pyro.sample(f"z_{i}", dist.Normal(pyro.param(f"loc_{i}", torch.tensor(0.0)), 1.0))

    return Pair(model, guide)


@pair
def sequential_plate_discrete(pyro, dist, poutine):
    def model():
        for i in pyro.plate("seq", 3):
            b = pyro.sample(f"b_{i}", dist.Bernoulli(0.5))
            pyro.sample(f"x_{i}", dist.Normal(b, 1.0), obs=DATA[i])

    def guide():
        for i in pyro.plate("seq", 3):
            p = pyro.param(f"p_{i}", torch.tensor(0.5), constraint=dist.constraints.unit_interval)
            pyro.sample(f"b_{i}", dist.Bernoulli(p))

    return Pair(model, guide)


@pair
def sequential_inside_vectorized(pyro, dist, poutine):
    def model():
        with pyro.plate("outer", 2):
            for i in pyro.plate("inner", 2):
                z = pyro.sample(f"z_{i}", dist.Normal(0.0, 1.0))
                pyro.sample(f"x_{i}", dist.Normal(z, 1.0), obs=torch.zeros(2))

    def guide():
        with pyro.plate("outer", 2):
            for i in pyro.plate("inner", 2):
                pyro.sample(f"z_{i}", dist.Normal(pyro.param(f"loc_{i}", torch.zeros(2)), 1.0))

    return Pair(model, guide)


@pair
def markov_chain_model_and_guide(pyro, dist, poutine):
    def model():
        z = torch.tensor(0.0)
        for t in pyro.markov(range(3)):
            z = pyro.sample(f"z_{t}", dist.Normal(z, 1.0))
            pyro.sample(f"x_{t}", dist.Normal(z, 1.0), obs=DATA[t])

    def guide():
        for t in pyro.markov(range(3)):
            pyro.sample(f"z_{t}", dist.Normal(pyro.param(f"loc_{t}", torch.tensor(0.0)), 1.0))

    return Pair(model, guide)


@pair
def bad_sequential_guide_vectorized_model(pyro, dist, poutine):
    def model():
        with pyro.plate("data", 3):
            pyro.sample("z", dist.Normal(0.0, 1.0))

    def guide():
        for _ in pyro.plate("data", 3):
            pass
        pyro.sample("z", dist.Normal(torch.zeros(3), 1.0).to_event(1))

    return Pair(model, guide)


# ------------------------------------------------ modules


@pair
def amortized_guide_with_module(pyro, dist, poutine):
    encoder = torch.nn.Linear(1, 2)

    def model(data):
        with pyro.plate("data", len(data)):
            z = pyro.sample("z", dist.Normal(0.0, 1.0))
            pyro.sample("x", dist.Normal(z, 1.0), obs=data)

    def guide(data):
        pyro.module("encoder", encoder)
        out = encoder(data.unsqueeze(-1))
        with pyro.plate("data", len(data)):
            pyro.sample("z", dist.Normal(out[:, 0], out[:, 1].exp()))

    return Pair(model, guide, (DATA,))


@pair
def module_in_model_decoder(pyro, dist, poutine):
    decoder = torch.nn.Linear(2, 1)

    def model():
        pyro.module("decoder", decoder)
        z = pyro.sample("z", dist.Normal(torch.zeros(2), 1.0).to_event(1))
        pyro.sample("x", dist.Normal(decoder(z).squeeze(-1), 1.0), obs=torch.tensor(0.5))

    return Pair(model, _normal_guide(pyro, dist, shape=(2,), event=1))


@pair
def module_in_model_and_guide_same_name(pyro, dist, poutine):
    net = torch.nn.Linear(1, 1)

    def model():
        pyro.module("net", net)
        z = pyro.sample("z", dist.Normal(0.0, 1.0))
        pyro.sample("x", dist.Normal(net(z.reshape(1)).squeeze(), 1.0), obs=torch.tensor(0.0))

    def guide():
        pyro.module("net", net)
        pyro.sample("z", dist.Normal(net(torch.ones(1)).squeeze(), 1.0))

    return Pair(model, guide)


@pair
def module_update_module_params(pyro, dist, poutine):
    net = torch.nn.Linear(1, 1)

    def guide():
        pyro.module("net", net, update_module_params=True)
        pyro.sample("z", dist.Normal(net(torch.ones(1)).squeeze(), 1.0))

    return Pair(_normal_model(pyro, dist), guide)


# ------------------------------------------------ block


@pair
def blocked_site_in_guide(pyro, dist, poutine):
    def guide():
        with poutine.block(hide=["z"]):
            _normal_guide(pyro, dist)()

    return Pair(_normal_model(pyro, dist), guide)


@pair
def blocked_param_in_guide(pyro, dist, poutine):
    def guide():
        with poutine.block(hide_types=["param"]):
            loc = pyro.param("loc", torch.tensor(0.0))
        pyro.sample("z", dist.Normal(loc, 1.0))

    return Pair(_normal_model(pyro, dist), guide)


@pair
def blocked_auxiliary_in_guide(pyro, dist, poutine):
    def guide():
        with poutine.block():
            u = pyro.sample("u", dist.Normal(0.0, 1.0))
        pyro.sample("z", dist.Normal(u + pyro.param("loc", torch.tensor(0.0)), 1.0))

    return Pair(_normal_model(pyro, dist), guide)


@pair
def blocked_latent_in_model(pyro, dist, poutine):
    def model():
        with poutine.block(hide=["w"]):
            w = pyro.sample("w", dist.Normal(0.0, 1.0))
        z = pyro.sample("z", dist.Normal(w, 1.0))
        pyro.sample("x", dist.Normal(z, 1.0), obs=torch.tensor(0.2))

    return Pair(model, _normal_guide(pyro, dist))


@pair
def blocked_observation_in_model(pyro, dist, poutine):
    def model():
        z = pyro.sample("z", dist.Normal(0.0, 1.0))
        with poutine.block():
            pyro.sample("x", dist.Normal(z, 1.0), obs=torch.tensor(0.2))

    return Pair(model, _normal_guide(pyro, dist))


# ------------------------------------------------ enumeration with non-enumerating ELBOs


@pair
def bad_enumerate_parallel_in_guide(pyro, dist, poutine):
    return Pair(
        _bernoulli_model(pyro, dist), _bernoulli_guide(pyro, dist, infer={"enumerate": "parallel"})
    )


@pair
def bad_enumerate_sequential_in_guide(pyro, dist, poutine):
    return Pair(
        _bernoulli_model(pyro, dist),
        _bernoulli_guide(pyro, dist, infer={"enumerate": "sequential"}),
    )


@pair
def bad_enumerate_parallel_with_max_plate_nesting(pyro, dist, poutine):
    return Pair(
        _bernoulli_model(pyro, dist),
        _bernoulli_guide(pyro, dist, infer={"enumerate": "parallel"}),
        elbo={"max_plate_nesting": 1},
    )


@pair
def enumerate_without_strict_warning(pyro, dist, poutine):
    return Pair(
        _bernoulli_model(pyro, dist),
        _bernoulli_guide(pyro, dist, infer={"enumerate": "parallel"}),
        elbo={"strict_enumeration_warning": False},
    )


@pair
def bad_enumerate_in_model_only(pyro, dist, poutine):
    def model():
        b = pyro.sample("b", dist.Bernoulli(0.4), infer={"enumerate": "parallel"})
        pyro.sample("x", dist.Normal(3.0 * b, 1.0), obs=torch.tensor(2.0))

    def guide():
        pass

    return Pair(model, guide)


@pair
def enumerate_false_in_guide(pyro, dist, poutine):
    return Pair(
        _bernoulli_model(pyro, dist), _bernoulli_guide(pyro, dist, infer={"enumerate": None})
    )


# ------------------------------------------------ missing / extra sites


@pair
def bad_latent_missing_from_guide(pyro, dist, poutine):
    def model():
        z = pyro.sample("z", dist.Normal(0.0, 1.0))
        w = pyro.sample("w", dist.Normal(0.0, 1.0))
        pyro.sample("x", dist.Normal(z + w, 1.0), obs=torch.tensor(0.0))

    return Pair(model, _normal_guide(pyro, dist))


@pair
def bad_empty_guide_with_latent(pyro, dist, poutine):
    def guide():
        pass

    return Pair(_normal_model(pyro, dist), guide)


@pair
def bad_extra_site_in_guide(pyro, dist, poutine):
    def guide():
        _normal_guide(pyro, dist)()
        pyro.sample("extra", dist.Normal(0.0, 1.0))

    return Pair(_normal_model(pyro, dist), guide)


@pair
def bad_site_name_typo(pyro, dist, poutine):
    return Pair(_normal_model(pyro, dist), _normal_guide(pyro, dist, name="zz"))


@pair
def bad_guide_samples_model_observation(pyro, dist, poutine):
    def guide():
        _normal_guide(pyro, dist)()
        with pyro.plate("data", 5):
            pyro.sample("x", dist.Normal(0.0, 1.0))

    return Pair(_normal_model(pyro, dist), guide)


@pair
def bad_obs_in_guide(pyro, dist, poutine):
    def guide():
        loc = pyro.param("loc", torch.tensor(0.0))
        pyro.sample("z", dist.Normal(loc, 1.0), obs=torch.tensor(0.3))

    return Pair(_normal_model(pyro, dist), guide)


@pair
def bad_obs_in_guide_extra_site(pyro, dist, poutine):
    def guide():
        _normal_guide(pyro, dist)()
        pyro.sample("y", dist.Normal(0.0, 1.0), obs=torch.tensor(0.3))

    return Pair(_normal_model(pyro, dist), guide)


@pair
def bad_model_latent_blocked_in_guide_only(pyro, dist, poutine):
    # The guide hides its z from the ELBO: the model then samples z from the prior.
    def guide():
        with poutine.block():
            _normal_guide(pyro, dist)()

    return Pair(_normal_model(pyro, dist), guide)


@pair
def bad_duplicate_site_in_guide(pyro, dist, poutine):
    def guide():
        _normal_guide(pyro, dist)()
        pyro.sample("z", dist.Normal(0.0, 1.0))

    return Pair(_normal_model(pyro, dist), guide)


@pair
def bad_duplicate_site_in_model(pyro, dist, poutine):
    def model():
        pyro.sample("z", dist.Normal(0.0, 1.0))
        pyro.sample("z", dist.Normal(0.0, 1.0))

    return Pair(model, _normal_guide(pyro, dist))


# ------------------------------------------------ shape mismatches


@pair
def bad_shape_mismatch_guide_larger(pyro, dist, poutine):
    def model():
        pyro.sample("z", dist.Normal(torch.zeros(2), 1.0).to_event(1))

    return Pair(model, _normal_guide(pyro, dist, shape=(3,), event=1))


@pair
def bad_shape_mismatch_batch(pyro, dist, poutine):
    def model():
        with pyro.plate("p", 3):
            pyro.sample("z", dist.Normal(0.0, 1.0))

    def guide():
        with pyro.plate("p", 3):
            pyro.sample("z", dist.Normal(torch.zeros(4), 1.0))

    return Pair(model, guide)


@pair
def bad_event_dim_model_event_guide_batch(pyro, dist, poutine):
    def model():
        z = pyro.sample("z", dist.Normal(torch.zeros(3), 1.0).to_event(1))
        pyro.sample("x", dist.Normal(z.sum(), 1.0), obs=torch.tensor(0.0))

    return Pair(model, _normal_guide(pyro, dist, shape=(3,), event=0))


@pair
def bad_event_dim_model_batch_guide_event(pyro, dist, poutine):
    def model():
        z = pyro.sample("z", dist.Normal(torch.zeros(3), 1.0))
        pyro.sample("x", dist.Normal(z.sum(), 1.0), obs=torch.tensor(0.0))

    return Pair(model, _normal_guide(pyro, dist, shape=(3,), event=1))


@pair
def batch_shape_outside_plate_zero_nesting(pyro, dist, poutine):
    # Batched sites without a plate pass when max_plate_nesting=0 is given...
    def model():
        pyro.sample("z", dist.Normal(torch.zeros(3), 1.0))

    return Pair(model, _normal_guide(pyro, dist, shape=(3,)), elbo={"max_plate_nesting": 0})


@pair
def bad_batch_shape_outside_plate_unknown_nesting(pyro, dist, poutine):
    # ...but not when the ELBO guesses max_plate_nesting from the model.
    def model():
        pyro.sample("z", dist.Normal(torch.zeros(3), 1.0))

    return Pair(model, _normal_guide(pyro, dist, shape=(3,)))


@pair
def bad_support_mismatch_negative_sample(pyro, dist, poutine):
    def model():
        pyro.sample("s", dist.Exponential(1.0))

    def guide():
        pyro.sample("s", dist.Normal(pyro.param("loc", torch.tensor(-5.0)), 0.1))

    return Pair(model, guide)


@pair
def support_mismatch_discrete_guide_for_continuous(pyro, dist, poutine):
    def model():
        z = pyro.sample("z", dist.Normal(0.0, 1.0))
        pyro.sample("x", dist.Normal(z, 1.0), obs=torch.tensor(0.0))

    def guide():
        p = pyro.param("p", torch.tensor(0.5), constraint=dist.constraints.unit_interval)
        pyro.sample("z", dist.Bernoulli(p))

    return Pair(model, guide)


@pair
def bad_observation_shape_mismatch(pyro, dist, poutine):
    def model():
        z = pyro.sample("z", dist.Normal(0.0, 1.0))
        with pyro.plate("data", 3):
            pyro.sample("x", dist.Normal(z, 1.0), obs=torch.zeros(5))

    return Pair(model, _normal_guide(pyro, dist))


@pair
def bad_observation_outside_support(pyro, dist, poutine):
    def model():
        z = pyro.sample("z", dist.Normal(0.0, 1.0))
        pyro.sample("x", dist.Bernoulli(logits=z), obs=torch.tensor(0.5))

    return Pair(model, _normal_guide(pyro, dist))


# ------------------------------------------------ plate mismatches


@pair
def bad_guide_plate_missing_in_model(pyro, dist, poutine):
    def model():
        pyro.sample("z", dist.Normal(0.0, 1.0))

    def guide():
        with pyro.plate("p", 3):
            pyro.sample("z", dist.Normal(0.0, 1.0))

    return Pair(model, guide)


@pair
def bad_model_plate_missing_in_guide(pyro, dist, poutine):
    def model():
        with pyro.plate("p", 3):
            pyro.sample("z", dist.Normal(0.0, 1.0))

    def guide():
        pyro.sample("z", dist.Normal(torch.zeros(3), 1.0))

    return Pair(model, guide)


@pair
def bad_model_plate_missing_in_guide_scalar(pyro, dist, poutine):
    def model():
        with pyro.plate("p", 3):
            pyro.sample("z", dist.Normal(0.0, 1.0))

    def guide():
        pyro.sample("z", dist.Normal(0.0, 1.0))

    return Pair(model, guide)


@pair
def plate_size_mismatch_pyro_accepts(pyro, dist, poutine):
    def model():
        with pyro.plate("p", 3):
            pyro.sample("z", dist.Normal(0.0, 1.0))

    def guide():
        with pyro.plate("p", 4):
            pyro.sample("z", dist.Normal(0.0, 1.0))

    return Pair(model, guide)


@pair
def bad_plate_dim_mismatch(pyro, dist, poutine):
    def model():
        with pyro.plate("p", 3, dim=-1):
            pyro.sample("z", dist.Normal(0.0, 1.0))

    def guide():
        with pyro.plate("p", 3, dim=-2):
            pyro.sample("z", dist.Normal(0.0, 1.0))

    return Pair(model, guide)


@pair
def plate_name_differs_same_shape(pyro, dist, poutine):
    def model():
        with pyro.plate("p", 3):
            pyro.sample("z", dist.Normal(0.0, 1.0))

    def guide():
        with pyro.plate("q", 3):
            pyro.sample("z", dist.Normal(pyro.param("loc", torch.zeros(3)), 1.0))

    return Pair(model, guide)


@pair
def bad_plate_dim_collision_in_guide(pyro, dist, poutine):
    def model():
        pass

    def guide():
        with pyro.plate("a", 2, dim=-1), pyro.plate("b", 2, dim=-1):
            pyro.sample("z", dist.Normal(0.0, 1.0))

    return Pair(model, guide)


@pair
def bad_plate_broadcast_error_in_model(pyro, dist, poutine):
    def model():
        with pyro.plate("p", 3):
            pyro.sample("x", dist.Normal(torch.zeros(2), 1.0), obs=torch.zeros(3))

    def guide():
        pass

    return Pair(model, guide)


# ------------------------------------------------ numerics and errors


@pair
def bad_nan_loss(pyro, dist, poutine):
    def model():
        z = pyro.sample("z", dist.Normal(0.0, 1.0))
        pyro.sample("x", dist.Normal(z, 1.0), obs=torch.tensor(float("nan")))

    return Pair(model, _normal_guide(pyro, dist))


@pair
def nan_factor_loss(pyro, dist, poutine):
    def model():
        z = pyro.sample("z", dist.Normal(0.0, 1.0))
        pyro.factor("nan", torch.tensor(float("nan")) + 0 * z)

    return Pair(model, _normal_guide(pyro, dist))


@pair
def infinite_loss(pyro, dist, poutine):
    def model():
        z = pyro.sample("z", dist.Normal(0.0, 1.0))
        pyro.factor("inf", torch.tensor(float("-inf")) + 0 * z)

    return Pair(model, _normal_guide(pyro, dist))


@pair
def bad_model_raises(pyro, dist, poutine):
    def model():
        pyro.sample("z", dist.Normal(0.0, 1.0))
        raise KeyError("model failure")

    return Pair(model, _normal_guide(pyro, dist))


@pair
def bad_guide_raises(pyro, dist, poutine):
    def guide():
        raise ZeroDivisionError("guide failure")

    return Pair(_normal_model(pyro, dist), guide)


@pair
def lenient_sample_name_not_str(pyro, dist, poutine):
    def model():
        pyro.sample(1, dist.Normal(0.0, 1.0))

    def guide():
        pyro.sample(1, dist.Normal(pyro.param("loc", torch.tensor(0.0)), 1.0))

    return Pair(model, guide)


@pair
def guide_without_params(pyro, dist, poutine):
    # Nothing to optimise: Pyro's optimizer wrapper has no parameters at all.
    def model():
        z = pyro.sample("z", dist.Normal(0.0, 1.0))
        pyro.sample("x", dist.Normal(z, 1.0), obs=torch.tensor(0.0))

    def guide():
        pyro.sample("z", dist.Normal(0.0, 1.0))

    return Pair(model, guide)


@pair
def lenient_simplex_param_unnormalised_init(pyro, dist, poutine):
    def model():
        probs = pyro.sample("probs", dist.Dirichlet(torch.ones(3)))
        pyro.sample("obs", dist.Categorical(probs), obs=torch.tensor(1))

    def guide():
        w = pyro.param("w", torch.tensor([1.0, 2.0, 3.0]), constraint=dist.constraints.simplex)
        pyro.sample("probs", dist.Dirichlet(10.0 * w))

    return Pair(model, guide)


@pair
def lenient_distribution_mask_float_tensor(pyro, dist, poutine):
    def model():
        z_pres = pyro.sample("z_pres", dist.Bernoulli(torch.full((3,), 0.5)).to_event(1))
        pyro.sample("z", dist.Normal(torch.zeros(3), 1.0).mask(z_pres).to_event(1))

    def guide():
        p = pyro.param("p", torch.full((3,), 0.5), constraint=dist.constraints.unit_interval)
        z_pres = pyro.sample("z_pres", dist.Bernoulli(p).to_event(1))
        loc = pyro.param("loc", torch.zeros(3))
        pyro.sample("z", dist.Normal(loc, 1.0).mask(z_pres).to_event(1))

    return Pair(model, guide)


@pair
def model_args_and_kwargs_forwarded(pyro, dist, poutine):
    def model(data, *, shift):
        z = pyro.sample("z", dist.Normal(shift, 1.0))
        with pyro.plate("data", len(data)):
            pyro.sample("x", dist.Normal(z, 1.0), obs=data)

    def guide(data, *, shift):
        loc = pyro.param("loc", torch.tensor(0.0))
        pyro.sample("z", dist.Normal(loc + shift, 1.0))

    return Pair(model, guide, (DATA,), {"shift": 1.0})


@pair
def bad_guide_signature_mismatch(pyro, dist, poutine):
    def model(data):
        pyro.sample("z", dist.Normal(0.0, 1.0))

    def guide():
        pass

    return Pair(model, guide, (DATA,))


@pair
def model_mask_false_latent(pyro, dist, poutine):
    def model():
        with poutine.mask(mask=False):
            z = pyro.sample("z", dist.Normal(0.0, 1.0))
        pyro.sample("x", dist.Normal(z, 1.0), obs=torch.tensor(0.0))

    return Pair(model, _normal_guide(pyro, dist))


@pair
def guide_distribution_masked(pyro, dist, poutine):
    def model():
        with pyro.plate("p", 3):
            pyro.sample("z", dist.Normal(0.0, 1.0))

    def guide():
        with pyro.plate("p", 3):
            d = dist.Normal(pyro.param("loc", torch.zeros(3)), 1.0)
            pyro.sample("z", d.mask(torch.tensor([True, False, True])))

    return Pair(model, guide)


@pair
def guide_param_event_dim_outside_plate(pyro, dist, poutine):
    def guide():
        loc = pyro.param("loc", torch.zeros(3), event_dim=1)
        pyro.sample("z", dist.Normal(loc, 1.0).to_event(1))

    def model():
        pyro.sample("z", dist.Normal(torch.zeros(3), 1.0).to_event(1))

    return Pair(model, guide)


@pair
def infer_config_in_guide(pyro, dist, poutine):
    def config(msg):
        return {"baseline": {"use_decaying_avg_baseline": True}} if msg["type"] == "sample" else {}

    return Pair(
        _bernoulli_model(pyro, dist),
        poutine.infer_config(_bernoulli_guide(pyro, dist), config_fn=config),
    )


@pair
def lifted_model_param(pyro, dist, poutine):
    def model():
        loc = pyro.param("z", torch.tensor(0.0))
        pyro.sample("x", dist.Normal(loc, 1.0), obs=torch.tensor(0.5))

    lifted = poutine.lift(model, prior={"z": dist.Normal(0.0, 1.0)})
    return Pair(lifted, _normal_guide(pyro, dist))


@pair
def uncondition_model(pyro, dist, poutine):
    def model():
        z = pyro.sample("z", dist.Normal(0.0, 1.0))
        pyro.sample("x", dist.Normal(z, 1.0), obs=torch.tensor(0.5))

    def guide():
        _normal_guide(pyro, dist)()
        pyro.sample("x", dist.Normal(pyro.param("x_loc", torch.tensor(0.0)), 1.0))

    return Pair(poutine.uncondition(model), guide)


@pair
def do_model_intervention(pyro, dist, poutine):
    def model():
        z = pyro.sample("z", dist.Normal(0.0, 1.0))
        w = pyro.sample("w", dist.Normal(z, 1.0))
        pyro.sample("x", dist.Normal(w, 1.0), obs=torch.tensor(0.5))

    return Pair(poutine.do(model, data={"w": torch.tensor(1.0)}), _normal_guide(pyro, dist))


@pair
def seeded_guide(pyro, dist, poutine):
    return Pair(_normal_model(pyro, dist), poutine.seed(_normal_guide(pyro, dist), rng_seed=11))


@pair
def bad_substitute_param_plain_tensor(pyro, dist, poutine):
    guide = poutine.substitute(_normal_guide(pyro, dist), data={"z_loc": torch.tensor(0.3)})
    return Pair(_normal_model(pyro, dist), guide)
