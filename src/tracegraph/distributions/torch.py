"""Every ``torch.distributions`` distribution, subclassed with :class:`TorchDistributionMixin`.

The classes are generated from ``torch.distributions.__all__`` at import time,
so a distribution added to torch is wrapped without a code change.  Each
generated class keeps torch's ``__init__`` and maths, is a subclass of both the
torch class and the mixin, is defined in this module (so it pickles), and
``expand`` returns the same generated class.  The abstract bases
``Distribution`` and ``ExponentialFamily`` and the non-distribution names
(transforms, ``kl_divergence``, ``biject_to``, ...) are re-exported unchanged.

:func:`as_tracegraph_distribution` turns a plain torch object into an instance of
the matching wrapped class.  ``torch.pyi`` next to this file lists the generated
classes for type checkers; a test keeps the two in step.

>>> issubclass(Normal, torch.distributions.Normal), issubclass(Normal, TorchDistributionMixin)
(True, True)
"""

from __future__ import annotations

import torch

from tracegraph.distributions.torch_distribution import Independent, TorchDistributionMixin
from tracegraph.errors import SiteError

# Abstract bases stay torch's own, so ``isinstance(x, Distribution)`` also holds
# for plain torch objects and for every wrapped class.
_UNWRAPPED = frozenset({"Distribution", "ExponentialFamily"})

_DOC = """``torch.distributions.{name}`` with tracegraph's methods.

Construction, sampling and ``log_prob`` are torch's; see
``torch.distributions.{name}``.  The mixin adds ``to_event``, ``expand_by``,
``mask``, ``has_rsample_`` and ``score_parts``
(:class:`~tracegraph.distributions.TorchDistributionMixin`).

>>> import tracegraph.distributions as dist
>>> issubclass(dist.{name}, torch.distributions.{name})
True
>>> issubclass(dist.{name}, dist.TorchDistributionMixin)
True
"""


def _wrap(torch_class: type, module: str = __name__, doc: str | None = None) -> type:
    name = torch_class.__name__
    doc = _DOC.format(name=name) if doc is None else doc
    namespace = {"__module__": module, "__qualname__": name, "__doc__": doc}
    return type(name, (TorchDistributionMixin, torch_class), namespace)


def _is_distribution_class(value: object) -> bool:
    return isinstance(value, type) and issubclass(value, torch.distributions.Distribution)


# torch class -> its wrapped class.  Independent is written by hand (to_event
# builds it and it sums its base's score parts); as_tracegraph_distribution adds
# the user's own torch subclasses as it meets them.
_WRAPPERS: dict[type, type] = {torch.distributions.Independent: Independent}

__all__: list[str] = []
for _name in torch.distributions.__all__:
    _value = getattr(torch.distributions, _name)
    if _is_distribution_class(_value) and _name not in _UNWRAPPED:
        if _value not in _WRAPPERS:
            _WRAPPERS[_value] = _wrap(_value)
        _value = _WRAPPERS[_value]
    globals()[_name] = _value
    __all__.append(_name)
del _name, _value


def as_tracegraph_distribution(fn: torch.distributions.Distribution) -> TorchDistributionMixin:
    """View a plain ``torch.distributions`` object as the matching tracegraph class.

    The result shares ``fn``'s parameters (no copy of tensors) and has the
    mixin's methods; a tracegraph distribution is returned unchanged.  A torch
    subclass defined by the user gets a wrapped class made on first use (its
    instances do not pickle).

    :param fn: any ``torch.distributions.Distribution``.
    :returns: a distribution with :class:`TorchDistributionMixin`.
    :raises SiteError: if ``fn`` is not a ``torch.distributions.Distribution``.

    >>> plain = torch.distributions.Normal(torch.zeros(2), 1.0)
    >>> d = as_tracegraph_distribution(plain)
    >>> type(d) is Normal, d.loc is plain.loc, d.to_event(1).event_shape
    (True, True, torch.Size([2]))
    """
    if isinstance(fn, TorchDistributionMixin):
        return fn
    if not isinstance(fn, torch.distributions.Distribution):
        raise SiteError(
            f"expected a distribution, got {type(fn).__name__}: {fn!r}; hint: pass an "
            "instance such as dist.Normal(0., 1.), not the class or a tensor"
        )
    cls = _WRAPPERS.get(type(fn))
    if cls is None:
        user_class = type(fn)
        cls = _WRAPPERS[user_class] = _wrap(user_class, user_class.__module__, user_class.__doc__)
    state = dict(fn.__dict__)
    # A plain object may carry has_rsample as an instance attribute; the mixin
    # stores it through its property instead.
    flag = state.pop("has_rsample", None)
    view = cls.__new__(cls)
    view.__dict__.update(state)
    if flag is not None:
        view.has_rsample = bool(flag)
    return view
