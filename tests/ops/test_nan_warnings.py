"""warn_if_nan: NaN (not inf) in values and in gradients, at the caller's line."""

import inspect
import warnings

import pytest
import torch

from tracegraph.errors import TracegraphWarning
from tracegraph.ops.tensor_checks import warn_if_nan


def _line() -> int:
    frame = inspect.currentframe()
    assert frame is not None and frame.f_back is not None
    return frame.f_back.f_lineno


@pytest.mark.parametrize("value", [float("nan"), torch.tensor([1.0, float("nan")])])
def test_warn_if_nan_warns_at_the_caller(value):
    with pytest.warns(TracegraphWarning, match="Encountered NaN: loss") as record:
        line = _line(); out = warn_if_nan(value, "loss")  # noqa: E702
    assert out is value
    assert record[0].filename == __file__ and record[0].lineno == line


@pytest.mark.parametrize(
    "value", [float("inf"), torch.tensor([1.0, -float("inf")]), 3, torch.ones(2)]
)
def test_warn_if_nan_ignores_finite_and_infinite(value):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_nan(value, "x")


def test_warn_if_nan_warns_when_the_gradient_is_nan():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = warn_if_nan(x * 1.0, "y")
    with pytest.warns(TracegraphWarning, match="Encountered NaN: backward y"):
        (y * float("nan")).sum().backward()


def test_warn_if_nan_explicit_location():
    with pytest.warns(TracegraphWarning) as record:
        warn_if_nan(float("nan"), "x", filename="model.py", lineno=12)
    assert (record[0].filename, record[0].lineno) == ("model.py", 12)
    with pytest.warns(TracegraphWarning) as record:
        warn_if_nan(float("nan"), "x", filename="model.py")
    assert record[0].filename == "model.py"
