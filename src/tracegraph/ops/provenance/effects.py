"""Rules for effects the rule categories cannot express: writes hidden inside
torch functions, gradients that ``backward()`` leaves on leaves, and function
transforms that unwrap tracked tensors.

* ``F.embedding(..., max_norm=m)`` renormalises the looked-up rows of the weight
  *in place*; ``F.batch_norm(..., training=True)`` and ``F.instance_norm`` update
  the running statistics in place.  Both happen inside torch with tracking off:
  these rules write the inputs' provenance into those tensors.
* ``y.backward()`` accumulates into ``leaf.grad`` inside the autograd engine: the
  gradients of every leaf ``y`` reaches get ``y``'s provenance (as
  ``torch.autograd.grad`` gives it).  Parameters are the exception: they and
  their gradients carry no provenance by design (an optimizer writes them
  between runs); strict mode refuses a tracked ``backward`` into one.
* ``torch.vmap`` (and the ``torch.func`` transforms built on it) unwraps its
  inputs in C++ and returns plain tensors.  The only Python-visible step is its
  reading ``dim()`` of each batched input: there the provenance is recorded as
  control flow (every later site depends on it: sound, but it cannot be kept per
  value); strict mode raises, validation warns.  The forward-mode transforms
  (``torch.func.jvp``, ``jacfwd``, ``hessian``) are seen where they call
  ``torch._make_dual`` on each input, and get the same treatment.

>>> import torch.nn.functional as F
>>> from tracegraph.ops.provenance import get_provenance, track_provenance
>>> weight = torch.ones(3, 2)
>>> rows = track_provenance(torch.tensor([0, 2]), {"i"})
>>> _ = F.embedding(rows, weight, max_norm=1.0)   # renormalises weight[0], weight[2]
>>> get_provenance(weight)
frozenset({'i'})
"""

from __future__ import annotations

import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from tracegraph.errors import ProvenanceError, TracegraphWarning
from tracegraph.ops.provenance.claims import names_of
from tracegraph.ops.provenance.control_flow import record_control_flow
from tracegraph.ops.provenance.propagation import collect, union_rule, write
from tracegraph.ops.provenance.registry import Rule, is_strict
from tracegraph.ops.provenance.tensor import ProvenanceTensor, call, provenance_of, tag_in_place

__all__ = [
    "backward_rule",
    "dim_rule",
    "embedding_rule",
    "grad_rule",
    "known_backward",
    "make_dual_rule",
    "running_stats_rule",
]

Tensor = torch.Tensor
_GRAD_GET: Any = Tensor.grad.__get__  # type: ignore[union-attr]
_TRANSFORMS = ("torch._functorch", "torch.func")
_OWN = ("tracegraph.ops.", "torch.overrides")


def _arg(args: tuple, kwargs: dict | None, pos: int, name: str, default: Any = None) -> Any:
    if kwargs and name in kwargs:
        return kwargs[name]
    return args[pos] if len(args) > pos else default


def embedding_rule(func: Any, types: tuple, args: tuple, kwargs: dict | None, cls: type) -> Any:
    """``F.embedding`` / ``F.embedding_bag``: with ``max_norm`` the rows the input
    selects are renormalised in the weight itself, so the weight gets the input's
    provenance.

    >>> w = torch.ones(2, 2)
    >>> i = ProvenanceTensor(torch.tensor([1]), {"i"})
    >>> out = torch.nn.functional.embedding(i, w)   # no max_norm: weight unchanged
    >>> type(w).__name__, sorted(out._provenance)
    ('Tensor', ['i'])
    """
    out = union_rule(func, types, args, kwargs, cls)
    if _arg(args, kwargs, 3, "max_norm") is not None:
        weight = _arg(args, kwargs, 1, "weight")
        prov = collect((args, kwargs))
        if isinstance(weight, Tensor):
            write(weight, prov, cls, func)
    return out


def running_stats_rule(positions: tuple[int, int, int], flag: str, default: bool) -> Rule:
    """Build the rule of a normalization that updates running statistics in place
    when ``flag`` is set (``training`` of ``batch_norm``, ``use_input_stats`` of
    ``instance_norm``): they get the provenance of all inputs.

    :param positions: positional indices of ``running_mean``, ``running_var`` and
        the flag.
    """
    mean_at, var_at, flag_at = positions

    def rule(func: Any, types: tuple, args: tuple, kwargs: dict | None, cls: type) -> Any:
        out = union_rule(func, types, args, kwargs, cls)
        if _arg(args, kwargs, flag_at, flag, default):
            prov = collect((args, kwargs))
            for pos, name in ((mean_at, "running_mean"), (var_at, "running_var")):
                stat = _arg(args, kwargs, pos, name)
                if isinstance(stat, Tensor):
                    write(stat, prov, cls, func)
        return out

    rule.__name__ = rule.__qualname__ = "running_stats_rule"
    rule.__doc__ = running_stats_rule.__doc__
    return rule


def _leaves(roots: Any) -> Iterator[Tensor]:
    # The leaf tensors an autograd graph accumulates into.
    stack = [getattr(r, "grad_fn", None) for r in roots]
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        variable = getattr(node, "variable", None)
        if isinstance(variable, Tensor):
            yield variable
        stack.extend(fn for fn, _ in node.next_functions)


