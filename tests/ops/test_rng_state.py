"""RngState: a snapshot through the generators' official APIs restores torch's
generator always and Python's and NumPy's when asked (``host=True``), so a run
done again draws the same numbers; the structure cache of JitTraceGraph_ELBO
uses it and checks that the second run drew what the first did."""

from __future__ import annotations

import random
import warnings
from collections.abc import Iterator

import numpy as np
import pytest
import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph.errors import TracegraphWarning
from tracegraph.infer import JitTraceGraph_ELBO
from tracegraph.ops.rng import RngState, host_state


def draws() -> tuple[torch.Tensor, float, np.ndarray, np.ndarray]:
    return torch.rand(3), random.random(), np.random.rand(2), np.random.normal(size=3)


def assert_same(a, b) -> None:
    assert torch.equal(a[0], b[0]) and a[1] == b[1]
    assert np.array_equal(a[2], b[2]) and np.array_equal(a[3], b[3])


@pytest.fixture
def _numpy_restored() -> Iterator[None]:
    bit_generator = np.random.get_bit_generator()  # type: ignore[attr-defined]
    state = bit_generator.state
    yield
    np.random.set_bit_generator(bit_generator)  # type: ignore[attr-defined]
    bit_generator.state = state


def test_rng_state_host_restores_every_generator():
    state = RngState(host=True)
    first = draws()
    state.restore()
    assert_same(first, draws())


def test_rng_state_without_host_restores_torch_only():
    state = RngState()
    t, py = torch.rand(3), random.random()
    state.restore()
    assert torch.equal(torch.rand(3), t)
    assert random.random() != py  # Python's generator moved on


def test_rng_state_host_keeps_cached_gaussians():
    # Both legacy samplers cache the second normal of a pair: a draw may consume
    # it without moving the Twister, and the official states include it.
    np.random.normal()
    random.gauss(0.0, 1.0)
    state = RngState(host=True)
    first = (np.random.normal(), random.gauss(0.0, 1.0))
    state.restore()
    assert (np.random.normal(), random.gauss(0.0, 1.0)) == first


@pytest.mark.usefixtures("_numpy_restored")
def test_rng_state_host_with_non_mersenne_numpy_generator_restores_draws():
    np.random.set_bit_generator(np.random.PCG64(0))  # type: ignore[attr-defined]
    with warnings.catch_warnings():
        # NumPy warns that a legacy state tuple cannot describe a PCG64 engine.
        warnings.simplefilter("ignore", RuntimeWarning)
        state = RngState(host=True)
        first = np.random.rand(3)
        state.restore()
        assert np.array_equal(np.random.rand(3), first)


def test_host_state_equal_until_a_generator_moves():
    before = host_state()
    assert host_state() == before
    torch.rand(1)  # torch's generator is not a host generator
    assert host_state() == before
    np.random.rand()
    assert host_state() != before


# -- the structure cache's second run ------------------------------------------------


def _branchy_model() -> None:
    z = tracegraph.sample("z", dist.Bernoulli(0.5))
    if z.item() == 1.0:
        tracegraph.sample("w", dist.Bernoulli(0.3))


def _branchy_guide(noise: bool = False) -> None:
    p = tracegraph.param("p", torch.tensor(0.5), constraint=dist.constraints.unit_interval)
    if noise:
        # Randomness outside torch, read before the first site.
        p = p * 0.9 + 0.1 * float(np.random.rand())
    z = tracegraph.sample("z", dist.Bernoulli(p))
    if z.item() == 1.0:
        tracegraph.sample("w", dist.Bernoulli(0.3))


def test_jit_second_run_saves_host_generators_once_seen_moving():
    elbo = JitTraceGraph_ELBO()

    def guide() -> None:
        _branchy_guide(noise=True)

    with warnings.catch_warnings():
        warnings.simplefilter("error", TracegraphWarning)
        for seed in range(12):  # both branches: new keys after the first step
            tracegraph.set_rng_seed(seed)
            elbo.loss(_branchy_model, guide)
    # The first (tracked) run saw NumPy's generator move: every later untracked
    # run saved it, so each second run drew what its first did (no warning).
    assert elbo._host_generators


def test_jit_second_run_that_draws_differently_warns_naming_site():
    # The guide reads state that changes between runs (a call counter): the second
    # run of a new key cannot draw what the first did, and the user is told.
    elbo = JitTraceGraph_ELBO()
    calls = [0]

    def guide() -> None:
        calls[0] += 1
        p = torch.tensor(0.01 if calls[0] % 2 else 0.99)
        z = tracegraph.sample("z", dist.Bernoulli(p))
        if z.item() == 1.0:
            tracegraph.sample("w", dist.Bernoulli(0.3))

    tracegraph.set_rng_seed(0)
    elbo.loss(_branchy_model, guide)  # tracked at once: z = 0 (p = 0.01)
    with pytest.warns(TracegraphWarning, match="another value at site 'z'"):
        elbo.loss(_branchy_model, guide)  # z = 1: a new key; run again, p = 0.01
    assert elbo._host_generators
