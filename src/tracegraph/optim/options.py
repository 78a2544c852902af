"""Checking the options given to optimizer and scheduler wrappers.

Options are checked against the constructor's signature when the wrapper is made
(or, for per-param callables, when each param's optimizer is made), so a typo such
as ``{"lrr": 0.1}`` fails loudly with a suggestion instead of being ignored.

>>> import torch
>>> check_kwargs(torch.optim.Adam, {"lr": 0.1, "betas": (0.9, 0.99)}, "Adam options")
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import torch

from tracegraph.errors import OptimizerError

__all__ = [
    "OptimArgs",
    "OptimizerError",
    "OptionError",
    "callable_name",
    "check_clip_args",
    "check_kwargs",
    "check_options_type",
    "describe_param",
]

OptimArgs = Mapping[str, Any] | Callable[[str], Mapping[str, Any]]

_CLIP_KEYS = ("clip_norm", "clip_value")


class OptionError(OptimizerError, TypeError):
    """An unknown or missing option: Pyro meets these as torch's ``TypeError`` when the
    constructor is called, so this is a ``TypeError`` as well as an ``OptimizerError``.

    >>> issubclass(OptionError, TypeError) and issubclass(OptionError, ValueError)
    True
    """


def callable_name(fn: Any) -> str:
    """How errors name a constructor: its ``__name__``, else its repr.

    >>> import torch
    >>> callable_name(torch.optim.Adam)
    'Adam'
    """
    return getattr(fn, "__name__", repr(fn))


def describe_param(p: torch.Tensor, name: str | None) -> str:
    """How errors name a param: by its store name, else by its shape.

    >>> import torch
    >>> describe_param(torch.zeros(2), "w"), describe_param(torch.zeros(2), None)
    ("param 'w'", 'an unnamed param of shape (2,)')
    """
    return f"param {name!r}" if name is not None else f"an unnamed param of shape {tuple(p.shape)}"


def check_kwargs(fn: Callable[..., Any], kwargs: Mapping[Any, Any], what: str) -> None:
    """Check that ``fn(first_arg, **kwargs)`` binds: no unknown or missing option.

    Used on optimizer and scheduler constructors, whose first argument (the params,
    or the optimizer) the wrapper supplies itself.

    :param fn: the constructor.
    :param kwargs: the options the user gave.
    :param what: names the options in the error, e.g. ``"Adam options"``.
    :raises OptionError: (an ``OptimizerError`` and a ``TypeError``) naming the bad
        key and the accepted ones.

    >>> import torch
    >>> check_kwargs(torch.optim.SGD, {"lrr": 0.1}, "SGD options")
    Traceback (most recent call last):
    ...
    tracegraph.optim.options.OptionError: SGD options: unknown option 'lrr' (did you mean...
    """
    bad_keys = [k for k in kwargs if not isinstance(k, str)]
    if bad_keys:
        raise OptionError(f"{what}: option names must be strings, got {bad_keys[0]!r}")
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return  # no introspectable signature: the constructor itself will complain
    params = list(signature.parameters.values())[1:]
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    accepted = [p.name for p in params if p.kind in named]
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        for key in kwargs:
            if key not in accepted:
                close = difflib.get_close_matches(key, accepted, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise OptionError(
                    f"{what}: unknown option {key!r}{hint}; accepted: {', '.join(accepted)}"
                )
    missing = [
        p.name
        for p in params
        if p.kind in named and p.default is inspect.Parameter.empty and p.name not in kwargs
    ]
    if missing:
        raise OptionError(f"{what}: missing required option(s) {', '.join(map(repr, missing))}")


def check_options_type(value: Any, what: str) -> None:
    """Require a dict of options or a callable from param name to one.

    :raises OptimizerError: otherwise.

    >>> check_options_type([("lr", 0.1)], "Adam optim_args")
    Traceback (most recent call last):
    ...
    tracegraph.errors.OptimizerError: Adam optim_args must be a dict of options or ...
    """
    if not (isinstance(value, Mapping) or callable(value)):
        raise OptimizerError(
            f"{what} must be a dict of options or a callable taking a param name and "
            f"returning one, got {type(value).__name__} {value!r}"
        )


def check_clip_args(clip: Mapping[Any, Any], what: str) -> dict[str, float]:
    """Check gradient-clipping options: ``clip_norm`` and/or ``clip_value``, each >= 0.

    (0 zeroes the gradient, as in Pyro; a negative bound, which Pyro would use to
    flip the gradient's sign, is refused.)

    :returns: a copy of ``clip``.
    :raises OptionError: for another key (a ``TypeError``, as in Pyro).
    :raises OptimizerError: for a value that is not a number >= 0.

    >>> check_clip_args({"clip_norm": 10.0}, "clip_args")
    {'clip_norm': 10.0}
    """
    for key, value in clip.items():
        if key not in _CLIP_KEYS:
            close = difflib.get_close_matches(str(key), _CLIP_KEYS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise OptionError(
                f"{what}: unknown option {key!r}{hint}; accepted: clip_norm, clip_value"
            )
        number = isinstance(value, int | float) and not isinstance(value, bool)
        # `not value >= 0` also rejects NaN.
        if not number or not value >= 0:
            raise OptimizerError(f"{what}: {key} must be a number >= 0, got {value!r}")
    return dict(clip)
