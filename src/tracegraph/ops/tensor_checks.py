"""Checks of tensors and numbers for NaN and infinity, and the warnings that name
where they were found (Pyro's ``torch_isnan``, ``warn_if_nan``, ...).

>>> import torch
>>> torch_isnan(float("nan")), bool(torch_isinf(torch.tensor([1.0, float("inf")])))
(True, True)
"""

from __future__ import annotations

import math
import numbers
import sys
import warnings
from typing import Any

import torch

from tracegraph.errors import TracegraphWarning

__all__ = ["torch_float", "torch_isinf", "torch_isnan", "warn_if_inf", "warn_if_nan"]


def torch_isnan(x: torch.Tensor | numbers.Number | float) -> bool | torch.Tensor:
    """Whether ``x`` (a number, or any element of a tensor) is NaN.

    :returns: a bool for a number, a 0-d bool tensor for a tensor.

    >>> torch_isnan(1.0), torch_isnan(torch.tensor([1.0, float("nan")]))
    (False, tensor(True))
    """
    if isinstance(x, torch.Tensor):
        return torch.isnan(x).any()
    if isinstance(x, numbers.Number):
        return x != x
    return torch.isnan(x).any()  # type: ignore[arg-type]  # a TypeError, as in Pyro


def torch_isinf(x: torch.Tensor | numbers.Number | float) -> bool | torch.Tensor:
    """Whether ``x`` (a number, or any element of a tensor) is +inf or -inf.

    >>> torch_isinf(float("-inf")), torch_isinf(torch.tensor([0.0]))
    (True, tensor(False))
    """
    if isinstance(x, torch.Tensor):
        return (x == math.inf).any() | (x == -math.inf).any()
    return x == math.inf or x == -math.inf


def torch_float(x: torch.Tensor | float | int) -> torch.Tensor | float:
    """``x`` as a float: a float tensor for a tensor, a Python float otherwise.

    >>> torch_float(3), torch_float(torch.tensor(3))
    (3.0, tensor(3.))
    """
    return x.float() if isinstance(x, torch.Tensor) else float(x)


def _where(filename: str | None, lineno: int | None) -> tuple[str, int]:
    # The place a warning names: what was given, either one alone completed from
    # the frame that called warn_if_nan / warn_if_inf.
    if filename is None or lineno is None:
        frame = sys._getframe(2)
        filename = frame.f_code.co_filename if filename is None else filename
        lineno = frame.f_lineno if lineno is None else lineno
    return filename, lineno


def _warn(text: str, msg: str, filename: str, lineno: int) -> None:
    message = f"Encountered {text}: {msg}" if msg else f"Encountered {text}."
    warnings.warn_explicit(message, TracegraphWarning, filename, lineno)


def warn_if_nan(
    value: torch.Tensor | numbers.Number | float,
    msg: str = "",
    *,
    filename: str | None = None,
    lineno: int | None = None,
) -> torch.Tensor | numbers.Number | float:
    """Warn (``UserWarning``) if ``value`` contains NaN, and, for a tensor that
    requires grad, if its gradient does.  Returns ``value``.

    :param msg: added to the warning, e.g. the site's name.
    :param filename: the file to point the warning at (default: the caller's).
    :param lineno: the line to point the warning at (default: the caller's).

    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _ = warn_if_nan(float("nan"), "loss")
    >>> str(caught[0].message)
    'Encountered NaN: loss'
    """
    filename, lineno = _where(filename, lineno)
    if isinstance(value, torch.Tensor) and value.requires_grad:
        where = (filename, lineno)
        value.register_hook(
            lambda grad: warn_if_nan(grad, "backward " + msg, filename=where[0], lineno=where[1])
        )
    if torch_isnan(value):
        _warn("NaN", msg, filename, lineno)
    return value


def warn_if_inf(
    value: torch.Tensor | numbers.Number | float,
    msg: str = "",
    allow_posinf: bool = False,
    allow_neginf: bool = False,
    *,
    filename: str | None = None,
    lineno: int | None = None,
) -> torch.Tensor | numbers.Number | float:
    """Warn (``UserWarning``) if ``value`` contains +inf (unless ``allow_posinf``)
    or -inf (unless ``allow_neginf``), and, for a tensor that requires grad, if its
    gradient does.  Returns ``value``.

    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _ = warn_if_inf(torch.tensor([float("-inf")]), "log_prob")
    ...     _ = warn_if_inf(torch.tensor([float("-inf")]), "log_prob", allow_neginf=True)
    >>> [str(w.message) for w in caught]
    ['Encountered -inf: log_prob']
    """
    filename, lineno = _where(filename, lineno)
    if isinstance(value, torch.Tensor) and value.requires_grad:
        where = (filename, lineno)
        value.register_hook(
            lambda grad: warn_if_inf(
                grad,
                "backward " + msg,
                allow_posinf,
                allow_neginf,
                filename=where[0],
                lineno=where[1],
            )
        )
    if isinstance(value, torch.Tensor):
        pos: Any = (value == math.inf).any()
        neg: Any = (value == -math.inf).any()
    else:
        pos, neg = value == math.inf, value == -math.inf
    if not allow_posinf and pos:
        _warn("+inf", msg, filename, lineno)
    if not allow_neginf and neg:
        _warn("-inf", msg, filename, lineno)
    return value
