"""NaN / inf checks and warnings (Pyro's pyro.util names)."""

from __future__ import annotations

import warnings

import pytest
import torch

from tracegraph.errors import TracegraphWarning
from tracegraph.ops.tensor_checks import (
    torch_float,
    torch_isinf,
    torch_isnan,
    warn_if_inf,
    warn_if_nan,
)


def _messages(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn()
    return [(w.category, str(w.message), w.filename) for w in caught]


def test_isnan_isinf_numbers_and_tensors():
    assert torch_isnan(float("nan")) and not torch_isnan(3)
    assert torch_isnan(torch.tensor([1.0, float("nan")])).item()
    assert torch_isinf(float("-inf")) and not torch_isinf(1.0)
    assert torch_isinf(torch.tensor([float("inf")])).item()
    with pytest.raises(TypeError):
        torch_isnan("x")


def test_torch_float():
    assert torch_float(3) == 3.0 and torch_float(torch.tensor(3)).dtype == torch.float32


def test_warn_if_nan_points_at_the_caller_and_returns_the_value():
    value = torch.tensor([float("nan")])
    caught = _messages(lambda: warn_if_nan(value, "loss"))
    # tracegraph's warning class, a UserWarning as Pyro's.
    assert caught == [(TracegraphWarning, "Encountered NaN: loss", __file__)]
    assert [m for _, m, _ in _messages(lambda: warn_if_nan(value))] == ["Encountered NaN."]
    assert warn_if_nan(torch.ones(1)).tolist() == [1.0]


def test_warn_if_nan_explicit_location():
    caught = _messages(lambda: warn_if_nan(float("nan"), "m", filename="model.py", lineno=3))
    assert caught[0][2] == "model.py"


def test_warn_if_nan_checks_the_gradient_too():
    x = torch.tensor([1.0], requires_grad=True)
    y = warn_if_nan(x * 1, "g")
    caught = _messages(lambda: (y * float("nan")).sum().backward())
    assert [m for _, m, _ in caught] == ["Encountered NaN: backward g"]


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        ({}, ["Encountered +inf: lp", "Encountered -inf: lp"]),
        ({"allow_neginf": True}, ["Encountered +inf: lp"]),
        ({"allow_posinf": True}, ["Encountered -inf: lp"]),
        ({"allow_posinf": True, "allow_neginf": True}, []),
    ],
)
def test_warn_if_inf_respects_the_allowances(kwargs, expected):
    value = torch.tensor([float("inf"), -float("inf")])
    assert [m for _, m, _ in _messages(lambda: warn_if_inf(value, "lp", **kwargs))] == expected
