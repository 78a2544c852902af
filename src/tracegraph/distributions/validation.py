"""Switch torch's argument and support validation of distributions on and off.

Validation is one global flag owned by torch
(``torch.distributions.Distribution.set_default_validate_args``); these functions
give it Pyro's names.  It applies to distributions constructed *after* the call.

>>> previous = is_validation_enabled()
>>> with validation_enabled(False):
...     is_validation_enabled()
False
>>> is_validation_enabled() == previous
True
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from tracegraph.errors import SiteError

__all__ = ["enable_validation", "is_validation_enabled", "validation_enabled"]


def enable_validation(is_validate: bool = True) -> None:
    """Turn validation of distribution arguments and sample values on or off.

    :param is_validate: ``True`` to check parameters against ``arg_constraints``
        and values against ``support`` (torch's default unless ``python -O``).
    :raises SiteError: if ``is_validate`` is neither true nor false (``1`` and ``0``
        count, as in torch).

    >>> enable_validation(False); is_validation_enabled()
    False
    >>> enable_validation(True); is_validation_enabled()
    True
    """
    if is_validate not in (True, False):
        raise SiteError(f"enable_validation expects a bool, got {type(is_validate).__name__}")
    torch.distributions.Distribution.set_default_validate_args(bool(is_validate))


def is_validation_enabled() -> bool:
    """Tell whether newly built distributions validate their arguments.

    :returns: the current global flag.

    >>> isinstance(is_validation_enabled(), bool)
    True
    """
    return bool(torch.distributions.Distribution._validate_args)


@contextmanager
def validation_enabled(is_validate: bool = True) -> Iterator[None]:
    """Set validation for the duration of a ``with`` block, then restore it.

    The previous flag is restored in ``finally``, so an exception in the block
    cannot leave validation switched.

    :param is_validate: the flag to use inside the block.

    >>> with validation_enabled(True):
    ...     torch.distributions.Normal(0.0, 1.0)._validate_args
    True
    """
    previous = is_validation_enabled()
    enable_validation(is_validate)
    try:
        yield
    finally:
        enable_validation(previous)