#: How many backward passes a rule started are running (``backward()`` of a
#: tracked root, ``torch.autograd.grad`` of tracked outputs or inputs): their
#: ops read tracked saved values by design.  Strict mode's dispatcher watch
#: (watch.py) checks the ops of any other backward pass.  Process-wide, not per
#: thread: the autograd engine runs a device's backward ops on its own threads.
#: (Another thread's unknown backward pass running meanwhile goes unchecked:
#: strict mode's reach, never an estimate, depends on it.)
_KNOWN_BACKWARD = [0]
_KNOWN_LOCK = threading.Lock()


def known_backward() -> bool:
    """Whether a backward pass a rule started is running.

    >>> known_backward()
    False
    """
    return _KNOWN_BACKWARD[0] > 0


@contextmanager
def _backward_started_by_rule() -> Iterator[None]:
    with _KNOWN_LOCK:
        _KNOWN_BACKWARD[0] += 1
    try:
        yield
    finally:
        with _KNOWN_LOCK:
            _KNOWN_BACKWARD[0] -= 1


def grad_rule(func: Any, types: tuple, args: tuple, kwargs: dict | None, cls: type) -> Any:
    """``torch.autograd.grad``: the union rule (every gradient may depend on every
    output, input and ``grad_outputs``), with the backward pass marked as one a
    rule started.

    >>> x = torch.ones(2, requires_grad=True)
    >>> y = (x * ProvenanceTensor(torch.ones(2), {"z"})).sum()
    >>> sorted(torch.autograd.grad(y, x)[0]._provenance)
    ['z']
    """
    with _backward_started_by_rule():
        return union_rule(func, types, args, kwargs, cls)


def backward_rule(func: Any, types: tuple, args: tuple, kwargs: dict | None, cls: type) -> Any:
    """``backward()`` (method or ``torch.autograd.backward``): the gradients it
    accumulates into leaves depend on what was differentiated.

    >>> x = torch.ones(2, requires_grad=True)
    >>> y = (x * ProvenanceTensor(torch.ones(2), {"z"})).sum()
    >>> y.backward()
    >>> sorted(x.grad._provenance)
    ['z']
    """
    prov = names_of(collect((args, kwargs)))
    with _backward_started_by_rule():
        out = call(func, args, kwargs)
    if not prov:
        return out
    inputs = _arg(args, kwargs, 5 if func is torch.autograd.backward else 4, "inputs")
    if inputs is not None:
        leaves: Any = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    else:
        roots = args[0] if args else (kwargs or {}).get("tensors", ())
        roots = [roots] if isinstance(roots, Tensor) else list(roots)
        leaves = _leaves(roots)
    for leaf in leaves:
        if isinstance(leaf, torch.nn.Parameter):
            if is_strict():
                raise ProvenanceError(
                    f"backward() of a value depending on sites {sorted(map(str, prov))} "
                    "accumulates into a parameter's .grad, which carries no provenance; "
                    "use torch.autograd.grad for a tracked gradient"
                )
            continue
        grad = call(_GRAD_GET, (leaf,), None)
        if grad is None:
            continue
        if type(grad) is Tensor:
            tag_in_place(grad, prov)
        elif isinstance(grad, ProvenanceTensor):
            grad._provenance = provenance_of(grad) | prov
    return out


def _caller_module() -> str:
    frame: Any = sys._getframe(2)
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if not name.startswith(_OWN):
            return str(name)
        frame = frame.f_back
    return ""


def _unwrapped_by_transform(tensors: Any) -> None:
    # A function transform is about to unwrap these tensors into plain ones: keep
    # their provenance as control flow (strict mode raises, validation warns).
    prov = names_of(collect(tensors))
    if not prov:
        return
    message = (
        f"a function transform (torch.vmap / torch.func) unwraps a tensor depending "
        f"on sites {sorted(map(str, prov))}: its results are plain tensors, so the "
        "dependency is kept as control flow (every later site depends on these "
        "sites).  Compute without the transform to keep it per value."
    )
    if is_strict():
        raise ProvenanceError(message)
    record_control_flow(prov)
    if torch.distributions.Distribution._validate_args:
        warnings.warn(message, TracegraphWarning, stacklevel=4)


def dim_rule(func: Any, types: tuple, args: tuple, kwargs: dict | None, cls: type) -> Any:
    """``t.dim()``: metadata, except that a function transform reading it is about
    to unwrap ``t`` into plain tensors (see the module docstring).

    >>> ProvenanceTensor(torch.ones(2, 3), {"a"}).dim()
    2
    """
    out = call(func, args, kwargs)
    t = args[0] if args else None
    if isinstance(t, ProvenanceTensor) and _caller_module().startswith(_TRANSFORMS):
        _unwrapped_by_transform(t)
    return out


def make_dual_rule(func: Any, types: tuple, args: tuple, kwargs: dict | None, cls: type) -> Any:
    """``torch._make_dual``: the union rule, except inside a forward-mode function
    transform (``torch.func.jvp``, ``jacfwd``, ``hessian``), which unwraps the dual
    tensor's result into plain tensors in C++ (see the module docstring).

    >>> a = ProvenanceTensor(torch.ones(2), {"a"})   # called outside a transform:
    >>> sorted(make_dual_rule(torch.mul, (), (a, 2.0), None, ProvenanceTensor)._provenance)
    ['a']
    """
    if _caller_module().startswith(_TRANSFORMS):
        _unwrapped_by_transform((args, kwargs))
    return union_rule(func, types, args, kwargs, cls)
