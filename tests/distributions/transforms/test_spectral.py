import math

import pytest
import torch

from tracegraph.distributions.transforms import DiscreteCosineTransform, HaarTransform
from tracegraph.distributions.transforms.spectral import dct, haar_transform, idct


def _dct_matrix(n):
    # The orthonormal DCT-II written out (the scipy norm="ortho" definition).
    k = torch.arange(n, dtype=torch.float64).unsqueeze(-1)
    i = torch.arange(n, dtype=torch.float64)
    m = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2 / n)
    m[0] /= math.sqrt(2)
    return m


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7, 8])
def test_dct_equals_the_matrix_definition_and_idct_inverts_it(n):
    x = torch.randn(3, n, dtype=torch.float64)
    assert torch.allclose(dct(x), x @ _dct_matrix(n).T)
    assert torch.allclose(idct(dct(x)), x)


def test_haar_is_orthonormal_for_any_length():
    for n in (1, 2, 3, 5, 6, 8):
        eye = torch.eye(n, dtype=torch.float64)
        h = haar_transform(eye)  # rows: transforms of basis vectors
        assert torch.allclose(h @ h.T, eye)


def test_dct_transform_smoothing_weights_have_unit_geometric_mean():
    t = DiscreteCosineTransform(smooth=1.0)
    x = torch.randn(6, dtype=torch.float64)
    ratio = t(x) / dct(x)
    assert torch.allclose(ratio.log().mean(), torch.tensor(0.0, dtype=torch.float64))
    assert torch.allclose(ratio[1] / ratio[0], torch.tensor(3.0, dtype=torch.float64))
    assert torch.allclose(t.inv(t(x)), x) and t.log_abs_det_jacobian(x, t(x)).shape == ()


def test_spectral_transforms_along_inner_dim():
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    t = DiscreteCosineTransform(dim=-2)
    assert torch.allclose(t(x), dct(x.transpose(-1, -2)).transpose(-1, -2))
    assert t.event_dim == 2 and t.log_abs_det_jacobian(x, t(x)).shape == (2,)
    h = HaarTransform(dim=-2, flip=True)
    assert torch.allclose(h.inv(h(x)), x)
    assert h == HaarTransform(dim=-2, flip=True) and h != HaarTransform(dim=-2)


def test_spectral_transforms_refuse_non_negative_dim():
    with pytest.raises(AssertionError, match="negative"):
        DiscreteCosineTransform(dim=0)
