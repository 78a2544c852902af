"""Checking, loading and safely saving the state of per-param optimizers.

Checkpoints are written with ``torch.save`` and read with ``torch.load(...,
weights_only=True)``: only tensors, numbers, strings and containers of them are
unpickled, so a file cannot run code when loaded.

>>> import io, torch
>>> buffer = io.BytesIO(); torch.save({"w": {"state": {}, "param_groups": []}}, buffer)
>>> _ = buffer.seek(0); read_state(buffer, None, "buffer")
{'w': {'state': {}, 'param_groups': []}}
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from typing import IO, Any

import torch

from tracegraph.optim.clipped_adam import ClippedAdam
from tracegraph.optim.options import OptimizerError

__all__ = ["check_optimizer_state", "load_optimizer_state", "read_state", "write_state"]

# Types torch.load(weights_only=True) reads back; used only to point at the culprit
# when save() finds state it could not load safely.
_PLAIN_TYPES = (type(None), bool, int, float, complex, str, bytes, torch.Tensor, torch.Size)


def _find_unsafe(obj: Any, path: str) -> str | None:
    """The path of the first value in ``obj`` that is not a plain tensor/number/string."""
    if isinstance(obj, _PLAIN_TYPES) and type(obj).__module__ in ("builtins", "torch"):
        return None
    if isinstance(obj, dict):
        for key, value in obj.items():
            found = _find_unsafe(key, f"{path} key") or _find_unsafe(value, f"{path}[{key!r}]")
            if found:
                return found
        return None
    if isinstance(obj, list | tuple):
        for i, value in enumerate(obj):
            found = _find_unsafe(value, f"{path}[{i}]")
            if found:
                return found
        return None
    return f"{path} ({type(obj).__module__}.{type(obj).__qualname__})"


def _state_is_param_shaped(optimizer: torch.optim.Optimizer) -> bool:
    # torch's own optimizers keep every non-scalar state tensor in the shape of its
    # param -- except Adafactor, whose second moments are factored into row and
    # column vectors. A custom optimizer may store anything, so it is not checked.
    cls = type(optimizer)
    if cls is getattr(torch.optim, "Adafactor", None):
        return False
    return cls is ClippedAdam or cls.__module__.startswith("torch.optim.")


def check_optimizer_state(entry: Any, what: str) -> None:
    ok = (
        isinstance(entry, Mapping)
        and isinstance(entry.get("state"), Mapping)
        and isinstance(entry.get("param_groups"), list | tuple)
        and len(entry["param_groups"]) == 1
        and isinstance(entry["param_groups"][0], Mapping)
        and len(entry["param_groups"][0].get("params", ())) == 1
    )
    if not ok:
        raise OptimizerError(
            f"{what} is not the state of a one-param torch optimizer (expected "
            f"{{'state': {{...}}, 'param_groups': [one group holding one param]}}), "
            f"got {type(entry).__name__}; pass a state from get_state()"
        )


def load_optimizer_state(
    optimizer: torch.optim.Optimizer, param: torch.Tensor, state: Mapping[str, Any], what: str
) -> None:
    """Load a one-param optimizer state into ``optimizer`` after checking its shapes.

    :param optimizer: a torch optimizer over ``param`` only.
    :param param: the param it optimizes.
    :param state: a ``state_dict()`` of such an optimizer.
    :param what: names the param in errors.
    :raises OptimizerError: when a state tensor's shape differs from the param's.

    >>> import torch
    >>> x = torch.zeros(3, requires_grad=True)
    >>> optimizer = torch.optim.SGD([x], lr=0.1, momentum=0.9)
    >>> bad = {"state": {0: {"momentum_buffer": torch.zeros(2)}},
    ...        "param_groups": [dict(optimizer.param_groups[0], params=[0])]}
    >>> load_optimizer_state(optimizer, x, bad, "param 'x'")
    Traceback (most recent call last):
    ...
    tracegraph.errors.OptimizerError: state for param 'x': 'momentum_buffer' has shape...
    """
    check_optimizer_state(state, f"state for {what}")
    if _state_is_param_shaped(optimizer):
        for per_param in state["state"].values():
            for key, value in per_param.items():
                if (
                    isinstance(value, torch.Tensor)
                    and value.dim() > 0
                    and value.shape != param.shape
                ):
                    raise OptimizerError(
                        f"state for {what}: {key!r} has shape {tuple(value.shape)} but the "
                        f"param has shape {tuple(param.shape)}; was the state saved for a "
                        f"differently sized param?"
                    )
    optimizer.load_state_dict(dict(state))


def write_state(state: Any, filename: str | os.PathLike[str]) -> None:
    """Write ``state`` to ``filename``, after checking it reads back weights-only.

    The check comes first, so an unloadable checkpoint is refused now rather than
    discovered later, and an existing file is then left alone.

    :param state: nested dicts/lists of tensors, numbers and strings.
    :param filename: the path to write.
    :raises OptimizerError: naming the first value that is not plain data.

    >>> import numpy as np, os, tempfile
    >>> write_state({"lr": np.float64(0.1)}, os.path.join(tempfile.mkdtemp(), "x.pt"))
    Traceback (most recent call last):
    ...
    tracegraph.errors.OptimizerError: save: optimizer state holds state['lr'] (numpy...
    """
    buffer = io.BytesIO()
    torch.save(state, buffer)
    try:
        torch.load(io.BytesIO(buffer.getvalue()), weights_only=True)
    except Exception as exc:
        culprit = _find_unsafe(state, "state")
        raise OptimizerError(
            f"save: optimizer state holds {culprit or 'an object'} that cannot be "
            f"loaded safely; give options as plain Python numbers, strings and tensors"
        ) from exc
    with open(filename, "wb") as f:
        f.write(buffer.getvalue())


def read_state(f: IO[bytes], map_location: Any, what: str) -> Any:
    """Unpickle plain data from ``f`` with ``torch.load(..., weights_only=True)``.

    :param f: an open binary file.
    :param map_location: as for ``torch.load``.
    :param what: names the file in errors.
    :returns: the data.
    :raises OptimizerError: for a corrupt file or one holding other objects (their
        code is never run).

    >>> import io
    >>> read_state(io.BytesIO(b"garbage"), None, "'x.pt'")
    Traceback (most recent call last):
    ...
    tracegraph.errors.OptimizerError: load: 'x.pt' is not a safe optimizer checkpoint...
    """
    try:
        return torch.load(f, map_location=map_location, weights_only=True)
    except Exception as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise OptimizerError(
            f"load: {what} is not a safe optimizer checkpoint (only tensors, numbers "
            f"and strings are read, never other pickled objects): {first_line}"
        ) from exc
