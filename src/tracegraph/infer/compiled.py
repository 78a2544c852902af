"""A compiled SVI step: the whole of ``loss_and_grads`` (model, guide, cost terms,
surrogate and backward) as one graph, replayed without Python.

Once an estimator with a structure cache (:mod:`tracegraph.infer.jit`) knows a
model's dependency sets, a later step needs no provenance: it is a fixed sequence
of tensor operations from the params, the baseline averages and the data to the
loss and the gradients.  :func:`trace_step` runs one real step under
``make_fx`` (``torch.fx``), which records every operation that runs, backward
included, into a :class:`torch.fx.GraphModule`; the handlers, traces,
distributions and cost bookkeeping are Python and leave nothing in it.  Later
steps replay the graph, first as it is and, once a background thread has
compiled it with inductor, as fused kernels.  Random operations stay torch's own
(inductor's ``fallback_random``), so a replay draws exactly what an eager step
draws from the same generator state, and its loss and gradients equal eager
ones.

**What a replay assumes, and how each assumption is checked.**

* *The same structure.* A graph is one path through the program.  Every value
  the recorded run read into Python (``.item()``, ``bool(t)``, ``if t > 0``:
  torch's ``_local_scalar_dense``) is a guard: the replay returns those tensors
  and the step is accepted only if each has the recorded value.  A replay that
  fails a guard (or raises) is thrown away; the generators are set back and the
  step runs eagerly, which may record another plan (up to :data:`MAX_PLANS`).
  So a latent, a param or a data value that decides control flow can never be
  miscompiled.  Operations whose output *shape* depends on values (``nonzero``,
  masked indexing) make a program not compilable: it stays eager.
* *The same inputs.* Tensor arguments must keep their shapes, dtypes and
  devices; other arguments must compare equal to the recorded ones; the param
  store must hold the same leaf tensors.  Otherwise the step runs eagerly.
* *The structure was validated.* A step is recorded with validation off (the
  eager step that found the structure ran the checks), so replays skip the
  per-step checks of values (``NaN`` log-densities, supports).
* *Nothing else decides the path.* Control flow on Python state that is not a
  tensor (a global counter, ``random.random()``) is invisible to a graph, as to
  any tracing compiler; so are Python side effects, which run in the recorded
  step only.  Under validation each plan's first replay, and its first compiled
  replay, are checked against an eager step on the same draws, and a difference
  raises :class:`CompiledStepError` naming what to do.
* *Every learnable tensor is a param.* Tensors that require grad and are not in
  the param store (a module not registered with ``tracegraph.module``) make a
  program not compilable.

>>> import torch
>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> from tracegraph.infer import JitTraceGraph_ELBO
>>> from tracegraph.infer.compiled import prepare
>>> def model():
...     z = tracegraph.sample("z", dist.Bernoulli(0.3))
...     tracegraph.sample("x", dist.Normal(2.0 * z, 1.0), obs=torch.tensor(1.0))
>>> def guide():
...     p = tracegraph.param("p", torch.tensor(0.5), constraint=dist.constraints.unit_interval)
...     tracegraph.sample("z", dist.Bernoulli(p))
>>> prepare(wait=True)  # else the first steps run eagerly while it loads
True
>>> elbo = JitTraceGraph_ELBO(jit_options={"inductor": False})
>>> losses = [elbo.loss_and_grads(model, guide) for _ in range(5)]
>>> len(elbo._plans), elbo._plans[0].replays
(1, 2)
"""

from __future__ import annotations

import atexit
import copy
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.utils._pytree as pytree
from torch.distributions import transform_to
from torch.fx.experimental.proxy_tensor import make_fx
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

from tracegraph.errors import TracegraphError, TracegraphWarning
from tracegraph.infer.baselines import DecayingAverage, redirected_averages
from tracegraph.params import get_param_store
from tracegraph.poutine.messenger import Messenger
from tracegraph.poutine.runtime import Message
from tracegraph.primitives import validation_enabled

__all__ = [
    "MAX_PLANS",
    "CompiledStepError",
    "NotCompilable",
    "Plan",
    "prepare",
    "split_arguments",
    "trace_step",
]

#: Plans (compiled paths through a program) an estimator keeps; past it, steps
#: that match none run eagerly.
MAX_PLANS = 8


