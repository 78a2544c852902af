"""Running one piece of code through Pyro 1.9.2 and through tracegraph, and diffing.

A *program* of the zoos (``zoo_*.py``) is a function of a :class:`Lib`, the
library it runs on: it reaches everything through ``lib`` (``lib.pyro``,
``lib.dist``, ``lib.poutine``, ``lib.mod(".poutine.runtime")``), so that one body
runs on both.  A model--guide *pair* (``model_guide_zoo.py``) is built the same
way and run through ``SVI.step``.

:func:`run_in` runs such code in one library from a fixed state (seed, empty
param store, validation on, no handler left over) and reduces what it returned
to plain data (:func:`summarize`): traces become their node names and, per site,
type, observed flag, value, distribution (class, shapes, ``has_rsample``),
``infer``, scale, mask, ``cond_indep_stack``, message keys and log-probs, plus
the edges and ``log_prob_sum``; tensors keep type, dtype, shape,
``requires_grad`` and values.  :func:`compare` lists every way tracegraph's
outcome differs from Pyro's:

* a Pyro exception must be matched by a tracegraph exception of its type
  (tracegraph's may be a subclass; for Pyro's own classes, the class name and
  the built-in base must match);
* every warning category Pyro emits must be emitted by tracegraph (a subclass is
  fine), and tracegraph must not warn where Pyro does not;
* everything returned must agree (tensors with ``allclose``).

Where tracegraph deliberately differs, the entry is listed in
:data:`DIFFERENCES` with what each library does and the phrase of the bullet in
``docs/pyro-differences.md`` that explains why; the tests then assert
tracegraph's documented outcome instead of Pyro's.

Normalized on purpose: ``infer`` keys starting with ``_`` (private bookkeeping,
e.g. enumeration's ``_markov_scope``) except ``_deterministic``, which Pyro's
public code reads; a site's distribution is compared only when Pyro's class is
public in ``pyro.distributions`` (the plate index distribution is Pyro's private
``_Subsample``).
"""

from __future__ import annotations

import collections
import contextvars
import dataclasses
import importlib
import math
import pathlib
import traceback
import warnings
from collections.abc import Callable
from types import ModuleType
from typing import Any

import torch

RTOL = 1e-5
ATOL = 1e-6
DOCS = pathlib.Path(__file__).resolve().parents[2] / "docs" / "pyro-differences.md"


@dataclasses.dataclass(frozen=True)
class Lib:
    """One of the two libraries, as a program sees it."""

    name: str  # "pyro" or "tracegraph"

    def mod(self, path: str = "") -> ModuleType:
        return importlib.import_module(self.name + path)

    @property
    def pyro(self) -> Any:
        return self.mod()

    @property
    def dist(self) -> Any:
        return self.mod(".distributions")

    @property
    def poutine(self) -> Any:
        return self.mod(".poutine")

    @property
    def Trace(self) -> type:
        return self.mod(".poutine.trace_struct").Trace


PYRO = Lib("pyro")
TRACEGRAPH = Lib("tracegraph")

#: Every program of the zoo (the ``zoo_*.py`` modules), by name.
PROGRAMS: dict[str, Callable[[Lib], Any]] = {}


def program(fn: Callable[[Lib], Any]) -> Callable[[Lib], Any]:
    """Register ``fn`` in :data:`PROGRAMS` under its own name."""
    if fn.__name__ in PROGRAMS:
        raise ValueError(f"two zoo programs named {fn.__name__}")
    PROGRAMS[fn.__name__] = fn
    return fn


