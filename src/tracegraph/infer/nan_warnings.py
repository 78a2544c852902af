"""Warn when a value, or the gradient that later flows back into it, is NaN.

>>> import warnings
>>> with warnings.catch_warnings(record=True) as caught:
...     warnings.simplefilter("always")
...     _ = warn_if_nan(float("nan"), "loss")
>>> str(caught[0].message)
'Encountered NaN: loss'
"""

from __future__ import annotations

import sys
import warnings
from numbers import Number
from typing import TypeVar

import torch

from tracegraph.errors import TracegraphWarning

__all__ = ["warn_if_nan"]

V = TypeVar("V")


def _caller() -> tuple[str, int]:
    # The frame that called warn_if_nan: that is the line the user can act on.
    frame = sys._getframe(2)
    return frame.f_code.co_filename, frame.f_lineno


def warn_if_nan(
    value: V, msg: str = "", *, filename: str | None = None, lineno: int | None = None
) -> V:
    """Warn if ``value`` (a tensor or a number) contains a NaN; for a tensor that
    requires grad, also warn when the gradient flowing back into it does.

    Infinities are not reported.  The warning points at the caller's line, or at
    ``filename``/``lineno`` when given (either one alone completes the other from
    the caller).

    :param value: a tensor or a number; returned unchanged.
    :param msg: what the value is, for the message.
    :param filename: the file to report.
    :param lineno: the line to report.
    :returns: ``value``.

    >>> w = torch.tensor([1.0, 2.0], requires_grad=True)
    >>> warn_if_nan(w * 2, "doubled").shape
    torch.Size([2])
    """
    if filename is None or lineno is None:
        caller_file, caller_line = _caller()
        filename = caller_file if filename is None else filename
        lineno = caller_line if lineno is None else lineno
    if isinstance(value, torch.Tensor):
        if value.requires_grad:
            where = (filename, lineno)

            def hook(grad: torch.Tensor) -> None:
                if torch.isnan(grad).any():
                    warnings.warn_explicit(
                        f"Encountered NaN: backward {msg}", TracegraphWarning, *where
                    )

            value.register_hook(hook)
        if torch.isnan(value.detach()).any():
            warnings.warn_explicit(f"Encountered NaN: {msg}", TracegraphWarning, filename, lineno)
    elif isinstance(value, Number) and value != value:  # only NaN is unequal to itself
        warnings.warn_explicit(f"Encountered NaN: {msg}", TracegraphWarning, filename, lineno)
    return value
