import pytest
import torch

from tracegraph.distributions.transforms import PositivePowerTransform


def test_positive_power_is_odd_and_round_trips():
    t = PositivePowerTransform(torch.tensor(2.5))
    x = torch.tensor([-2.0, -0.3, 0.5, 3.0], dtype=torch.float64)
    y = t(x)
    assert torch.allclose(t(-x), -y) and torch.allclose(t.inv(y), x)
    # d/dx sign(x)|x|^a = a |x|^(a - 1).
    expected = torch.log(2.5 * x.abs() ** 1.5)
    assert torch.allclose(t.log_abs_det_jacobian(x, y), expected)


def test_positive_power_non_positive_exponent_raises_when_validating():
    with pytest.raises(ValueError, match="Expected exponent > 0"):
        PositivePowerTransform(torch.tensor(-1.0))
    PositivePowerTransform(torch.tensor(-1.0), validate_args=False)  # as Pyro: unchecked


def test_positive_power_shapes_broadcast_with_exponent():
    t = PositivePowerTransform(torch.tensor([1.0, 2.0]))
    assert t.forward_shape((3, 1)) == (3, 2) and t == PositivePowerTransform(
        torch.tensor([1.0, 2.0])
    )
    assert t.with_cache(1)._cache_size == 1
