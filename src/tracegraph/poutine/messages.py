"""What handlers pass around: the message of a site (:class:`Message`, Pyro's
keys), its ``infer`` dict (:class:`InferDict`) and the plate frames of its
``cond_indep_stack`` (:class:`CondIndepStackFrame`).

>>> m = new_sample_message("z", lambda: 0.0)
>>> m["type"], m["cond_indep_stack"], m["infer"]
('sample', (), {})
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, NamedTuple, TypedDict

import torch

__all__ = [
    "CondIndepStackFrame",
    "InferDict",
    "Message",
    "describe_site",
    "new_message",
    "new_sample_message",
]


class CondIndepStackFrame(NamedTuple):
    """One plate around a site: ``name``, tensor ``dim`` (None when sequential),
    ``size`` (the subsample size), ``counter`` (iteration of a sequential plate)
    and ``full_size`` (the size before subsampling).

    Frames compare and hash by ``(name, dim, size, counter)``, as Pyro's do:
    ``full_size`` is information, not identity.  ``str(frame)`` is the plate's name.

    >>> f = CondIndepStackFrame("data", -1, 10, 0, 100)
    >>> f.vectorized, f.full_size, str(f)
    (True, 100, 'data')
    >>> f == CondIndepStackFrame("data", -1, 10, 0, 7), f == ("data", -1, 10, 0, 100)
    (True, False)
    """

    name: str
    dim: int | None
    size: int
    counter: int
    full_size: int | None = None

    @property
    def vectorized(self) -> bool:
        return self.dim is not None

    def _key(self) -> tuple[Any, int | None, int, int]:
        return self.name, self.dim, self.size, self.counter

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CondIndepStackFrame):
            return False
        return self._key() == other._key()

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(self._key())

    def __str__(self) -> str:
        return str(self.name)


class InferDict(TypedDict, total=False):
    """The keys of a site's ``infer`` dict that Pyro and tracegraph read.

    >>> infer: InferDict = {"is_auxiliary": True}
    >>> "enumerate" in InferDict.__annotations__
    True
    """

    enumerate: Literal["sequential", "parallel"]
    expand: bool
    is_auxiliary: bool
    is_observed: bool
    num_samples: int
    obs: torch.Tensor | None
    prior: Any
    tmc: Literal["diagonal", "mixture"]
    was_observed: bool
    baseline: dict[str, Any]
    _deterministic: bool
    _do_not_trace: bool
    _markov_scope: Any
    _markov_depth: int


class Message(TypedDict, total=False):
    """A site as handlers see it (Pyro's keys).

    >>> sorted(new_sample_message("z", lambda: 0.0)) == sorted(
    ...     k for k in Message.__annotations__
    ...     if k not in ("obs", "control_provenance", "value_parents")
    ... )
    True
    """

    type: str
    name: Any
    fn: Callable[..., Any]
    is_observed: bool
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    value: Any
    scale: Any
    mask: Any
    cond_indep_stack: tuple[CondIndepStackFrame, ...]
    done: bool
    stop: bool
    continuation: Callable[[Message], None] | None
    infer: dict[str, Any]
    obs: Any
    # Sites whose values decided Python control flow before this site ran
    # (recorded by TrackProvenanceMessenger).
    control_provenance: frozenset[str]
    # What a tagged latent value was computed from, when its provenance holds
    # only its own name (TrackProvenanceMessenger(direct=True)).
    value_parents: frozenset[str]


def new_message(
    type: str,
    name: Any,
    fn: Callable[..., Any],
    *args: Any,
    value: Any = None,
    is_observed: bool = False,
    infer: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Message:
    """Build a message with every key set to its default, keys in the order of
    Pyro's effectful messages (``infer`` last).

    :param type: the effect (``"sample"``, ``"param"``, ``"plate"``, ...).
    :param name: the site name.
    :param fn: what the default action calls: ``fn(*args, **kwargs)``.
    :returns: a fresh :class:`Message`.

    >>> m = new_message("param", "w", lambda: 1)
    >>> m["scale"], m["mask"], m["cond_indep_stack"], m["stop"], list(m)[-1]
    (1.0, None, (), False, 'infer')
    """
    return {
        "type": type,
        "name": name,
        "fn": fn,
        "is_observed": is_observed,
        "args": args,
        "kwargs": kwargs,
        "value": value,
        "scale": 1.0,
        "mask": None,
        "cond_indep_stack": (),
        "done": False,
        "stop": False,
        "continuation": None,
        "infer": {} if infer is None else infer,
    }


def new_sample_message(
    name: Any,
    fn: Callable[..., Any],
    *args: Any,
    value: Any = None,
    is_observed: bool = False,
    infer: dict[str, Any] | None = None,
    type: str = "sample",
    **kwargs: Any,
) -> Message:
    """Build a sample message, keys in the order of Pyro's ``sample`` messages
    (``infer`` right after ``value``).

    >>> list(new_sample_message("z", lambda: 0.0))[6:8]
    ['value', 'infer']
    """
    return {
        "type": type,
        "name": name,
        "fn": fn,
        "is_observed": is_observed,
        "args": args,
        "kwargs": kwargs,
        "value": value,
        "infer": {} if infer is None else infer,
        "scale": 1.0,
        "mask": None,
        "cond_indep_stack": (),
        "done": False,
        "stop": False,
        "continuation": None,
    }


def _shape(x: Any) -> str:
    shape = getattr(x, "shape", None)
    return str(tuple(shape)) if shape is not None else type(x).__name__


def describe_site(msg: Any) -> str:
    """One line saying what an error note needs to know about a site: its name,
    distribution and shapes, value shape, mask shape and plates.

    >>> import torch
    >>> m = new_sample_message("x", torch.distributions.Normal(torch.zeros(3), 1.0))
    >>> m["cond_indep_stack"] = (CondIndepStackFrame("data", -1, 3, 0, 3),)
    >>> describe_site(m)
    "site 'x': Normal with batch_shape (3,), event_shape (); plates: 'data' (dim -1, size 3)"
    """
    fn = msg.get("fn")
    if isinstance(fn, type):  # a class where an instance belongs: no shapes to read
        parts = [f"site {msg.get('name')!r}: the class {fn.__name__}"]
    else:
        parts = [f"site {msg.get('name')!r}: {type(fn).__name__}"]
    if not isinstance(fn, type) and hasattr(fn, "batch_shape") and hasattr(fn, "event_shape"):
        parts.append(
            f" with batch_shape {tuple(fn.batch_shape)}, event_shape {tuple(fn.event_shape)}"
        )
    value = msg.get("value")
    if value is not None:
        parts.append(f", value shape {_shape(value)}")
    mask = msg.get("mask")
    if mask is not None and not isinstance(mask, bool):
        parts.append(f", mask shape {_shape(mask)}")
    frames = [
        f"{f.name!r} (dim {f.dim}, size {f.size})"
        if f.dim is not None
        else f"{f.name!r} (sequential, iteration {f.counter})"
        for f in msg.get("cond_indep_stack", ())
    ]
    parts.append(f"; plates: {', '.join(frames)}" if frames else "; no plates")
    return "".join(parts)
