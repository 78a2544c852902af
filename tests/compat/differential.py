"""Running one program through Pyro 1.9.2 and through tracegraph, and comparing.

A *program* is a function of a :class:`Lib`, the library it runs on: it reaches
everything through ``lib`` (``lib.pyro``, ``lib.dist``, ``lib.poutine`` and
``lib.mod(".poutine.runtime")``), so that one body runs on both.  Each library
runs it from the same state (seeds, an empty param store, validation on) and
its outcome is reduced to plain data by :func:`summarize`: traces become their
nodes in order (name, type, observed flag, value, distribution, scale, mask,
frames, ``infer``, message keys) and edges, tensors their dtype, shape and
values, exceptions the built-in exception type Pyro raised.  Warnings are
recorded too.

Known, deliberate differences are normalized here, each with its reason:

* ``infer["_subsample"]``: tracegraph marks a plate's index site with it (its
  inference code skips such sites by it); Pyro recognises them by their
  distribution.  The key is dropped before comparing.
* The plate index distribution is ``_Subsample`` in Pyro and
  ``SubsampleDistribution`` in tracegraph: same role, same log-prob.
"""

from __future__ import annotations

import collections
import importlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import torch

FN_ALIASES = {"_Subsample": "SubsampleDistribution"}
DROPPED_INFER_KEYS = {"_subsample"}


@dataclass
class Lib:
    """One of the two libraries, as a program sees it."""

    name: str  # "pyro" or "tracegraph"

    def mod(self, path: str = "") -> ModuleType:
        return importlib.import_module(self.name + path)

    @property
    def pyro(self) -> ModuleType:
        return self.mod()

    @property
    def dist(self) -> ModuleType:
        return self.mod(".distributions")

    @property
    def poutine(self) -> ModuleType:
        return self.mod(".poutine")

    @property
    def Trace(self) -> type:
        return self.mod(".poutine.trace_struct").Trace


PYRO = Lib("pyro")
TRACEGRAPH = Lib("tracegraph")

#: Every program of the zoo (the ``zoo_*.py`` modules), by name.
PROGRAMS: dict[str, Callable[[Lib], Any]] = {}


def program(fn: Callable[[Lib], Any]) -> Callable[[Lib], Any]:
    """Register ``fn`` in :data:`PROGRAMS`."""
    if fn.__name__ in PROGRAMS:
        raise ValueError(f"two zoo programs named {fn.__name__}")
    PROGRAMS[fn.__name__] = fn
    return fn