def traced(lib: Lib, model: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return lib.poutine.trace(model).get_trace(*args, **kwargs)


def with_log_probs(tr: Any) -> Any:
    tr.compute_log_prob()
    return tr, tr.log_prob_sum()


# ------------------------------------------------ deliberate differences


@dataclasses.dataclass(frozen=True)
class Difference:
    """A deliberate difference: what Pyro does, what tracegraph does instead
    (``"runs"`` or an exception class name, ours may be a subclass of the one
    named), and a phrase of the ``docs/pyro-differences.md`` bullet giving the
    reason."""

    pyro: str
    ours: str
    doc: str


#: Zoo entries (programs by name, pairs as ``"<pair>[<ELBO>]"``) on which
#: tracegraph deliberately differs from Pyro.
DIFFERENCES: dict[str, Difference] = {
    "lenient_param_init_outside_support": Difference(
        pyro="runs",
        ours="SiteError",
        doc="A param whose initial value maps to a non-finite unconstrained value is refused",
    ),
    "error_nested_sequential_plate_reused_name": Difference(
        pyro="RuntimeError",
        ours="runs",
        doc="A plate that does not subsample may be built again in one run",
    ),
    "bad_enumerate_in_model_only[TraceGraph_ELBO]": Difference(
        pyro="KeyError",
        ours="runs",
        doc="`TraceGraph_ELBO` runs a model latent that the guide lacks",
    ),
    "bad_discrete_latent_missing_from_guide[TraceGraph_ELBO]": Difference(
        pyro="KeyError",
        ours="runs",
        doc="`TraceGraph_ELBO` runs a model latent that the guide lacks",
    ),
    # Documented examples and held-out programs (test_documented_examples.py):
    "doc_masked_mixture_switches_components": Difference(
        pyro="runs",
        ours="runs",
        doc="`MaskedMixture`, `VonMises3D` and `ZeroInflated*` expand to their own class",
    ),
    "held_out_mixture_with_tracegraph_and_baselines": Difference(
        pyro="runs",
        ours="runs",
        doc="The plate rule is sound, so the first step may differ from later ones.",
    ),
    "held_out_hmm_discrete_states_tracegraph": Difference(
        pyro="runs",
        ours="runs",
        doc="Sites after a decision on a latent's value depend on it.",
    ),
    "held_out_optimizer_state_loaded_before_first_step": Difference(
        pyro="runs",
        ours="runs",
        doc="`get_state` keeps state that was set but not yet used",
    ),
    "held_out_trace_copy_site_edit_leaves_original": Difference(
        pyro="runs",
        ours="runs",
        doc="`Trace.copy` copies each site's dict",
    ),
    "held_out_mean_field_entropy_of_plated_sites": Difference(
        pyro="RuntimeError",
        ours="runs",
        doc="`mean_field_entropy` sums each site's entropy over its batch dims.",
    ),
    "held_out_jit_elbos": Difference(
        pyro="runs",
        ours="runs",
        doc="The `Jit` ELBOs draw as the eager ones do",
    ),
}


def _names(outcome: Outcome) -> list[str]:
    if outcome.error is None:
        return ["runs"]
    return [k.__name__ for k in type(outcome.error).__mro__]


def check_difference(expected: Outcome, actual: Outcome, difference: Difference) -> list[str]:
    """Problems with a documented difference: Pyro no longer behaves as recorded,
    tracegraph does not do what the docs say, or the docs lack the bullet."""
    problems = []
    if difference.pyro not in _names(expected):
        problems.append(f"recorded that pyro {difference.pyro}, but pyro {expected.describe()}")
    if difference.ours not in _names(actual):
        problems.append(
            f"documented that tracegraph {difference.ours}, but tracegraph {actual.describe()}"
        )
    if " ".join(difference.doc.split()) not in " ".join(DOCS.read_text().split()):
        problems.append(f"docs/pyro-differences.md has no bullet saying {difference.doc!r}")
    if actual.leftover_handlers:
        problems.append(f"tracegraph left handlers installed: {actual.leftover_handlers}")
    return problems


# ------------------------------------------------ summaries


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
    """An exception: raised by an operation inside the summary (``log_prob_sum``)
    or returned by the program."""

    type: type[BaseException]
    message: str

    def __repr__(self) -> str:
        return f"raises {self.type.__name__}({self.message[:120]!r})"


#: The keys of a Pyro message; a site's summary lists those it has, in order.
MESSAGE_KEYS = (
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
)

#: ``infer`` keys starting with ``_`` that are compared (Pyro's public code reads them).
COMPARED_PRIVATE_INFER_KEYS = frozenset({"_deterministic"})


def _public_distributions() -> frozenset[str]:
    return frozenset(n for n in dir(PYRO.dist) if not n.startswith("_"))


def _is_trace(obj: Any) -> bool:
    return type(obj).__name__ == "Trace" and hasattr(obj, "nodes") and hasattr(obj, "_succ")


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
    out: dict[str, Any] = {"type": kind, "keys": [k for k in MESSAGE_KEYS if k in node]}
    if kind in ("args", "input"):
        out["args"] = summarize(node.get("args"))
        out["kwargs"] = summarize(node.get("kwargs"))
        return out
    if kind == "return":
        out["value"] = summarize(node.get("value"))
        return out
    out["name"] = summarize(node.get("name"))
    out["is_observed"] = node.get("is_observed")
    out["value"] = summarize(node.get("value"))
    out["infer"] = _infer(node.get("infer"))
    out["scale"] = _scale(node.get("scale"))
    out["mask"] = summarize(node.get("mask"))
    out["cond_indep_stack"] = [_frame(f) for f in node.get("cond_indep_stack", ())]
    if kind == "sample":
        out["fn"] = _distribution(node.get("fn"))
    if kind == "param":
        out["args"] = [summarize(a) for a in node.get("args", ())[:1]]
        out["kwarg_names"] = sorted(node.get("kwargs", {}))
    for key in ("log_prob", "unscaled_log_prob"):
        if key in node:
            out[key] = summarize(node[key])
    return out


def _trace(tr: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "node_names": [str(n) for n in tr.nodes],
        "nodes": {str(name): _site(node) for name, node in tr.nodes.items()},
        "edges": sorted((str(a), str(b)) for a, b in tr.edges),
    }
    # Computing log-probs adds keys to the nodes; they are removed again, since
    # Pyro's Trace.copy shares node dicts and a later summary must not see them.
    before = {name: set(node) for name, node in tr.nodes.items()}
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
    for name, node in tr.nodes.items():
        for key in set(node) - before.get(name, set(node)):
            del node[key]
    return out


def summarize(obj: Any) -> Any:
    """A plain, library-independent description of ``obj`` for :func:`diff`."""
    if _is_trace(obj):
        return {"<Trace>": _trace(obj)}
    if isinstance(obj, torch.Tensor):
        return _tensor(obj)
    if type(obj).__name__ == "CondIndepStackFrame":
        return _frame(obj)
    if isinstance(obj, torch.distributions.Distribution):
        return {"<Distribution>": _distribution(obj)}
    if isinstance(obj, torch.Size):
        return ("Size", tuple(obj))
    if isinstance(obj, collections.Counter):
        return ("Counter", sorted((str(k), v) for k, v in obj.items()))
    if isinstance(obj, dict):
        return {"<dict>": {str(k): summarize(v) for k, v in obj.items()}}
    if isinstance(obj, (list, tuple)):
        return Seq(type(obj).__name__, [summarize(v) for v in obj])
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, BaseException):
        return Raised(type(obj), str(obj))
    if isinstance(obj, torch.nn.Module):
        return ("module", type(obj).__name__)
    if callable(obj) and not hasattr(obj, "log_prob"):
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


