"""Every ``torch.distributions`` distribution, subclassed with :class:`TorchDistributionMixin`.

The classes are generated from ``torch.distributions.__all__`` at import time,
so a distribution added to torch is wrapped without a code change.  Each
generated class keeps torch's ``__init__`` and maths, is a subclass of both the
torch class and the mixin, is defined in this module (so it pickles), and
``expand`` returns the same generated class.  The classes to which Pyro adds
behaviour are written by hand in :mod:`tracegraph.distributions.torch_overrides`
and appear here too.  The abstract base ``Distribution`` and the
non-distribution names (transforms, ``kl_divergence``, ``biject_to``, ...) are
re-exported unchanged.

:func:`as_tracegraph_distribution` turns a plain torch object into an instance of
the matching wrapped class.  ``torch.pyi`` next to this file lists the generated
classes for type checkers; a test keeps the two in step.

>>> issubclass(Normal, torch.distributions.Normal), issubclass(Normal, TorchDistributionMixin)
(True, True)
"""

from __future__ import annotations

import torch

from tracegraph.distributions import torch_overrides
from tracegraph.distributions.mixin import TorchDistributionMixin
from tracegraph.distributions.wrapping import register_wrapper, wrapped_class
from tracegraph.errors import SiteError

# The abstract base stays torch's own, so ``isinstance(x, Distribution)`` here
# holds for plain torch objects too (the package exports Pyro's abstract
# ``Distribution`` instead).
_UNWRAPPED = frozenset({"Distribution"})


def _is_distribution_class(value: object) -> bool:
    return isinstance(value, type) and issubclass(value, torch.distributions.Distribution)


for _name in torch_overrides.__all__:
    _cls = getattr(torch_overrides, _name)
    register_wrapper(getattr(torch.distributions, _name), _cls)

__all__: list[str] = []
for _name in torch.distributions.__all__:
    _value = getattr(torch.distributions, _name)
    if _is_distribution_class(_value) and _name not in _UNWRAPPED:
        _value = wrapped_class(_value)
    globals()[_name] = _value
    __all__.append(_name)
del _name, _value, _cls


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
    cls = wrapped_class(type(fn))
    state = dict(fn.__dict__)
    # A plain object may carry has_rsample as an instance attribute; the mixin
    # stores it through its property instead.
    flag = state.pop("has_rsample", None)
    view = cls.__new__(cls)
    view.__dict__.update(state)
    if flag is not None:
        view.has_rsample = bool(flag)
    return view
