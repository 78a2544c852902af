"""Pairs whose model and guide disagree in shapes or plates, and numerical edge cases.

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

# -- shape mismatches


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


# -- plate mismatches


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


# -- numerics and errors


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
