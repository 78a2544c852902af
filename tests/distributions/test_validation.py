import pytest
import torch

from tracegraph.distributions.validation import (
    enable_validation,
    is_validation_enabled,
    validation_enabled,
)
from tracegraph.errors import SiteError


def test_enable_validation_false_new_distributions_skip_checks():
    enable_validation(False)
    try:
        torch.distributions.Normal(0.0, -1.0)  # an invalid scale is not checked
        assert not is_validation_enabled()
    finally:
        enable_validation(True)


def test_enable_validation_true_invalid_argument_raises():
    enable_validation(True)
    with pytest.raises(ValueError, match="scale"):
        torch.distributions.Normal(0.0, -1.0)


def test_enable_validation_non_bool_raises():
    with pytest.raises(SiteError, match="bool"):
        enable_validation("yes")  # type: ignore[arg-type]


def test_enable_validation_accepts_zero_and_one_as_torch_does():
    with validation_enabled(True):
        enable_validation(0)  # type: ignore[arg-type]
        assert is_validation_enabled() is False
        enable_validation(1)  # type: ignore[arg-type]
        assert is_validation_enabled() is True


def test_validation_enabled_exception_restores_previous_flag():
    enable_validation(True)
    with pytest.raises(RuntimeError), validation_enabled(False):
        assert not is_validation_enabled()
        raise RuntimeError("boom")
    assert is_validation_enabled()