#: One recording or compilation at a time: ``make_fx`` and inductor keep
#: process-wide state.  Background threads wait for it; the calling thread never
#: does (a step that finds it taken runs eagerly).
_COMPILE_LOCK = threading.Lock()

# The machinery a recording and a compilation need (torch._dynamo and inductor,
# seconds to import), loaded once per process by a background thread that the
# first compiled-capable step starts; steps stay eager until it is ready.
_TOOLS: dict[str, Any] = {}
_TOOLS_READY = threading.Event()
_TOOLS_START = threading.Lock()
_THREADS: list[threading.Thread] = []


def prepare(wait: bool = False, timeout: float | None = None) -> bool:
    """Start loading, in a background thread, what recording and compiling a
    step need (once per process); whether it is loaded.

    The Jit ELBOs call it at their first step and run eager steps until it is
    done, so the imports (seconds) never stall the calling thread.  ``wait=True``
    blocks until it is loaded (at most ``timeout`` seconds): for tests and
    benchmarks that want the recording at the second step.

    >>> prepare(wait=True)
    True
    """
    if not _TOOLS_READY.is_set():
        with _TOOLS_START:
            if not _TOOLS:
                _TOOLS["started"] = True
                # Importing inductor imports torch.utils.mkldnn, which warns about
                # torch.jit's deprecation (nothing of it concerns the user).  Warning
                # filters are process-wide, so they are set here, on the calling
                # thread, for this one short import (~25 ms).
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)
                    try:
                        import torch.utils.mkldnn  # noqa: F401
                    except ImportError:  # pragma: no cover - a build without it
                        pass
                _start(_load_tools, "tracegraph-prepare")
        if wait:
            _TOOLS_READY.wait(timeout)
    return _TOOLS_READY.is_set()


def _start(target: Callable[[], None], name: str) -> threading.Thread:
    thread = threading.Thread(target=target, name=name, daemon=True)
    _THREADS.append(thread)
    thread.start()
    return thread


_EXITING = threading.Event()
_EXIT_WAIT = 10.0


def _exiting() -> None:
    # Runs before the thread pools shut down (inductor's among them): a
    # compilation still running fails from here on, which is no news.
    _EXITING.set()


@atexit.register
def _join_threads() -> None:
    # A daemon thread stopped inside torch's C++ code at interpreter exit can
    # abort the process: let running imports and compilations end first.
    # At most _EXIT_WAIT seconds in all: a compilation can take a minute, and a
    # finished program must not hang on it.
    _EXITING.set()
    deadline = time.monotonic() + _EXIT_WAIT
    for thread in list(_THREADS):
        thread.join(max(0.0, deadline - time.monotonic()))


getattr(threading, "_register_atexit", atexit.register)(_exiting)


