import warnings

import pytest
import torch

from tracegraph.distributions import constraints
from tracegraph.distributions.transforms import (
    CholeskyTransform,
    CorrLCholeskyTransform,
    CorrMatrixCholeskyTransform,
    UnitLowerCholeskyTransform,
)


def _spd(n):
    torch.manual_seed(0)
    a = torch.randn(n, n, dtype=torch.float64)
    return a @ a.T + n * torch.eye(n, dtype=torch.float64)


def _lower_free(x):
    # The free coordinates of a symmetric matrix: its lower triangle.
    i, j = torch.tril_indices(x.size(-1), x.size(-1))
    return x[..., i, j]


def test_cholesky_jacobian_matches_autograd_on_free_entries():
    p = _spd(3)
    t = CholeskyTransform()
    i, j = torch.tril_indices(3, 3)

    def from_free(v):
        m = torch.zeros(3, 3, dtype=torch.float64)
        m[i, j] = v
        m = m + m.T - torch.diag(m.diagonal())
        return _lower_free(t(m))

    jac = torch.autograd.functional.jacobian(from_free, _lower_free(p))
    expected = torch.linalg.slogdet(jac).logabsdet
    assert torch.allclose(t.log_abs_det_jacobian(p, t(p)), expected)
    assert torch.allclose(t.inv(t(p)), p)


def test_corr_matrix_cholesky_jacobian_matches_autograd_on_free_entries():
    p = _spd(3)
    d = torch.diag(p.diagonal().rsqrt())
    c = d @ p @ d
    t = CorrMatrixCholeskyTransform()
    i, j = torch.tril_indices(3, 3, offset=-1)

    def from_free(v):
        m = torch.eye(3, dtype=torch.float64)
        m = m.index_put((i, j), v).index_put((j, i), v)
        return t(m)[i, j]

    jac = torch.autograd.functional.jacobian(from_free, c[i, j])
    assert torch.allclose(t.log_abs_det_jacobian(c, t(c)), torch.linalg.slogdet(jac).logabsdet)
    assert constraints.corr_cholesky.check(t(c))


def test_unit_lower_cholesky_sets_diagonal_to_one():
    y = UnitLowerCholeskyTransform()(torch.full((3, 3), 2.0))
    assert constraints.unit_lower_cholesky.check(y) and y[2, 0] == 2.0


def test_corr_l_cholesky_is_deprecated_corr_cholesky():
    with pytest.warns(FutureWarning, match="CorrCholeskyTransform"):
        t = CorrLCholeskyTransform()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        assert isinstance(t, torch.distributions.transforms.CorrCholeskyTransform)
