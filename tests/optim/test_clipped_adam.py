"""Tests of the ClippedAdam optimizer and its Pyro-style wrapper."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from tracegraph import optim
from tracegraph.optim.clipped_adam import ClippedAdam


def _hand_clipped_adam(x, grads, lr, betas, eps, weight_decay, clip_norm, lrd):
    """ClippedAdam written out per element in Python floats (the reference)."""
    x = list(x)
    m = [0.0] * len(x)
    v = [0.0] * len(x)
    for k, g in enumerate(grads, start=1):
        lr *= lrd  # decayed before the update
        for i, gi in enumerate(g):
            gi = min(max(gi, -clip_norm), clip_norm) + weight_decay * x[i]
            m[i] = betas[0] * m[i] + (1 - betas[0]) * gi
            v[i] = betas[1] * v[i] + (1 - betas[1]) * gi * gi
            step_size = lr * math.sqrt(1 - betas[1] ** k) / (1 - betas[0] ** k)
            x[i] -= step_size * m[i] / (math.sqrt(v[i]) + eps)
    return x, lr


def test_clipped_adam_matches_hand_calculation():
    options: dict[str, Any] = {
        "lr": 0.1,
        "betas": (0.9, 0.99),
        "eps": 1e-8,
        "weight_decay": 0.1,
        "clip_norm": 1.0,
        "lrd": 0.5,
    }
    grads = [[3.0, -0.5], [-0.2, 20.0]]  # both steps clip one element
    x = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    optimizer = ClippedAdam([x], **options)
    for g in grads:
        x.grad = torch.tensor(g, dtype=torch.float64)
        optimizer.step()
    want, want_lr = _hand_clipped_adam([1.0, -2.0], grads, **options)
    # float64 throughout; only the order of roundings differs from the reference.
    assert torch.allclose(x.detach(), torch.tensor(want, dtype=torch.float64), rtol=1e-12, atol=0)
    assert optimizer.param_groups[0]["lr"] == want_lr == 0.1 * 0.5**2


def test_clipped_adam_large_gradient_clamped_elementwise():
    # With clip_norm=1 a gradient of 1 and one of 1000 give the same update.
    a = torch.zeros(1, requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    for p, g in ((a, 1.0), (b, 1000.0)):
        optimizer = ClippedAdam([p], lr=0.1, clip_norm=1.0)
        for _ in range(3):
            p.grad = torch.tensor([g])
            optimizer.step()
    assert torch.equal(a, b)
    assert a.item() < 0


def test_clipped_adam_does_not_modify_grad():
    x = torch.zeros(2, requires_grad=True)
    x.grad = torch.tensor([50.0, -50.0])
    ClippedAdam([x], clip_norm=1.0).step()
    assert torch.equal(x.grad, torch.tensor([50.0, -50.0]))


def test_clipped_adam_grad_none_skipped_but_lr_decays():
    x = torch.ones(1, requires_grad=True)
    optimizer = ClippedAdam([x], lr=1.0, lrd=0.5)
    optimizer.step()
    assert x.item() == 1.0
    assert optimizer.param_groups[0]["lr"] == 0.5


def test_clipped_adam_closure_returns_loss():
    x = torch.ones(1, requires_grad=True)
    optimizer = ClippedAdam([x])

    def closure():
        optimizer.zero_grad()
        loss = (x**2).sum()
        loss.backward()
        return loss

    assert optimizer.step(closure).item() == 1.0
    assert x.item() < 1.0


def test_clipped_adam_sparse_grad_raises():
    x = torch.zeros(3, requires_grad=True)
    x.grad = torch.ones(3).to_sparse()
    with pytest.raises(RuntimeError, match="sparse"):
        ClippedAdam([x]).step()


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"eps": "small"}, "eps must be a number"),
        ({"lr": None}, "lr must be a number"),
        ({"betas": 0.9}, r"betas must be two numbers"),
    ],
)
def test_clipped_adam_non_numeric_option_raises(options, match):
    with pytest.raises(ValueError, match=match):
        ClippedAdam([torch.zeros(1, requires_grad=True)], **options)


def test_clipped_adam_negative_lr_ascends_as_in_pyro():
    # Pyro does not range-check its options; a negative lr is gradient ascent.
    x = torch.zeros(1, requires_grad=True)
    x.grad = torch.ones(1)
    ClippedAdam([x], lr=-0.1).step()
    assert x.item() == pytest.approx(0.1, rel=1e-6)


def test_clipped_adam_centered_variance_uses_deviation_from_running_mean():
    # With g constant, g - m shrinks towards 0 after the first steps, so the
    # centered second moment is far smaller and the steps far larger than Adam's.
    x, y = (torch.zeros(1, requires_grad=True) for _ in range(2))
    plain, centered = ClippedAdam([x], lr=0.1), ClippedAdam([y], lr=0.1, centered_variance=True)
    for _ in range(3):
        x.grad, y.grad = torch.ones(1), torch.ones(1)
        plain.step()
        centered.step()
    m = 1 - 0.9**3  # the running mean after three steps of g = 1 (uncorrected)
    v = sum(0.999 ** (3 - k) * 0.001 * (1 - (1 - 0.9**k)) ** 2 for k in (1, 2, 3))
    assert centered.state[y]["exp_avg_sq"].item() == pytest.approx(v, rel=1e-5)
    assert centered.state[y]["exp_avg"].item() == pytest.approx(m, rel=1e-6)
    assert y.item() < x.item()


def test_clipped_adam_wrapper_steps_each_param_with_clipped_adam():
    x = torch.zeros(1, requires_grad=True)
    x.grad = torch.ones(1)
    wrapped = optim.ClippedAdam({"lr": 0.2, "lrd": 0.5})
    wrapped([x])
    assert isinstance(wrapped.optim_objs[x], ClippedAdam)
    assert x.item() == pytest.approx(-0.1, rel=1e-6)  # first Adam step is lr*lrd in size


def test_clipped_adam_wrapper_unknown_option_raises():
    with pytest.raises(optim.OptimizerError, match=r"ClippedAdam options: unknown option 'clip'"):
        optim.ClippedAdam({"clip": 1.0})
