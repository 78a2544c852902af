"""Pairs with modules, blocked sites, enumeration marks, and missing or extra sites.

Pairs of the model--guide zoo (see ``model_guide_zoo.py``).
"""

from __future__ import annotations

import torch
from model_guide_zoo import (
    DATA,
    Pair,
    _bernoulli_guide,
    _bernoulli_model,
    _normal_guide,
    _normal_model,
    pair,
)

# -- modules


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


# -- block


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


# -- enumeration with non-enumerating ELBOs


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


# -- missing / extra sites


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


@pair
def bad_discrete_latent_missing_from_guide(pyro, dist, poutine):
    # Pyro warns and draws b from the prior; its TraceGraph_ELBO then fails (a
    # documented difference).
    def model():
        z = pyro.sample("z", dist.Normal(0.0, 1.0))
        b = pyro.sample("b", dist.Bernoulli(0.4))
        pyro.sample("x", dist.Normal(z + b, 1.0), obs=torch.tensor(1.0))

    return Pair(model, _normal_guide(pyro, dist))


# -- factors in guides


@pair
def bad_guide_factor_without_has_rsample(pyro, dist, poutine):
    # Under validation a guide's factor must say whether it is reparameterized.
    def guide():
        z = _normal_guide(pyro, dist)()
        pyro.factor("penalty", -(z**2))

    return Pair(_normal_model(pyro, dist), guide)


@pair
def guide_factor_reparameterized(pyro, dist, poutine):
    def guide():
        z = _normal_guide(pyro, dist)()
        pyro.factor("penalty", -(z**2), has_rsample=True)

    return Pair(_normal_model(pyro, dist), guide)


@pair
def guide_factor_not_reparameterized_in_plate(pyro, dist, poutine):
    def guide(data=DATA):
        z = _normal_guide(pyro, dist)()
        with pyro.plate("data", len(data)):
            pyro.factor("shift", -((data - z) ** 2), has_rsample=False)

    return Pair(_normal_model(pyro, dist), guide)
