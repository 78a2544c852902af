import math

import torch

from tracegraph.distributions.transforms import ELUTransform, LeakyReLUTransform, elu, leaky_relu

X = torch.tensor([-2.0, -0.5, 0.0, 0.3, 4.0], dtype=torch.float64)


def test_elu_round_trip_and_elementwise_jacobian():
    t = ELUTransform()
    y = t(X)
    assert torch.allclose(t.inv(y), X)
    # d/dx ELU(x) = exp(x) for x < 0, 1 otherwise.
    expected = torch.where(X < 0, X, torch.zeros_like(X))
    assert torch.allclose(t.log_abs_det_jacobian(X, y), expected)
    assert t.sign == 1 and t == elu() and hash(t) == hash(elu())


def test_leaky_relu_round_trip_and_elementwise_jacobian():
    t = LeakyReLUTransform()
    y = t(X)
    assert torch.allclose(t.inv(y), X)
    expected = torch.where(X < 0, torch.full_like(X, math.log(0.01)), torch.zeros_like(X))
    assert torch.allclose(t.log_abs_det_jacobian(X, y), expected)
    assert t == leaky_relu() and t != ELUTransform()
