import math

import torch

import tracegraph.distributions as dist
from tracegraph.distributions.random_variable import RandomVariable


def test_random_variable_minus_log_of_uniform_is_exponential():
    y = dist.Uniform(0.0, 1.0).rv.log().neg().dist
    x = torch.tensor([0.3, 2.0])
    assert torch.allclose(y.log_prob(x), dist.Exponential(1.0).log_prob(x), atol=1e-6)


def test_random_variable_operators_equal_chained_methods():
    x = dist.Normal(0.0, 1.0).rv
    pairs = [
        (x + 2, x.add(2)),
        (2 + x, x.add(2)),
        (x - 1, x.sub(1)),
        (x * 3, x.mul(3)),
        (x / 4, x.div(4)),
    ]
    value = torch.tensor(0.7)
    for a, b in pairs:
        assert torch.allclose(a.dist.log_prob(value), b.dist.log_prob(value))
    # 1 - X for standard normal X is Normal(1, 1).
    assert torch.allclose((1 - x).dist.log_prob(value), dist.Normal(1.0, 1.0).log_prob(value))


def test_random_variable_transform_and_dist_round_trip():
    base = dist.Normal(0.0, 1.0)
    rv = RandomVariable(base)
    assert rv.dist is base
    y = rv.transform(torch.distributions.transforms.ExpTransform()).dist
    assert torch.allclose(y.log_prob(torch.tensor(1.0)), torch.tensor(-0.5 * math.log(2 * math.pi)))
