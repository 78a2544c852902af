"""Global settings by alias (Pyro's ``pyro.settings``): each alias names a module
attribute (``"module"``, ``"Class.attribute"``) that :func:`get` reads and
:func:`set` writes, optionally through a validator.

>>> "validate_poutine" in get()
True
>>> with context(validate_poutine=False):
...     get("validate_poutine")
False
>>> get("validate_poutine")
True

Registered here: ``validate_poutine`` (the checks of traces and handlers),
``validate_distributions_torch`` (torch's argument and support validation) and,
because tracegraph's distribution and inference checks follow torch's flag,
``validate_distributions_pyro`` and ``validate_infer`` as aliases of that flag.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import import_module
from typing import Any

__all__ = ["context", "get", "register", "set"]

# alias -> (module name, dotted attribute name, validator or None)
_REGISTRY: dict[str, tuple[str, str, Callable[[Any], None] | None]] = {}


def _owner(modulename: str, deepname: str) -> tuple[Any, str]:
    obj: Any = import_module(modulename)
    *path, attr = deepname.split(".")
    for part in path:
        obj = getattr(obj, part)
    return obj, attr


def get(alias: str | None = None) -> Any:
    """The value of the setting ``alias``, or a dict of every setting.

    :raises KeyError: for an alias nobody registered.

    >>> isinstance(get("validate_distributions_torch"), bool)
    True
    """
    if alias is None:
        return {name: get(name) for name in sorted(_REGISTRY)}
    modulename, deepname, _ = _REGISTRY[alias]
    owner, attr = _owner(modulename, deepname)
    return getattr(owner, attr)


def set(**kwargs: Any) -> None:
    """Set one or more settings (``alias=value``), each checked by its validator.

    :raises KeyError: for an alias nobody registered.

    >>> set(validate_poutine=True)
    """
    for alias, value in kwargs.items():
        modulename, deepname, validator = _REGISTRY[alias]
        if validator is not None:
            validator(value)
        owner, attr = _owner(modulename, deepname)
        setattr(owner, attr, value)


@contextmanager
def context(**kwargs: Any) -> Iterator[None]:
    """Override settings inside a ``with`` block (or a decorated function) and
    restore them afterwards, also when the block raises.

    >>> @context(validate_poutine=False)
    ... def checked():
    ...     return get("validate_poutine")
    >>> checked(), get("validate_poutine")
    (False, True)
    """
    old = {alias: get(alias) for alias in kwargs}
    set(**kwargs)
    try:
        yield
    finally:
        set(**old)


def register(
    alias: str, modulename: str, deepname: str, validator: Callable[[Any], None] | None = None
) -> Callable[..., Any]:
    """Register the setting ``alias`` for the attribute ``deepname`` of module
    ``modulename`` (resolved when read or written).

    Without ``validator`` it registers the setting and returns a decorator that
    registers the decorated function as its validator; with one, it returns the
    validator.

    >>> LIMIT = 3
    >>> @register("doc_limit", __name__, "LIMIT")
    ... def _check_limit(value):
    ...     if value <= 0:
    ...         raise ValueError("doc_limit must be positive")
    >>> set(doc_limit=5); get("doc_limit")
    5
    >>> _ = _REGISTRY.pop("doc_limit")  # keep the doctest's setting out of get()
    """
    _REGISTRY[alias] = (modulename, deepname, validator)
    if validator is None:
        return functools.partial(register, alias, modulename, deepname)
    return validator


register("validate_poutine", "tracegraph.poutine.validation", "_VALIDATION_ENABLED")
register(
    "validate_distributions_torch",
    "torch.distributions.distribution",
    "Distribution._validate_args",
)
register(
    "validate_distributions_pyro", "torch.distributions.distribution", "Distribution._validate_args"
)
register("validate_infer", "torch.distributions.distribution", "Distribution._validate_args")
register("module_local_params", "tracegraph.nn.context", "_MODULE_LOCAL_PARAMS")
