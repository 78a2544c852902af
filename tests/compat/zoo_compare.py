"""Run one piece of code against Pyro and tracegraph and diff what comes out.

The zoos (``program_zoo.py``, ``model_guide_zoo.py``) hold code written against a
library passed in as arguments.  :func:`run_in` runs such code in one library from
a fixed seed, with a clean param store and validation on, and turns whatever it
returned into a plain summary (traces become per-site dicts; tensors keep type,
dtype, shape, ``requires_grad`` and values).  :func:`compare` diffs the Pyro run
against the tracegraph run and returns one readable line per difference:

* a Pyro exception of type ``E`` must be matched by a tracegraph exception that is
  an instance of ``E`` (tracegraph's may be a subclass);
* a warning category Pyro emits must be emitted by tracegraph too (a subclass is
  fine), and tracegraph must not warn where Pyro does not;
* everything the code returned must agree (values with ``allclose``).
"""

from __future__ import annotations

import contextvars
import dataclasses
import math
import traceback
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import pyro
import pyro.distributions
import pyro.poutine
import pyro.poutine.runtime
import torch

import tracegraph
import tracegraph.distributions
import tracegraph.poutine
from tracegraph.poutine.runtime import get_handler_stack


class Lib(NamedTuple):
    name: str
    pyro: Any
    dist: Any
    poutine: Any


PYRO = Lib("pyro", pyro, pyro.distributions, pyro.poutine)
TRACEGRAPH = Lib("tracegraph", tracegraph, tracegraph.distributions, tracegraph.poutine)

#: Class names a user can reach as ``pyro.distributions.<name>``; a site's
#: distribution (class, shapes, ``has_rsample``) is compared only when Pyro's is one
#: of them (Pyro's private helpers such as the plate's ``_Subsample`` have no
#: counterpart to match).
PUBLIC_DISTRIBUTIONS = frozenset(n for n in dir(pyro.distributions) if not n.startswith("_"))

#: ``infer`` keys starting with ``_`` are private bookkeeping (enumeration's
#: ``_markov_scope``, ...) and are not compared, except these, which Pyro's public
#: code reads (``Predictive`` and ``get_model_relations`` look at ``_deterministic``).
COMPARED_PRIVATE_INFER_KEYS = frozenset({"_deterministic"})

RTOL = 1e-5
ATOL = 1e-6


@dataclasses.dataclass
class TensorSummary:
    type: str
    dtype: str
    shape: tuple[int, ...]
    requires_grad: bool
    values: torch.Tensor

    def __repr__(self) -> str:
        values = self.values if self.values.numel() <= 8 else f"<{self.values.numel()} values>"
        grad = ", requires_grad" if self.requires_grad else ""
        return f"{self.type}({values}, dtype={self.dtype}, shape={self.shape}{grad})"


@dataclasses.dataclass
class Seq:
    """A list or tuple (``kind``) of summaries."""

    kind: str
    items: list[Any]

    def __repr__(self) -> str:
        return f"{self.kind}{self.items!r}"


@dataclasses.dataclass
class Raised:
    """An operation inside the summary (e.g. ``log_prob_sum``) raised."""

    type: type[BaseException]
    message: str

    def __repr__(self) -> str:
        return f"raises {self.type.__name__}({self.message[:120]!r})"


@dataclasses.dataclass
class Outcome:
    lib: str
    summary: Any = None
    error: BaseException | None = None
    error_text: str = ""
    warnings: list[type[Warning]] = dataclasses.field(default_factory=list)
    warning_text: list[str] = dataclasses.field(default_factory=list)
    leftover_handlers: list[str] = dataclasses.field(default_factory=list)

    def describe(self) -> str:
        warned = sorted({c.__name__ for c in self.warnings})
        tail = f" (warns {', '.join(warned)})" if warned else ""
        if self.error is not None:
            first_line = (str(self.error).splitlines() or [""])[0][:200]
            return f"raises {type(self.error).__name__}: {first_line}{tail}"
        return f"runs{tail}"


# ------------------------------------------------ summaries


