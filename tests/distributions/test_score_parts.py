import pytest
import torch

from tracegraph.distributions.score_parts import (
    ScoreParts,
    as_bool_mask,
    is_identically_one,
    is_identically_zero,
    scale_and_mask,
)
from tracegraph.distributions.validation import validation_enabled
from tracegraph.errors import SiteError


@pytest.mark.parametrize(
    "mask, expected",
    [
        (None, None),
        (True, True),
        (0, False),
        (1.0, True),
        (torch.tensor([1, 0]), torch.tensor([True, False])),
        (torch.tensor([0.0, 1.0]), torch.tensor([False, True])),
        (torch.tensor([True]), torch.tensor([True])),
    ],
)
def test_as_bool_mask_accepts_bools_and_zero_one_values(mask, expected):
    got = as_bool_mask(mask)
    if isinstance(expected, torch.Tensor):
        assert got.dtype == torch.bool and torch.equal(got, expected)
    else:
        assert got is expected


@pytest.mark.parametrize("mask", [torch.tensor([0.5]), torch.tensor([2]), 2, "x", [True]])
def test_as_bool_mask_refuses_other_values_naming_where(mask):
    with pytest.raises(SiteError, match="mask of site 'z'"):
        as_bool_mask(mask, "site 'z'")


def test_as_bool_mask_without_validation_converts_like_pyro():
    with validation_enabled(False):
        assert torch.equal(as_bool_mask(torch.tensor([0.5, 0.0])), torch.tensor([True, False]))


def test_as_bool_mask_check_records_no_control_flow_on_tracked_mask():
    from tracegraph.ops.provenance import get_provenance, track_provenance

    z = track_provenance(torch.tensor([1.0, 0.0]), frozenset({"z"}))
    mask = as_bool_mask(z)
    # The result still depends on z (it masks log-probs), the check left no trace.
    assert get_provenance(mask) == frozenset({"z"})


def test_is_identically_zero_and_one_are_for_numbers_only():
    assert is_identically_zero(0) and is_identically_zero(False) and not is_identically_zero(1e-9)
    assert is_identically_one(True) and not is_identically_one(torch.ones(()))


def test_scale_and_mask_scales_after_masking_so_inf_never_reaches_the_scale():
    lp = torch.tensor([-float("inf"), -1.0])
    scale = torch.tensor(2.0, requires_grad=True)
    out = scale_and_mask(lp, scale, torch.tensor([0.0, 1.0]))
    out.sum().backward()
    assert torch.equal(out.detach(), torch.tensor([0.0, -2.0])) and scale.grad == -1.0


def test_score_parts_with_nothing_to_apply_is_itself():
    parts = ScoreParts(torch.ones(2), 0, torch.ones(2))
    assert parts.scale_and_mask() is parts
    assert parts.scale_and_mask(1, None) is parts
