import math

import pytest
import torch

from tracegraph import optim
from tracegraph.optim.adagrad_rmsprop import AdagradRMSProp


def test_adagrad_rmsprop_follows_advi_step_size_sequence():
    # Hand-computed from ADVI's equations 10-11 for three gradients.
    eta, t, delta = 0.5, 0.2, 0.01
    x = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
    optimizer = AdagradRMSProp([x], eta=eta, delta=delta, t=t)
    expected, s = 1.0, None
    for k, g in enumerate([2.0, -1.0, 0.5], start=1):
        x.grad = torch.tensor([g], dtype=torch.float64)
        optimizer.step()
        s = g * g if s is None else t * g * g + (1 - t) * s
        expected -= eta * k ** (-0.5 + delta) / (1 + math.sqrt(s)) * g
        assert x.item() == pytest.approx(expected, rel=1e-12)
    assert optimizer.state[x]["step"] == 3


def test_adagrad_rmsprop_skips_params_without_grad_and_returns_closure_loss():
    x, y = torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)
    optimizer = AdagradRMSProp([x, y])
    x.grad = torch.ones(1)
    assert optimizer.step(lambda: 7.0) == 7.0
    assert y.item() == 0.0 and optimizer.state[y]["step"] == 0


def test_adagrad_rmsprop_share_memory_moves_state():
    x = torch.zeros(2, requires_grad=True)
    optimizer = AdagradRMSProp([x])
    optimizer.share_memory()
    assert optimizer.state[x]["sum"].is_shared()


def test_adagrad_rmsprop_wrapper_makes_one_optimizer_per_param(make_param):
    a, b = make_param("a", torch.zeros(1)), make_param("b", torch.zeros(2))
    a.grad, b.grad = torch.ones(1), torch.ones(2)
    wrapped = optim.AdagradRMSProp({"eta": 0.1})
    wrapped([a, b])
    assert len(wrapped.optim_objs) == 2
    assert all(isinstance(o, AdagradRMSProp) for o in wrapped.optim_objs.values())
    assert a.item() == pytest.approx(-0.05)  # eta / (1 + |g|) * g at step 1
