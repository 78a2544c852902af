"""RngState: a saved state restores every global generator exactly (a redone run
must draw the same numbers), including NumPy's, which it reads cheaply while the
generator has not moved."""

from __future__ import annotations

import random

import numpy as np
import torch

from tracegraph.infer.rng import RngState


def draws() -> tuple[torch.Tensor, float, np.ndarray, np.ndarray]:
    return torch.rand(3), random.random(), np.random.rand(2), np.random.normal(size=3)


def assert_same(a, b) -> None:
    assert torch.equal(a[0], b[0]) and a[1] == b[1]
    assert np.array_equal(a[2], b[2]) and np.array_equal(a[3], b[3])


def test_restore_repeats_every_generator():
    state = RngState()
    first = draws()
    state.restore()
    assert_same(first, draws())


def test_restore_after_unmoved_numpy_generator_reuses_the_state():
    np.random.seed(1)
    RngState()  # seen once: later states are read from memory while unmoved
    torch.rand(1)  # other generators move; NumPy's does not
    state = RngState()
    first = draws()
    state.restore()
    assert_same(first, draws())


def test_cached_gaussian_consumed_without_moving_the_twister():
    # Box-Muller draws Gaussians in pairs and caches the second: the next draw
    # takes it without moving the Mersenne Twister.  A state taken in between must
    # still be the true one.
    np.random.seed(2)
    np.random.normal()  # a pair drawn, one cached
    RngState()
    cached = np.random.normal()  # the cached one: the Twister does not move
    state = RngState()
    after = np.random.normal(size=4)
    state.restore()
    assert np.array_equal(after, np.random.normal(size=4))
    assert cached not in after


def test_restore_after_reseeding_to_the_same_seed():
    np.random.seed(3)
    state = RngState()
    first = np.random.rand(5)
    np.random.seed(3)  # the same words again, no cached Gaussian
    again = RngState()
    assert np.array_equal(first, np.random.rand(5))
    state.restore()
    assert np.array_equal(first, np.random.rand(5))
    again.restore()
    assert np.array_equal(first, np.random.rand(5))


def test_python_generator_read_from_memory_matches_getstate():
    import tracegraph.infer.rng as rng_module

    random.seed(4)
    RngState()
    assert rng_module._python_layout_ok  # CPython's layout was recognised
    random.random()  # moved: a fresh state must be taken
    state = RngState()
    assert state.python == random.getstate()


def test_python_cached_gaussian_is_part_of_the_state():
    # random.gauss also draws in pairs and keeps the second in gauss_next, which
    # the next call returns without moving the generator.
    random.seed(5)
    random.gauss(0.0, 1.0)
    RngState()
    random.gauss(0.0, 1.0)  # the cached one: words and index unchanged
    state = RngState()
    after = [random.gauss(0.0, 1.0) for _ in range(3)]
    state.restore()
    assert after == [random.gauss(0.0, 1.0) for _ in range(3)]