def _is_trace(obj: Any) -> bool:
    return type(obj).__name__ == "Trace" and hasattr(obj, "nodes") and hasattr(obj, "log_prob_sum")


def _is_frame(obj: Any) -> bool:
    return type(obj).__name__ == "CondIndepStackFrame"


def _tensor(t: torch.Tensor) -> TensorSummary:
    return TensorSummary(
        type=type(t).__name__,
        dtype=str(t.dtype),
        shape=tuple(t.shape),
        requires_grad=bool(t.requires_grad),
        values=t.detach().clone(),
    )


def _frame(f: Any) -> str:
    return f"{f.name}(dim={f.dim}, size={f.size}, counter={f.counter}, full_size={f.full_size})"


def _distribution(d: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": type(d).__name__}
    for attr in ("batch_shape", "event_shape"):
        if hasattr(d, attr):
            out[attr] = tuple(getattr(d, attr))
    if hasattr(d, "has_rsample"):
        out["has_rsample"] = bool(d.has_rsample)
    return out


def _infer(infer: Any) -> Any:
    if not isinstance(infer, dict):
        return summarize(infer)
    return {
        k: summarize(v)
        for k, v in infer.items()
        if not str(k).startswith("_") or k in COMPARED_PRIVATE_INFER_KEYS
    }


def _scale(scale: Any) -> Any:
    # Pyro keeps 1.0 as a float and a tensor scale as a tensor; either way what a
    # caller sees is a number per element, so compare as tensors.
    if isinstance(scale, (int, float)) and not isinstance(scale, bool):
        return _tensor(torch.as_tensor(float(scale)))
    if isinstance(scale, torch.Tensor):
        return _tensor(scale.to(torch.get_default_dtype()))
    return summarize(scale)


def _site(node: dict[str, Any]) -> dict[str, Any]:
    kind = node.get("type")
    out: dict[str, Any] = {"type": kind}
    if kind == "args":
        out["args"] = summarize(node.get("args"))
        out["kwargs"] = summarize(node.get("kwargs"))
        return out
    if kind == "return":
        out["value"] = summarize(node.get("value"))
        return out
    out["name"] = node.get("name")
    out["is_observed"] = node.get("is_observed")
    out["value"] = summarize(node.get("value"))
    out["infer"] = _infer(node.get("infer"))
    out["scale"] = _scale(node.get("scale"))
    out["mask"] = summarize(node.get("mask"))
    out["cond_indep_stack"] = [_frame(f) for f in node.get("cond_indep_stack", ())]
    if kind == "sample":
        out["fn"] = _distribution(node.get("fn"))
    return out


def _trace(tr: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "node_names": list(tr.nodes),
        "nodes": {str(name): _site(node) for name, node in tr.nodes.items()},
    }
    try:
        out["log_prob_sum"] = summarize(tr.log_prob_sum())
    except Exception as e:  # recorded and compared
        out["log_prob_sum"] = Raised(type(e), str(e))
    try:
        tr.compute_log_prob()
    except Exception as e:  # recorded and compared
        out["log_prob"] = Raised(type(e), str(e))
    else:
        out["log_prob"] = {
            str(name): summarize(node.get("log_prob"))
            for name, node in tr.nodes.items()
            if node.get("type") == "sample"
        }
    return out


def summarize(obj: Any) -> Any:
    """A plain, library-independent description of ``obj`` for :func:`diff`."""
    if _is_trace(obj):
        return {"<Trace>": _trace(obj)}
    if isinstance(obj, torch.Tensor):
        return _tensor(obj)
    if _is_frame(obj):
        return _frame(obj)
    if isinstance(obj, torch.distributions.Distribution):
        return {"<Distribution>": _distribution(obj)}
    if isinstance(obj, torch.Size):
        return ("Size", tuple(obj))
    if isinstance(obj, dict):
        return {"<dict>": {str(k): summarize(v) for k, v in obj.items()}}
    if isinstance(obj, (list, tuple)):
        return Seq(type(obj).__name__, [summarize(v) for v in obj])
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, torch.nn.Module):
        return ("module", type(obj).__name__)
    if callable(obj):
        return ("callable",)
    return ("object", type(obj).__name__)


