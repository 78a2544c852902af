import pytest
import torch

from tracegraph.distributions.transforms import Permute, permute


def test_permute_inverse_and_zero_jacobian():
    perm = torch.tensor([2, 0, 3, 1])
    t = Permute(perm)
    x = torch.arange(8.0).reshape(2, 4)
    assert torch.equal(t(x), x[:, perm]) and torch.equal(t.inv(t(x)), x)
    assert torch.equal(t.log_abs_det_jacobian(x, t(x)), torch.zeros(2))
    assert t.volume_preserving and t._cache_size == 1


def test_permute_inner_dim_and_helper():
    x = torch.arange(6.0).reshape(3, 2, 1)
    t = Permute(torch.tensor([1, 0]), dim=-2)
    assert torch.equal(t(x), x.flip(-2)) and t.event_dim == 2
    assert sorted(permute(5).permutation.tolist()) == [0, 1, 2, 3, 4]
    with pytest.raises(TypeError, match="event shape"):
        permute(5, dim=-2)
    with pytest.raises(ValueError, match="same length"):
        permute((5, 3, 2), dim=-2)
    assert permute((5, 3), dim=-2).permutation.shape == (5,)
