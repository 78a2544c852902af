import torch
import torch.nn.functional as F

from tracegraph.distributions.transforms import SoftplusLowerCholeskyTransform, SoftplusTransform


def test_softplus_round_trip_stable_for_large_values():
    x = torch.tensor([-30.0, -1.0, 0.0, 2.0, 50.0], dtype=torch.float64)
    t = SoftplusTransform()
    assert torch.allclose(t.inv(t(x)), x)
    # d/dx softplus(x) = sigmoid(x).
    assert torch.allclose(t.log_abs_det_jacobian(x, t(x)), torch.sigmoid(x).log())


def test_softplus_lower_cholesky_keeps_strict_lower_triangle():
    x = torch.tensor([[-1.0, 5.0], [2.0, 0.5]])
    y = SoftplusLowerCholeskyTransform()(x)
    expected = torch.tensor(
        [[F.softplus(torch.tensor(-1.0)).item(), 0.0], [2.0, F.softplus(torch.tensor(0.5)).item()]]
    )
    assert torch.allclose(y, expected)
    assert torch.allclose(SoftplusLowerCholeskyTransform().inv(y), x.tril())