# ------------------------------------------------ diff


def _show(x: Any) -> str:
    text = repr(x)
    return text if len(text) <= 300 else text[:300] + "..."


def _tensors_equal(a: TensorSummary, b: TensorSummary) -> bool:
    if a.values.dtype.is_floating_point or a.values.dtype.is_complex:
        return torch.allclose(
            a.values.to(b.values.dtype), b.values, rtol=RTOL, atol=ATOL, equal_nan=True
        )
    return torch.equal(a.values.to(b.values.dtype), b.values)


def _leaves_equal(a: list[Any], b: list[Any]) -> bool:
    return all(not diff(x, y) for x, y in zip(a, b))


def diff(a: Any, b: Any, path: str = "result") -> list[str]:
    """Differences between Pyro's summary ``a`` and tracegraph's ``b``, one per line."""
    if isinstance(a, TensorSummary) and isinstance(b, TensorSummary):
        out = []
        for field in ("type", "dtype", "shape", "requires_grad"):
            if getattr(a, field) != getattr(b, field):
                out.append(
                    f"{path}.{field}: pyro={getattr(a, field)!r} tracegraph={getattr(b, field)!r}"
                )
        if a.shape == b.shape and not _tensors_equal(a, b):
            out.append(f"{path}.values: pyro={_show(a.values)} tracegraph={_show(b.values)}")
        return out
    if isinstance(a, Seq) and isinstance(b, Seq):
        leaves = (str, int, float, bool, type(None))
        flat = all(isinstance(x, leaves) for x in a.items + b.items)
        if (
            a.kind != b.kind
            or len(a.items) != len(b.items)
            or (flat and not _leaves_equal(a.items, b.items))
        ):
            return [f"{path}: pyro={_show(a)} tracegraph={_show(b)}"]
        out = []
        for i, (x, y) in enumerate(zip(a.items, b.items)):
            out.extend(diff(x, y, f"{path}[{i}]"))
        return out
    if isinstance(a, Raised) and isinstance(b, Raised):
        if not issubclass(b.type, a.type):
            return [f"{path}: pyro {a!r}, tracegraph {b!r}"]
        return []
    if path.endswith(".fn") and isinstance(a, dict) and a.get("type") not in PUBLIC_DISTRIBUTIONS:
        return []
    if type(a) is not type(b):
        return [f"{path}: pyro={_show(a)} tracegraph={_show(b)}"]
    if isinstance(a, dict):
        out = []
        missing = [k for k in a if k not in b]
        extra = [k for k in b if k not in a]
        if missing:
            out.append(f"{path}: keys only in pyro: {missing}")
        if extra:
            out.append(f"{path}: keys only in tracegraph: {extra}")
        for k in a:
            if k in b:
                out.extend(diff(a[k], b[k], f"{path}.{k}"))
        if not missing and not extra and list(a) != list(b) and path.endswith("<dict>"):
            out.append(f"{path}: key order pyro={list(a)} tracegraph={list(b)}")
        return out
    if isinstance(a, (list, tuple)):
        leaves = (str, int, float, bool, type(None))
        flat = all(isinstance(x, leaves) for x in list(a) + list(b))
        if len(a) != len(b) or (flat and not _leaves_equal(list(a), list(b))):
            return [f"{path}: pyro={_show(a)} tracegraph={_show(b)}"]
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out.extend(diff(x, y, f"{path}[{i}]"))
        return out
    if isinstance(a, float):
        # Python floats here are losses (sums of float32 terms, some accumulated in
        # float64 by Pyro): an absolute tolerance of a few float32 ulps of O(1)
        # terms absorbs the summation order.
        same = math.isclose(a, b, rel_tol=RTOL, abs_tol=1e-5) or (math.isnan(a) and math.isnan(b))
        if not same:
            return [f"{path}: pyro={a!r} tracegraph={b!r}"]
        return []
    if a != b:
        return [f"{path}: pyro={_show(a)} tracegraph={_show(b)}"]
    return []


