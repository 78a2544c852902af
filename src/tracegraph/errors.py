"""Exceptions and warnings raised by tracegraph.

Every class also inherits the built-in type that Pyro raises in the same
situation, so a user's ``except ValueError`` keeps working after the switch.

>>> issubclass(SiteError, ValueError)
True
"""

from __future__ import annotations

import pickle

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
    "UnknownSiteError",
    "SiteNameError",
    "SiteTypeError",
    "PlateAssertionError",
    "HandlerAssertionError",
    "HandlerArgumentError",
    "PlateArgumentError",
    "ExperimentalWarning",
    "DistributedError",
    "ParamFileError",
    "TruncatedParamFileError",
    "MalformedParamFileError",
    "UnsafeParamFileError",
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


class DistributedError(TracegraphError, RuntimeError):
    """The ranks of a data-parallel job disagree or one of them failed: a rank
    raised, a param exists on some ranks only, or a rank stopped answering.

    >>> issubclass(DistributedError, RuntimeError)
    True
    """


class ParamFileError(TracegraphError, RuntimeError):
    """A param-store file cannot be loaded: it is damaged (not a readable
    archive, a tensor or the record not matching the digests recorded when it
    was saved) or not one ``save`` wrote. Every failure of ``load`` but a
    missing path is one of these, naming the file (``torch.load`` raises
    ``RuntimeError`` for a damaged archive).

    >>> issubclass(ParamFileError, RuntimeError)
    True
    """


class TruncatedParamFileError(ParamFileError, EOFError):
    """A param-store file is empty (``torch.load`` raises ``EOFError`` there).

    >>> issubclass(TruncatedParamFileError, EOFError)
    True
    """


class MalformedParamFileError(ParamFileError, SiteError):
    """A param-store file reads as plain data but is not a valid param-store
    record: no format marker (not written by ``save``), an unknown version,
    inconsistent entries, or a constraint this process cannot rebuild. Also a
    :class:`SiteError` (a ``ValueError``), which is what such files raised before.

    >>> issubclass(MalformedParamFileError, RuntimeError), issubclass(
    ...     MalformedParamFileError, ValueError)
    (True, True)
    """


class UnsafeParamFileError(ParamFileError, pickle.UnpicklingError):
    """A param-store file was refused unread because reading it would mean
    unpickling something other than plain data and tensors: it pickles objects
    (Pyro's files pickle constraint objects), is a bare pickle rather than the
    zip archive ``save`` writes, or is damaged there. Also a
    ``pickle.UnpicklingError``, which ``torch.load(weights_only=True)`` raises.

    >>> import pickle
    >>> issubclass(UnsafeParamFileError, pickle.UnpicklingError)
    True
    """


class TracegraphWarning(UserWarning):
    """Warnings raised by tracegraph; filter them with this class."""


class UnknownSiteError(SiteError, KeyError):
    """A trace was asked for a site it does not have (Pyro raises ``KeyError``).

    >>> str(UnknownSiteError("no site named 'z'"))
    "no site named 'z'"
    """

    def __str__(self) -> str:
        # KeyError quotes its argument; this message is a sentence, not a key.
        return str(self.args[0]) if self.args else ""


class SiteNameError(SiteError, AssertionError):
    """A site was given no name (Pyro asserts that the name is not None).

    >>> issubclass(SiteNameError, AssertionError) and issubclass(SiteNameError, ValueError)
    True
    """


class SiteTypeError(SiteError, TypeError):
    """A site got an argument of the wrong kind where Pyro fails with a
    ``TypeError``: a sample site whose ``fn`` cannot be called, a param name that
    is not hashable.

    >>> issubclass(SiteTypeError, TypeError) and issubclass(SiteTypeError, ValueError)
    True
    """


class PlateAssertionError(PlateError, AssertionError):
    """A plate was declared in a way Pyro refuses with an ``assert`` (explicit
    ``subsample`` indices without a ``size``).

    >>> issubclass(PlateAssertionError, AssertionError)
    True
    """


class HandlerAssertionError(HandlerError, AssertionError):
    """A handler or effect was configured in a way Pyro refuses with an ``assert``
    (``effectful`` without a type, an unknown graph type, ``queue`` on an empty
    queue).

    >>> issubclass(HandlerAssertionError, AssertionError)
    True
    """


class HandlerArgumentError(HandlerError, TypeError):
    """A handler was given an argument of the wrong kind, or none where one is
    needed (Pyro fails with a ``TypeError`` there).

    >>> issubclass(HandlerArgumentError, TypeError) and issubclass(HandlerArgumentError, ValueError)
    True
    """


class PlateArgumentError(PlateError, TypeError):
    """A plate was given a size or subsample size that is not a number (Pyro fails
    with a ``TypeError``).

    >>> issubclass(PlateArgumentError, TypeError)
    True
    """


class ExperimentalWarning(TracegraphWarning):
    """Warns that a feature is experimental (Pyro's ``pyro.util.ExperimentalWarning``).

    >>> issubclass(ExperimentalWarning, UserWarning)
    True
    """
