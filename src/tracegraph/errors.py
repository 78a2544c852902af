"""Exceptions and warnings raised by tracegraph.

Every class also inherits the built-in type that Pyro raises in the same
situation, so a user's ``except ValueError`` keeps working after the switch.

>>> issubclass(SiteError, ValueError)
True
"""

from __future__ import annotations

__all__ = [
    "TracegraphError",
    "SiteError",
    "DuplicateSiteError",
    "GuideObservedError",
    "ShapeError",
    "PlateError",
    "ProvenanceError",
    "HandlerError",
    "OptimizerError",
    "TracegraphWarning",
]


class TracegraphError(Exception):
    """Base class of every error tracegraph raises on purpose."""


class SiteError(TracegraphError, ValueError):
    """A sample or param site is used wrongly (duplicate name, bad argument)."""


class DuplicateSiteError(SiteError, RuntimeError):
    """Two sample sites of one run share a name (Pyro raises ``RuntimeError`` here)."""


class GuideObservedError(SiteError, RuntimeError):
    """A site the guide observes is latent in the model (Pyro raises ``RuntimeError``)."""


class ShapeError(SiteError):
    """A value, distribution or log-prob has a shape that disagrees with its site."""


class PlateError(TracegraphError, ValueError):
    """A plate is declared or used inconsistently (dim collision, size mismatch)."""


class ProvenanceError(TracegraphError, RuntimeError):
    """Strict provenance mode met an op for which no rule says what happens."""


class HandlerError(TracegraphError, ValueError):
    """An effect handler was configured or nested wrongly."""


class OptimizerError(TracegraphError, ValueError):
    """An optimizer wrapper was configured wrongly, or given state it cannot use.

    >>> issubclass(OptimizerError, ValueError)
    True
    """


class TracegraphWarning(UserWarning):
    """Warnings raised by tracegraph; filter them with this class."""
