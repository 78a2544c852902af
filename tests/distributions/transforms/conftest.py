"""Brute-force references for transform tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch


def _numeric_log_abs_det(
    transform: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor
) -> float:
    # log |det J| of a map from a vector to a vector of the same length, by autograd.
    jac = torch.autograd.functional.jacobian(
        lambda v: transform(v.reshape(x.shape)).reshape(-1), x.reshape(-1)
    )
    return torch.linalg.slogdet(jac).logabsdet.item()


@pytest.fixture
def numeric_log_abs_det() -> Callable[..., float]:
    return _numeric_log_abs_det