def traced(lib: Lib, model: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return lib.poutine.trace(model).get_trace(*args, **kwargs)


def with_log_probs(tr: Any) -> Any:
    tr.compute_log_prob()
    return tr, tr.log_prob_sum()


@dataclass
class Outcome:
    """What running a program gave: ``("ok", summary)`` or ``("raises", exc)``."""

    kind: str
    value: Any
    warnings: list[tuple[str, str]] = field(default_factory=list)


def _is_trace(x: Any) -> bool:
    return type(x).__name__ == "Trace" and hasattr(x, "nodes") and hasattr(x, "_succ")


def _fn_summary(fn: Any) -> Any:
    if fn is None:
        return None
    name = type(fn).__name__
    name = FN_ALIASES.get(name, name)
    if not hasattr(fn, "batch_shape") or name == "SubsampleDistribution":
        return name if isinstance(fn, object) and hasattr(fn, "log_prob") else "callable"
    return (name, tuple(fn.batch_shape), tuple(fn.event_shape))


def _node_summary(name: Any, site: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "keys": [k for k in site if k in _PYRO_KEYS]}
    for key in ("type", "is_observed"):
        if key in site:
            out[key] = site[key]
    if site.get("type") == "return":
        out["value"] = summarize(site.get("value"))
    if site.get("type") in ("args", "input"):
        out["args"] = summarize(site.get("args"))
    if site.get("type") in ("sample", "param"):
        out["value"] = summarize(site.get("value"))
        out["scale"] = summarize(site.get("scale"))
        out["mask"] = summarize(site.get("mask"))
        out["cond_indep_stack"] = summarize(tuple(site.get("cond_indep_stack", ())))
        infer = {k: v for k, v in (site.get("infer") or {}).items() if k not in DROPPED_INFER_KEYS}
        out["infer"] = summarize(infer)
    if site.get("type") == "sample":
        out["fn"] = _fn_summary(site.get("fn"))
        for key in ("log_prob", "unscaled_log_prob"):
            if key in site:
                out[key] = summarize(site[key])
    if site.get("type") == "param":
        out["args"] = [summarize(a) for a in site.get("args", ())[:1]]
        out["kwarg_names"] = sorted(site.get("kwargs", {}))
    return out


_PYRO_KEYS = [
    "type",
    "name",
    "fn",
    "is_observed",
    "args",
    "kwargs",
    "value",
    "infer",
    "scale",
    "mask",
    "cond_indep_stack",
    "done",
    "stop",
    "continuation",
]


def summarize(x: Any) -> Any:
    """Plain, comparable data for a program's result."""
    if _is_trace(x):
        return {
            "nodes": [_node_summary(n, s) for n, s in x.nodes.items()],
            "edges": sorted((str(a), str(b)) for a, b in x.edges),
        }
    if isinstance(x, torch.Tensor):
        t = x.detach()
        values = (
            t.tolist()
            if t.is_floating_point() is False
            else [round(v, 4) for v in t.flatten().tolist()]
        )
        return ("tensor", str(t.dtype), tuple(t.shape), values)
    if type(x).__name__ == "CondIndepStackFrame":
        return ("frame", x.name, x.dim, x.size, x.counter, x.full_size)
    if isinstance(x, collections.Counter):
        return ("Counter", sorted((str(k), v) for k, v in x.items()))
    if isinstance(x, dict):
        return {str(k): summarize(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x).__name__, [summarize(v) for v in x]
    if isinstance(x, float):
        return round(x, 6)
    if x is None or isinstance(x, (bool, int, str)):
        return x
    if isinstance(x, BaseException):
        return ("exception", builtin_base(x))
    return ("object", FN_ALIASES.get(type(x).__name__, type(x).__name__))


def builtin_base(exc: BaseException | type) -> str:
    """The most derived built-in exception class of ``exc`` (``ValueError``, ...)."""
    cls = exc if isinstance(exc, type) else type(exc)
    for klass in cls.__mro__:
        if klass.__module__ == "builtins":
            return klass.__name__
    return "Exception"


def _reset(lib: Lib) -> None:
    lib.pyro.set_rng_seed(0)
    lib.pyro.clear_param_store()
    lib.pyro.enable_validation(True)
    if lib.name == "pyro":
        lib.mod(".poutine.runtime")._PYRO_STACK.clear()


def run(lib: Lib, program: Callable[[Lib], Any]) -> Outcome:
    """Run ``program`` on ``lib`` from the common starting state."""
    _reset(lib)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            outcome = Outcome("ok", summarize(program(lib)))
        except Exception as exc:  # noqa: BLE001 - the outcome is what is compared
            outcome = Outcome("raises", exc)
    outcome.warnings = [
        (builtin_base(w.category), str(w.message).split(":")[0])
        for w in caught
        if issubclass(w.category, UserWarning)
    ]
    if lib.name == "pyro":
        lib.mod(".poutine.runtime")._PYRO_STACK.clear()
    return outcome


def first_difference(a: Any, b: Any, path: str = "result") -> str | None:
    """Where two summaries first differ, with both sides, or None."""
    if type(a) is not type(b):
        return f"{path}: {a!r} vs {b!r}"
    if isinstance(a, dict):
        if list(a) != list(b):
            return f"{path} keys: {list(a)} vs {list(b)}"
        for k in a:
            d = first_difference(a[k], b[k], f"{path}[{k!r}]")
            if d:
                return d
        return None
    if isinstance(a, (list, tuple)):
        if len(a) != len(b):
            return f"{path} length {len(a)} vs {len(b)}: {a!r} vs {b!r}"
        for i, (x, y) in enumerate(zip(a, b)):
            d = first_difference(x, y, f"{path}[{i}]")
            if d:
                return d
        return None
    if isinstance(a, float) and a != a and b != b:
        return None  # both NaN
    return None if a == b else f"{path}: {a!r} vs {b!r}"


def compare(program: Callable[[Lib], Any]) -> tuple[Outcome, Outcome]:
    """Both outcomes, checked: the same result, or exceptions where tracegraph's is
    an instance of the built-in type Pyro's is; the same warnings (by built-in
    category and the text before the first colon)."""
    theirs = run(PYRO, program)
    ours = run(TRACEGRAPH, program)
    if theirs.kind == "raises":
        assert ours.kind == "raises", (
            f"Pyro raised {type(theirs.value).__name__}: {theirs.value}; tracegraph gave "
            f"{ours.value}"
        )
        expected = getattr(__import__("builtins"), builtin_base(theirs.value))
        assert isinstance(ours.value, expected), (
            f"Pyro raised {builtin_base(theirs.value)} ({theirs.value}); tracegraph raised "
            f"{type(ours.value).__mro__} ({ours.value})"
        )
    else:
        assert ours.kind == "ok", f"tracegraph raised {ours.value!r}; Pyro gave {theirs.value}"
        where = first_difference(theirs.value, ours.value)
        assert where is None, f"first difference (Pyro vs tracegraph) at {where}"
    assert [w[0] for w in ours.warnings] == [w[0] for w in theirs.warnings], (
        ours.warnings,
        theirs.warnings,
    )
    return theirs, ours
