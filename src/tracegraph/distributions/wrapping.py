"""Which tracegraph class wraps each ``torch.distributions`` class.

A wrapped class is a subclass of both :class:`TorchDistributionMixin` and the
torch class: the generated ones (:mod:`tracegraph.distributions.torch`), the
hand-written ones (:mod:`tracegraph.distributions.torch_overrides`,
``Independent``), and those made on first use for a user's own torch subclass.

>>> import torch
>>> wrapped_class(torch.distributions.Normal).__name__
'Normal'
"""

from __future__ import annotations

import torch

from tracegraph.distributions.independent import Independent
from tracegraph.distributions.mixin import TorchDistributionMixin

__all__ = ["register_wrapper", "wrap", "wrapped_class"]

_DOC = """``torch.distributions.{name}`` with tracegraph's methods.

Construction, sampling and ``log_prob`` are torch's; see
``torch.distributions.{name}``.  The mixin adds ``to_event``, ``expand_by``,
``mask``, ``has_rsample_``, ``score_parts`` and the rest of Pyro's
distribution API (:class:`~tracegraph.distributions.TorchDistributionMixin`).

>>> import torch
>>> import tracegraph.distributions as dist
>>> issubclass(dist.{name}, torch.distributions.{name})
True
>>> issubclass(dist.{name}, dist.TorchDistributionMixin)
True
"""

#: Module of the generated classes (they pickle by this path).
GENERATED_MODULE = "tracegraph.distributions.torch"

_WRAPPERS: dict[type, type] = {torch.distributions.Independent: Independent}


def wrap(torch_class: type, module: str = GENERATED_MODULE, doc: str | None = None) -> type:
    """Make the class ``(TorchDistributionMixin, torch_class)`` named like ``torch_class``.

    >>> import torch
    >>> cls = wrap(torch.distributions.Normal, module="example")
    >>> cls.__mro__[1].__name__, cls.__module__
    ('TorchDistributionMixin', 'example')
    """
    name = torch_class.__name__
    doc = _DOC.format(name=name) if doc is None else doc
    namespace = {"__module__": module, "__qualname__": name, "__doc__": doc}
    return type(name, (TorchDistributionMixin, torch_class), namespace)


def register_wrapper(torch_class: type, cls: type) -> None:
    """Record that ``cls`` wraps ``torch_class`` (a hand-written wrapper).

    >>> import torch
    >>> register_wrapper(torch.distributions.Independent, Independent)
    """
    _WRAPPERS[torch_class] = cls


def wrapped_class(torch_class: type) -> type:
    """The tracegraph class wrapping ``torch_class``, made on first use.

    Classes of ``torch.distributions`` are made in the generated module; a
    user's own subclass keeps its module and docstring (its instances do not
    pickle).

    >>> import torch
    >>> wrapped_class(torch.distributions.Normal) is wrapped_class(torch.distributions.Normal)
    True
    """
    cls = _WRAPPERS.get(torch_class)
    if cls is None:
        if getattr(torch.distributions, torch_class.__name__, None) is torch_class:
            cls = wrap(torch_class)
        else:
            cls = wrap(torch_class, torch_class.__module__, torch_class.__doc__)
        _WRAPPERS[torch_class] = cls
    return cls
