"""Valid pairs with continuous latents: reparameterized guides, event dims, plates,
params with constraints.

Pairs of the model--guide zoo (see ``model_guide_zoo.py``).
"""

from __future__ import annotations

import torch
from model_guide_zoo import (
    DATA,
    Pair,
    _normal_guide,
    _normal_model,
    pair,
)

# -- valid, continuous


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
