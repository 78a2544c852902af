"""Whether handlers and traces check what they are given (Pyro's poutine
validation flag: log-prob shapes, NaN and +inf log-probs, observed shapes).

On by default, off under ``python -O``, as Pyro; ``tracegraph.enable_validation``
sets it together with the distributions' flag.

>>> with validation_enabled(False):
...     is_validation_enabled()
False
>>> is_validation_enabled()
True
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["enable_validation", "is_validation_enabled", "validation_enabled"]

# Read and written through tracegraph.settings ("validate_poutine") too.
_VALIDATION_ENABLED = __debug__


def enable_validation(is_validate: bool) -> None:
    """Turn the checks of handlers and traces on or off.

    >>> enable_validation(True)
    """
    global _VALIDATION_ENABLED
    _VALIDATION_ENABLED = bool(is_validate)


def is_validation_enabled() -> bool:
    """Whether handlers and traces check their input.

    >>> isinstance(is_validation_enabled(), bool)
    True
    """
    return _VALIDATION_ENABLED


@contextmanager
def validation_enabled(is_validate: bool = True) -> Iterator[None]:
    """Set the flag inside a ``with`` block and restore it afterwards.

    >>> with validation_enabled(True):
    ...     is_validation_enabled()
    True
    """
    old = _VALIDATION_ENABLED
    enable_validation(is_validate)
    try:
        yield
    finally:
        enable_validation(old)
