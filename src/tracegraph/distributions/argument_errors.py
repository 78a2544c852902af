"""Errors for invalid distribution arguments in the places where Pyro asserts.

Pyro checks some constructor arguments with ``assert``, so its users may catch
``AssertionError``; tracegraph raises its own error classes there, which also
inherit ``AssertionError`` (and ``ValueError``, through ``SiteError``).

>>> issubclass(ShapeAssertionError, AssertionError), issubclass(ShapeAssertionError, ValueError)
(True, True)
"""

from __future__ import annotations

from tracegraph.errors import ShapeError, SiteError

__all__ = ["ArgumentAssertionError", "ShapeAssertionError"]


class ArgumentAssertionError(SiteError, AssertionError):
    """An invalid distribution argument where Pyro raises ``AssertionError``.

    >>> import tracegraph.distributions as dist
    >>> try:
    ...     dist.Stable(1.5, 0.0, coords="S1")
    ... except AssertionError as e:
    ...     type(e).__name__
    'ArgumentAssertionError'
    """


class ShapeAssertionError(ShapeError, AssertionError):
    """Distribution arguments of mismatched shapes where Pyro raises ``AssertionError``.

    >>> import torch
    >>> import tracegraph.distributions as dist
    >>> try:
    ...     dist.MultivariateStudentT(3.0, torch.zeros(2), torch.eye(3))
    ... except ValueError as e:
    ...     isinstance(e, AssertionError)
    True
    """