def _load_tools() -> None:
    try:
        with _COMPILE_LOCK:
            # make_fx imports inductor's config (and with it torch._dynamo) on
            # every call.  Only imports here: a recording (make_fx) patches
            # torch.nn.Module's methods process-wide while it runs, so it must
            # never run beside the user's program, only on the calling thread.
            from torch._inductor import config  # noqa: F401

            _TOOLS["record"] = True
            _TOOLS["compile_fx"] = None
            try:
                from torch._inductor.compile_fx import compile_fx

                _TOOLS["compile_fx"] = compile_fx
            except Exception:  # an inductor-less build: replays run the graph
                pass
    except Exception as exc:  # no recordings: every step stays eager
        _TOOLS["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        _TOOLS_READY.set()


def _one_fake_mode() -> Any:
    # make_fx gives every node a fake-tensor "val", creating a FakeTensorMode
    # for each when none is ambient (each extracting a stack trace: half of a
    # recording's time).  One ambient mode for the whole recording; the tracing
    # context is thread-local.
    from torch._guards import TracingContext, tracing
    from torch._subclasses.fake_tensor import FakeTensorMode

    return tracing(TracingContext(FakeTensorMode(allow_fallback_kernels=True)))


def _cacheable() -> Any:
    # Inductor's on-disk FX graph cache (a program run again, or a second plan of
    # the same graph, loads the compiled code instead of compiling it) is used only
    # when the compilation finds a fake mode with a shape environment; without one
    # it is bypassed ("No shape env").  The shapes stay the recorded, static ones.
    from torch._guards import TracingContext, tracing
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.experimental.symbolic_shapes import ShapeEnv

    return tracing(TracingContext(FakeTensorMode(shape_env=ShapeEnv())))


class CompiledStepError(TracegraphError, RuntimeError):
    """A compiled step disagreed with the eager step on the same draws."""


class NotCompilable(Exception):
    """Internal: this step cannot be recorded as a plan (the reason is the message)."""


class _ParamsFrom(Messenger):
    # Param sites take the graph's inputs (constrained), not the store's leaves.
    def __init__(self, values: dict[str, torch.Tensor]) -> None:
        super().__init__()
        self.values = values

    def _pyro_param(self, msg: Message) -> None:
        value = self.values.get(str(msg["name"]))
        if value is None:
            raise NotCompilable(f"param '{msg['name']}' is not in the param store yet")
        msg["value"] = value
        msg["done"] = True
        # Outer handlers (SVI's param capture) see no param site: the step reports
        # its param leaves itself.
        msg["stop"] = True


class _Guards(TorchDispatchMode):
    # Records every value read into Python, and refuses data-dependent shapes.
    def __init__(self) -> None:
        super().__init__()
        self.tensors: list[torch.Tensor] = []
        self.values: list[Any] = []
        self.ignore_reads = False

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        if torch.Tag.dynamic_output_shape in func.tags:
            raise NotCompilable(f"{func} has an output whose shape depends on values")
        out = func(*args, **(kwargs or {}))
        if func is torch.ops.aten._local_scalar_dense.default and not self.ignore_reads:
            self.tensors.append(args[0])
            self.values.append(out)
        return out


class _Checks(TorchFunctionMode):
    # Operations that read values only to check them (raise or go on) guard on
    # the check, not on the values read.  ``one_hot(t, n)`` with ``n`` given
    # reads ``t``'s min and max to refuse out-of-range classes: as guards on
    # their values, a categorical draw missing its largest class would fail the
    # replay and record another plan of the same path.
    def __init__(self, guards: _Guards) -> None:
        super().__init__()
        self.guards = guards

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        if func is torch.nn.functional.one_hot:
            tensor = args[0] if args else kwargs.get("tensor")
            classes = args[1] if len(args) > 1 else kwargs.get("num_classes", -1)
            if isinstance(tensor, torch.Tensor) and isinstance(classes, int) and classes >= 0:
                ok = ((tensor >= 0) & (tensor < classes)).all()
                self.guards.ignore_reads = True
                try:
                    out = func(*args, **kwargs)
                finally:
                    self.guards.ignore_reads = False
                self.guards.tensors.append(ok)
                self.guards.values.append(True)
                return out
        return func(*args, **kwargs)


@dataclass
class _Spec:
    # How a call's arguments were split into graph inputs and constants.
    treedef: Any
    tensor_at: list[int]
    constants: list[Any]
    metas: list[tuple[torch.Size, torch.dtype, torch.device]]

    def matches(self, leaves: list[Any], treedef: Any) -> bool:
        if treedef != self.treedef or len(leaves) != len(self.constants):
            return False
        k = 0
        for i, (leaf, const) in enumerate(zip(leaves, self.constants)):
            if k < len(self.tensor_at) and self.tensor_at[k] == i:
                meta = self.metas[k]
                k += 1
                if not isinstance(leaf, torch.Tensor):
                    return False
                if (leaf.shape, leaf.dtype, leaf.device) != meta:
                    return False
            elif leaf is not const:
                try:
                    if not bool(leaf == const):
                        return False
                except Exception:
                    return False
        return True


def split_arguments(args: Any, kwargs: Any) -> tuple[list[Any], Any]:
    """A call's arguments as flat leaves (tensors become graph inputs) and the
    structure to rebuild them.

    >>> leaves, _ = split_arguments((torch.ones(1), 3), {"k": "v"})
    >>> len(leaves)
    3
    """
    return pytree.tree_flatten((args, kwargs))


@dataclass
class Plan:
    """One recorded path through a program: its graph, what it reads and returns,
    and the guards a replay must pass."""

    names: list[str]
    leaves: list[torch.Tensor]
    constraints: list[Any]
    averages: list[str]
    spec: _Spec
    graph: torch.fx.GraphModule
    expected: list[Any]
    #: Output layout: loss, one gradient per leaf, one state per average, guards.
    compiled: Callable[..., Any] | None = None
    replays: int = 0
    checked_replay: bool = False
    checked_compiled: bool = False
    _thread: threading.Thread | None = field(default=None, repr=False)

    def inputs_match(self, leaves: list[Any], treedef: Any) -> bool:
        """Whether a call's arguments and the param store fit this plan."""
        store = get_param_store()
        params = store._params
        for name, leaf in zip(self.names, self.leaves):
            if params.get(name) is not leaf:
                return False
        for name in self.averages:
            if name not in store:
                return False
        return self.spec.matches(leaves, treedef)

    def run(self, leaves: list[Any], use_compiled: bool = True) -> tuple[Any, ...] | None:
        """Replay; the outputs, or ``None`` when a guard fails or the replay raises.

        A compiled replay that raises drops the compiled build (with a warning):
        the caller sets the generators back and replays the graph itself."""
        store = get_param_store()
        flat: list[Any] = [leaf.detach() for leaf in self.leaves]
        flat += [store[name].detach() for name in self.averages]
        flat += [leaves[i] for i in self.spec.tensor_at]
        runner = self.compiled if (use_compiled and self.compiled is not None) else self.graph
        try:
            with torch.no_grad():
                out = runner(*flat)
        except Exception as exc:
            if runner is not self.graph:
                self.compiled = None
                warnings.warn(
                    f"a compiled step raised ({type(exc).__name__}: {exc}); steps keep "
                    "replaying the recorded graph",
                    TracegraphWarning,
                    stacklevel=3,
                )
            return None
        out = tuple(out)
        n = 1 + len(self.leaves) + len(self.averages)
        guards = out[n:]
        for tensor, value in zip(guards, self.expected):
            if tensor.item() != value:
                return None
        self.replays += 1
        return out[:n]

    def same_path(self, other: Plan) -> bool:
        """Whether ``other`` records the same path for the same inputs (a plan
        recorded again replaces the old one instead of adding to it)."""
        return (
            self.expected == other.expected
            and self.names == other.names
            and self.averages == other.averages
            and all(a is b for a, b in zip(self.leaves, other.leaves))
            and self.spec.metas == other.spec.metas
            and other.spec.matches(self.spec.constants, self.spec.treedef)
        )

    def compile_in_background(self, options: dict[str, Any]) -> bool:
        """Compile the graph with inductor in a daemon thread (nothing runs: the
        generators are not touched); replays use it once it is there.  Whether
        a compilation started: not before :func:`prepare` has loaded inductor,
        nor in a build without it."""
        compile_fx = _TOOLS.get("compile_fx")
        if not _TOOLS_READY.is_set() or compile_fx is None:
            return False
        store = get_param_store()
        example = [leaf.detach() for leaf in self.leaves]
        example += [store[name].detach() for name in self.averages]
        example += [c for c in self.spec.constants if isinstance(c, torch.Tensor)]
        patches = {"fallback_random": True, **options}
        # Inductor rewrites the graph it is given, while steps keep replaying
        # this one: it gets a copy (the constants are shared, not copied).
        graph = torch.fx.GraphModule(self.graph, copy.deepcopy(self.graph.graph))

        def work() -> None:
            try:
                # One compilation at a time: inductor is not safe to run twice at once.
                with _COMPILE_LOCK, _cacheable():
                    compiled: Any = compile_fx(graph, example, config_patches=patches)
                    self.compiled = compiled
            except Exception as exc:  # keep replaying the graph itself
                if _EXITING.is_set():
                    return
                warnings.warn(
                    f"compiling a step with inductor failed ({type(exc).__name__}: {exc}); "
                    "steps keep replaying the recorded graph",
                    TracegraphWarning,
                    stacklevel=1,
                )

        self._thread = _start(work, "tracegraph-compile")
        return True

    def wait_compiled(self, timeout: float | None = None) -> bool:
        """Wait for the background compilation; whether a compiled step exists."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.compiled is not None


def trace_step(
    losses: Callable[[tuple[Any, ...], dict[str, Any]], tuple[torch.Tensor, torch.Tensor]],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> tuple[Plan, torch.Tensor, list[torch.Tensor | None]]:
    """Run one step for real while recording it as a graph.

    :param losses: ``(args, kwargs) -> (tensor to differentiate, -ELBO)``, run with
        the structure cache's tables only (no tracking, no second run).
    :returns: the plan, the step's loss and its gradient for each param leaf.
    :raises NotCompilable: the step cannot be a plan (the generators have moved:
        the caller sets them back before running the step eagerly).
    """
    store = get_param_store()
    names = list(store._params)
    leaves = [store._params[n] for n in names]
    constraints = [store._constraints[n] for n in names]
    averages = [n for n in names if n.startswith(DecayingAverage.prefix)]
    # Averages are estimator state, not params: inputs and outputs of the graph.
    keep = [i for i, n in enumerate(names) if not n.startswith(DecayingAverage.prefix)]
    names = [names[i] for i in keep]
    leaves = [leaves[i] for i in keep]
    constraints = [constraints[i] for i in keep]
    flat_args, treedef = split_arguments(args, kwargs)
    tensor_at = [i for i, a in enumerate(flat_args) if isinstance(a, torch.Tensor)]
    spec = _Spec(
        treedef,
        tensor_at,
        list(flat_args),
        [(flat_args[i].shape, flat_args[i].dtype, flat_args[i].device) for i in tensor_at],
    )
    n_leaves, n_avg = len(leaves), len(averages)
    guards = _Guards()
    checks = _Checks(guards)
    recorded: list[torch.Tensor] = []

    def step(*flat: torch.Tensor) -> tuple[torch.Tensor, ...]:
        inputs = flat[:n_leaves]
        state = dict(zip(averages, flat[n_leaves : n_leaves + n_avg]))
        call_leaves = list(flat_args)
        for i, t in zip(tensor_at, flat[n_leaves + n_avg :]):
            call_leaves[i] = t
        call_args, call_kwargs = pytree.tree_unflatten(call_leaves, treedef)
        values = {n: transform_to(c)(u) for n, u, c in zip(names, inputs, constraints)}
        # Without validation: the checks only decide "raise or go on" (the eager
        # step that found this structure ran them), and every value they read
        # would become a guard.
        with validation_enabled(False), _ParamsFrom(values), redirected_averages(state):
            with guards, checks:
                surrogate, loss = losses(call_args, call_kwargs)
        grads: Any = (None,) * n_leaves
        if surrogate.requires_grad:
            grads = torch.autograd.grad(surrogate, inputs, allow_unused=True)
        out = [loss.detach()]
        out += [torch.zeros_like(u) if g is None else g for g, u in zip(grads, inputs)]
        out += [state[n] for n in averages]
        recorded[:] = out  # the real values of this run: it is the step
        out += guards.tensors
        return tuple(out)

    real = [leaf.detach().requires_grad_() for leaf in leaves]
    real += [store[n].detach() for n in averages]
    real += [flat_args[i] for i in tensor_at]
    with _one_fake_mode():
        graph = make_fx(step, tracing_mode="real", _error_on_data_dependent_ops=False)(*real)
    for node in graph.graph.nodes:
        if node.op == "get_attr":
            value = getattr(graph, node.target, None)
            if isinstance(value, torch.Tensor) and value.requires_grad:
                raise NotCompilable(
                    "a tensor that requires grad is read without being a param "
                    "(register modules with tracegraph.module)"
                )
    # The values read into Python were burned in: their reads are dead.  Nothing
    # else is removed (an unused draw still moves the generator, as in eager).
    scalar_read = torch.ops.aten._local_scalar_dense.default
    for node in list(graph.graph.nodes):
        if node.op == "call_function" and node.target is scalar_read and not node.users:
            graph.graph.erase_node(node)
    graph.recompile()
    plan = Plan(names, leaves, constraints, averages, spec, graph, list(guards.values))
    loss = recorded[0]
    grads: list[torch.Tensor | None] = [g.detach() for g in recorded[1 : 1 + n_leaves]]
    for name, value in zip(averages, recorded[1 + n_leaves :]):
        with torch.no_grad():
            store[name] = value.detach()
    return plan, loss, grads
