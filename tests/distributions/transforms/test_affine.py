import torch

from tracegraph.distributions.transforms import LowerCholeskyAffine


def test_lower_cholesky_affine_inverse_and_jacobian(numeric_log_abs_det):
    scale_tril = torch.tensor([[2.0, 0.0], [0.5, 3.0]], dtype=torch.float64)
    t = LowerCholeskyAffine(torch.tensor([1.0, -1.0], dtype=torch.float64), scale_tril)
    x = torch.tensor([[0.3, -0.2], [1.0, 2.0]], dtype=torch.float64)
    assert torch.allclose(t.inv(t(x)), x)
    ladj = t.log_abs_det_jacobian(x, t(x))
    assert ladj.shape == (2,) and abs(ladj[0].item() - numeric_log_abs_det(t, x[0])) < 1e-9