# ------------------------------------------------ running


def reset(lib: Lib, seed: int = 0) -> None:
    lib.pyro.set_rng_seed(seed)
    lib.pyro.clear_param_store()
    lib.pyro.enable_validation(True)


def run_in(lib: Lib, code: Callable[[Lib], Any], seed: int = 0) -> Outcome:
    """Run ``code(lib)`` from a fresh state and summarise its result, warnings and errors."""

    def body() -> Outcome:
        outcome = Outcome(lib.name)
        reset(lib, seed)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                outcome.summary = summarize(code(lib))
            except Exception as e:  # the outcome records it
                outcome.error = e
                outcome.error_text = "".join(traceback.format_exception(e)[-6:])
        outcome.warnings = [w.category for w in caught]
        outcome.warning_text = [f"{w.category.__name__}: {w.message}" for w in caught]
        if lib is TRACEGRAPH:
            outcome.leftover_handlers = [type(h).__name__ for h in get_handler_stack()]
        else:
            stack = pyro.poutine.runtime._PYRO_STACK
            outcome.leftover_handlers = [type(h).__name__ for h in stack]
            del stack[:]  # Pyro's global stack: clean it so the next run starts empty
        return outcome

    try:
        # tracegraph's handler stack is a ContextVar: a copied context keeps any
        # leftover handler out of the tests that follow.
        return contextvars.copy_context().run(body)
    finally:
        reset(lib, seed)


def _first_text(outcome: Outcome, category: type[Warning]) -> str:
    texts = [t for t in outcome.warning_text if t.startswith(category.__name__)]
    return repr(texts[0][:200]) if texts else ""


def _warning_problems(
    expected: Outcome, actual: Outcome, allowed: type[Warning] | None = None
) -> list[str]:
    out = []
    for cat in dict.fromkeys(expected.warnings):
        if not any(issubclass(c, cat) for c in actual.warnings):
            text = _first_text(expected, cat)
            out.append(f"pyro warns {cat.__name__}, tracegraph does not (pyro: {text})")
    for cat in dict.fromkeys(actual.warnings):
        if allowed is not None and issubclass(cat, allowed):
            continue
        if not any(issubclass(cat, c) for c in expected.warnings):
            out.append(
                f"tracegraph warns {cat.__name__}, pyro does not "
                f"(tracegraph: {_first_text(actual, cat)})"
            )
    return out


def compare(
    expected: Outcome, actual: Outcome, allowed_extra_warning: type[Warning] | None = None
) -> list[str]:
    """Every way in which tracegraph's outcome ``actual`` differs from Pyro's ``expected``.

    ``allowed_extra_warning`` is a category tracegraph may emit where Pyro is silent
    (for programs on which Pyro is silently wrong, issue 10 allows a warning).
    """
    problems: list[str] = []
    if expected.error is None and actual.error is None:
        problems.extend(diff(expected.summary, actual.summary))
        problems.extend(_warning_problems(expected, actual, allowed_extra_warning))
    elif expected.error is None:
        problems.append(
            f"pyro {expected.describe()}, tracegraph {actual.describe()}\n"
            f"--- tracegraph traceback:\n{actual.error_text}"
        )
    elif actual.error is None:
        problems.append(
            f"pyro {expected.describe()}, tracegraph {actual.describe()}\n"
            f"--- pyro traceback:\n{expected.error_text}"
        )
    elif not isinstance(actual.error, type(expected.error)):
        problems.append(
            f"pyro {expected.describe()}, tracegraph {actual.describe()} "
            f"(not an instance of {type(expected.error).__name__})\n"
            f"--- tracegraph traceback:\n{actual.error_text}"
        )
    else:
        problems.extend(_warning_problems(expected, actual, allowed_extra_warning))
    if actual.leftover_handlers:
        problems.append(f"tracegraph left handlers installed: {actual.leftover_handlers}")
    return problems


def report(what: str, problems: list[str]) -> str:
    return f"{what} differs from Pyro 1.9.2 ({len(problems)}):\n" + "\n".join(
        f"  - {p}" for p in problems
    )
