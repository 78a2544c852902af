"""Pairs with vectorized particles, nested plates, subsampling and sequential plates.

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

# -- particles, plate nesting


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


# -- subsampling


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


# -- sequential plates


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