def builtin_base(exc: BaseException | type) -> type:
    """The most derived built-in exception class of ``exc`` (``ValueError``, ...)."""
    cls = exc if isinstance(exc, type) else type(exc)
    for klass in cls.__mro__:
        if klass.__module__ == "builtins":
            return klass
    return Exception


def same_exception_type(expected: type, actual: type) -> bool:
    """Whether tracegraph's exception class ``actual`` matches Pyro's ``expected``:
    a subclass of a built-in ``expected``, or for Pyro's own classes, a class of
    the same name (or with a base of that name) and the same built-in base."""
    if expected.__module__ == "builtins":
        return issubclass(actual, expected)
    same_name = any(k.__name__ == expected.__name__ for k in actual.__mro__)
    return same_name and issubclass(actual, builtin_base(expected))


def _leaves_equal(a: list[Any], b: list[Any]) -> bool:
    return all(not diff(x, y) for x, y in zip(a, b))


_LEAVES = (str, int, float, bool, type(None))


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
        flat = all(isinstance(x, _LEAVES) for x in a.items + b.items)
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
        if not same_exception_type(a.type, b.type):
            return [f"{path}: pyro {a!r}, tracegraph {b!r}"]
        return []
    if (
        path.endswith(".fn")
        and isinstance(a, dict)
        and a.get("type") not in _public_distributions()
    ):
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
        flat = all(isinstance(x, _LEAVES) for x in list(a) + list(b))
        if len(a) != len(b) or (flat and not _leaves_equal(list(a), list(b))):
            return [f"{path}: pyro={_show(a)} tracegraph={_show(b)}"]
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out.extend(diff(x, y, f"{path}[{i}]"))
        return out
    if isinstance(a, float):
        # Python floats here are mostly losses (sums of float32 terms, some
        # accumulated in float64 by Pyro): an absolute tolerance of a few float32
        # ulps of O(1) terms absorbs the summation order.
        same = math.isclose(a, b, rel_tol=RTOL, abs_tol=1e-5) or (math.isnan(a) and math.isnan(b))
        return [] if same else [f"{path}: pyro={a!r} tracegraph={b!r}"]
    if a != b:
        return [f"{path}: pyro={_show(a)} tracegraph={_show(b)}"]
    return []


# ------------------------------------------------ running


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


def _pyro_stack() -> list[Any]:
    return PYRO.mod(".poutine.runtime")._PYRO_STACK


def reset(lib: Lib, seed: int = 0) -> None:
    lib.pyro.set_rng_seed(seed)
    lib.pyro.clear_param_store()
    lib.pyro.enable_validation(True)


def run_in(lib: Lib, code: Callable[[Lib], Any], seed: int = 0) -> Outcome:
    """Run ``code(lib)`` from a fresh state and summarise its result, warnings and errors."""

    def body() -> Outcome:
        outcome = Outcome(lib.name)
        if lib is PYRO:
            del _pyro_stack()[:]
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
        if lib is PYRO:
            stack = _pyro_stack()
            outcome.leftover_handlers = [type(h).__name__ for h in stack]
            del stack[:]  # Pyro's global stack: clean it so the next run starts empty
        else:
            runtime = lib.mod(".poutine.runtime")
            outcome.leftover_handlers = [type(h).__name__ for h in runtime.get_handler_stack()]
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
    elif not same_exception_type(type(expected.error), type(actual.error)):
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


def check(name: str, code: Callable[[Lib], Any]) -> tuple[Outcome, Outcome]:
    """Run ``code`` in both libraries and assert the outcomes agree, or, for an
    entry of :data:`DIFFERENCES`, that both do what is recorded and documented."""
    expected = run_in(PYRO, code)
    actual = run_in(TRACEGRAPH, code)
    difference = DIFFERENCES.get(name)
    if difference is not None:
        problems = check_difference(expected, actual, difference)
        assert not problems, report(f"{name!r} (a documented difference)", problems)
    else:
        problems = compare(expected, actual)
        assert not problems, report(repr(name), problems)
    return expected, actual
