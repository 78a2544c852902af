import pytest
import torch

from tracegraph.distributions.util import (
    ScoreParts,
    broadcast_shape,
    enable_validation,
    is_identically_one,
    is_identically_zero,
    is_validation_enabled,
    scale_and_mask,
    sum_leftmost,
    sum_rightmost,
    validation_enabled,
)
from tracegraph.distributions.validation import validation_enabled as validation_enabled_def
from tracegraph.errors import ShapeError, SiteError


def test_broadcast_shape_compatible_shapes_returns_tuple():
    # A plain tuple, as Pyro's.
    shape = broadcast_shape((2, 1), torch.Size([3]), ())
    assert shape == (2, 3) and type(shape) is tuple


def test_broadcast_shape_incompatible_shapes_raises_listing_all():
    with pytest.raises(ShapeError, match=r"\(2,\) vs \(3,\) vs \(4, 1\)"):
        broadcast_shape((2,), (3,), (4, 1))


def test_broadcast_shape_strict_refuses_resizing_but_adds_dims():
    assert broadcast_shape((3, 4), (4,), strict=True) == (3, 4)
    with pytest.raises(ShapeError, match="strict"):
        broadcast_shape((1, 4), (3, 4), strict=True)


def test_sum_rightmost_positive_dim_sums_rightmost():
    x = torch.arange(24.0).reshape(2, 3, 4)
    assert torch.equal(sum_rightmost(x, 2), x.sum((-1, -2)))


def test_sum_rightmost_negative_dim_keeps_leftmost():
    x = torch.ones(2, 3, 4)
    assert sum_rightmost(x, -2).shape == (2, 3)


def test_sum_rightmost_zero_returns_input():
    x = torch.ones(2)
    assert sum_rightmost(x, 0) is x


def test_sum_rightmost_number_passes_through():
    assert sum_rightmost(0.0, 2) == 0.0


def test_sum_rightmost_too_many_dims_sums_everything():
    # As Pyro: more dims than the tensor has means all of them.
    assert torch.equal(sum_rightmost(torch.arange(6.0).reshape(2, 3), 3), torch.tensor(15.0))
    assert torch.equal(sum_rightmost(torch.ones(2, 3), float("inf")), torch.tensor(6.0))


def test_sum_rightmost_negative_beyond_dims_keeps_python_slice_rule():
    x = torch.ones(2, 3, 4)
    assert sum_rightmost(x, -3) is x
    assert sum_rightmost(x, -4).shape == (2,)


def test_sum_leftmost_sums_leftmost_or_keeps_rightmost():
    x = torch.arange(24.0).reshape(2, 3, 4)
    assert torch.equal(sum_leftmost(x, 1), x.sum(0))
    assert torch.equal(sum_leftmost(x, -1), x.sum((0, 1)))
    assert torch.equal(sum_leftmost(x, float("inf")), x.sum())
    assert sum_leftmost(x, 0) is x and sum_leftmost(2.0, 1) == 2.0


def test_is_identically_zero_only_plain_zero():
    assert is_identically_zero(0) and is_identically_zero(0.0)
    assert not is_identically_zero(torch.tensor(0.0))
    assert not is_identically_zero(1.0)
    # Pyro counts False as the number zero.
    assert is_identically_zero(False)


def test_is_identically_one_only_plain_one():
    assert is_identically_one(1) and is_identically_one(1.0)
    assert not is_identically_one(torch.tensor(1.0)) and not is_identically_one(2)


def test_scale_and_mask_masked_inf_and_nan_become_zero():
    x = torch.tensor([-1.0, -float("inf"), float("nan")])
    out = scale_and_mask(x, 2.0, torch.tensor([True, False, False]))
    assert isinstance(out, torch.Tensor)
    assert torch.equal(out, torch.tensor([-2.0, 0.0, 0.0]))


def test_scale_and_mask_scale_gradient_finite_where_masked():
    scale = torch.tensor(2.0, requires_grad=True)
    x = torch.tensor([-1.0, -float("inf")])
    scale_and_mask(x, scale, torch.tensor([True, False])).sum().backward()
    assert scale.grad is not None and torch.equal(scale.grad, torch.tensor(-1.0))


def test_scale_and_mask_mask_broadcasts_to_larger_shape():
    out = scale_and_mask(torch.ones(3), mask=torch.tensor([[True], [False]]))
    assert torch.equal(out, torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]))


def test_scale_and_mask_no_mask_and_unit_scale_returns_input():
    x = torch.ones(2)
    assert scale_and_mask(x) is x and scale_and_mask(x, mask=True) is x


def test_scale_and_mask_false_mask_gives_zeros_of_same_shape():
    out = scale_and_mask(torch.full((2, 3), -float("inf")), mask=False)
    assert torch.equal(out, torch.zeros(2, 3))


def test_scale_and_mask_zero_number_stays_number():
    assert scale_and_mask(0.0, torch.tensor(3.0), torch.tensor([True])) == 0.0


@pytest.mark.parametrize("bad", [torch.tensor([2, 0]), torch.tensor([0.5]), 2, "yes"])
def test_scale_and_mask_bad_mask_raises(bad):
    with pytest.raises(SiteError, match="bool"):
        scale_and_mask(torch.ones(2), mask=bad)


@pytest.mark.parametrize("mask", [torch.tensor([1, 0]), torch.tensor([1.0, 0.0])])
def test_scale_and_mask_zero_one_mask_works_as_bool(mask):
    out = scale_and_mask(torch.tensor([-1.0, -float("inf")]), 2.0, mask)
    assert torch.equal(out, torch.tensor([-2.0, 0.0]))


def test_score_parts_scale_and_mask_leaves_score_function():
    lp = torch.tensor([-1.0, -2.0])
    parts = ScoreParts(lp, lp, 0.0).scale_and_mask(2.0, torch.tensor([False, True]))
    assert isinstance(parts.log_prob, torch.Tensor)
    assert torch.equal(parts.log_prob, torch.tensor([0.0, -4.0]))
    assert parts.score_function is lp
    assert parts.entropy_term == 0.0


def test_util_validation_names_are_the_validation_module_functions():
    assert validation_enabled is validation_enabled_def
    with validation_enabled(False):
        assert not is_validation_enabled()
    enable_validation(True)
    assert is_validation_enabled()
