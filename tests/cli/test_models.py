"""Tests of tracegraph.cli.models, the demo's sigmoid belief net."""

from __future__ import annotations

import itertools

import torch

import tracegraph
from tracegraph import poutine
from tracegraph.cli import models


def test_log_evidence_matches_the_models_own_trace():
    # Reference: run the model itself once, conditioned on all 2**7 latent
    # configurations at once (a batch dim left of the data plate), and
    # log-sum-exp the log joint of each data point over that dim.
    x = models.make_data(3, seed=5)
    bits = torch.tensor(list(itertools.product((0.0, 1.0), repeat=models.NUM_TOP + models.NUM_MID)))
    configs = bits.unsqueeze(1).expand(-1, 3, -1)  # (128, points, units)
    conditioned = poutine.condition(
        models.model,
        {"z_top": configs[..., : models.NUM_TOP], "z_mid": configs[..., models.NUM_TOP :]},
    )
    trace = poutine.trace(conditioned).get_trace(x)
    trace.compute_log_prob()
    joint = sum(trace.nodes[name]["log_prob"] for name in ("z_top", "z_mid", "x"))
    assert joint.shape == (128, 3)
    assert abs(models.log_evidence(x) - float(torch.logsumexp(joint, 0).sum())) < 1e-4


def test_make_data_is_binary_and_seeded():
    a, b, c = models.make_data(8, seed=3), models.make_data(8, seed=3), models.make_data(8, seed=4)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert set(a.unique().tolist()) <= {0.0, 1.0}


def test_make_data_leaves_global_random_state_alone():
    tracegraph.set_rng_seed(0)
    expected = torch.rand(1)
    tracegraph.set_rng_seed(0)
    models.make_data(4, seed=1)
    assert torch.equal(torch.rand(1), expected)


def test_guide_sites_match_model_latents():
    x = models.make_data(2, seed=0)
    guide_trace = poutine.trace(models.guide).get_trace(x)
    model_trace = poutine.trace(models.model).get_trace(x)
    # As Pyro, the plate's index site "data" is a latent sample site too.
    assert guide_trace.stochastic_nodes == model_trace.stochastic_nodes == [
        "data",
        "z_top",
        "z_mid",
    ]
    assert guide_trace.nonreparam_stochastic_nodes == ["data", "z_top", "z_mid"]
