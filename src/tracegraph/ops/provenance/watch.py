"""Strict mode's watch over the dispatcher: dependencies that never meet a rule.

A rule sees an op only when PyTorch asks the tracked tensor
(``__torch_function__``).  A few paths never ask:

* a TorchScript function (``torch.jit.script``) runs its ops in C++;
* ``torch.func.grad``, ``jacrev`` and ``vjp`` unwrap their inputs in C++;
* sparse and nested tensor constructors (``torch.sparse_coo_tensor``,
  ``torch.nested.nested_tensor``) read their values in C++;
* an alias that no op made (``.data =``, ``set_``, ``torch.from_numpy`` of an
  array made earlier, ``torch.from_dlpack``) is a plain tensor over memory that
  holds tracked data, so ops on it are ops on plain tensors.

Their results are plain tensors: the dependency would be lost silently.  Every
one of them still reaches an ATen operator, so in strict mode a tracked run also
watches the dispatcher (:class:`StrictWatch`, a ``TorchDispatchMode``: one Python
call per ATen op, which is why only strict mode pays it).  A rule always runs its
op with tracking off, so an ATen op reached while tracking is *on* was reached
around the rules.  The ops of a backward pass that a rule started (``backward()``
of a tracked root, ``torch.autograd.grad``) are exempt; in any other backward
pass (a plain root with a tracked ``gradient=`` or ``grad_outputs=`` seed, a
hook that reads tracked values) a tracked input is a lost dependency.  Outside
backward passes, an op is a lost dependency when

* it receives a tracked tensor, or
* it receives a plain tensor that :func:`~tracegraph.ops.provenance.aliases.aliased_sites`
  finds over tracked memory;

and the watch raises :class:`~tracegraph.errors.ProvenanceError` naming the op and the
sites.  Outside strict mode these paths stay unseen (``docs/design/provenance.md``
lists them); sample sites still refuse a plain alias under validation.

>>> import torch
>>> from tracegraph.ops.provenance import strict, track_provenance
>>> a = track_provenance(torch.ones(2), {"a"})
>>> with strict():
...     try:
...         with StrictWatch():
...             b = a * 2                      # a rule: fine
...             torch.sparse_coo_tensor(torch.tensor([[0]]), a[:1], (2,))
...     except ProvenanceError as e:
...         print(str(e).split(" outside")[0].split("sites ")[1])
['a'] reach aten._sparse_coo_tensor_with_dims_and_tensors.default
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode, _get_current_dispatch_mode_stack
from torch.utils._pytree import tree_leaves

from tracegraph.errors import ProvenanceError
from tracegraph.ops.provenance.aliases import aliased_sites
from tracegraph.ops.provenance.claims import names_of
from tracegraph.ops.provenance.effects import known_backward
from tracegraph.ops.provenance.registry import is_strict
from tracegraph.ops.provenance.tensor import ProvenanceTensor, provenance_of, untracked

__all__ = ["StrictWatch", "strict_watch"]

_TRACKING_ON = torch._C._is_torch_function_enabled
_IN_BACKWARD = torch._C._current_autograd_node


class StrictWatch(TorchDispatchMode):
    """Raise on ATen ops that receive tracked data outside every rule (strict mode).

    Entered by :class:`~tracegraph.poutine.provenance_messenger.TrackProvenanceMessenger`
    around a run when strict mode is on; see the module docstring.
    """

    def __init__(self) -> None:
        super().__init__()
        #: The error raised, kept because a TorchScript interpreter re-raises it
        #: as a ``RuntimeError`` (:meth:`__exit__` restores it).
        self.error: ProvenanceError | None = None

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        in_backward = _IN_BACKWARD() is not None
        if is_strict() and not (in_backward and known_backward()):
            try:
                _check(func, tree_leaves((args, kwargs)), _TRACKING_ON(), in_backward)
            except ProvenanceError as e:
                self.error = e
                raise
        # The op itself runs untracked: a rule above it (if any) tags its results.
        with untracked():
            return func(*args, **kwargs)

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> Any:
        super().__exit__(exc_type, exc_value, traceback)
        error, self.error = self.error, None
        if error is None or exc_value is error:
            return None
        if exc_value is None:
            # The program caught it and went on: the dependency is lost all the same.
            raise error
        if isinstance(exc_value, RuntimeError) and (
            "TorchScript" in str(exc_value) or str(error) in str(exc_value)
        ):
            # A TorchScript interpreter re-raised it as a RuntimeError.
            raise error.with_traceback(None) from exc_value
        exc_value.add_note(f"(earlier in this run, caught by the program: {error})")
        return None


def strict_watch() -> AbstractContextManager[Any]:
    """A :class:`StrictWatch` in strict mode, else a no-op context manager.

    Also a no-op under another dispatch mode (a tracer recording the run, a fake
    tensor mode): their tensors have no memory to alias, and a mode pushed inside
    theirs would see their proxies.

    >>> from tracegraph.ops.provenance import strict
    >>> type(strict_watch()).__name__
    'nullcontext'
    >>> with strict():
    ...     type(strict_watch()).__name__
    'StrictWatch'
    """
    if not is_strict() or _get_current_dispatch_mode_stack():
        return nullcontext()
    return StrictWatch()


_IN_UNKNOWN_BACKWARD = (
    "in a backward pass of a plain root (a tracked gradient=/grad_outputs= seed, or a "
    "hook reading tracked values), whose gradients the rules do not see"
)
_AROUND_THE_RULES = (
    "outside the provenance rules (a TorchScript function, a torch.func transform, a "
    "sparse or nested tensor constructor, or another path that skips __torch_function__)"
)
_THROUGH_AN_ALIAS = (
    "through a plain tensor sharing their memory that no op made (.data =, set_(), "
    "torch.from_numpy or torch.from_dlpack)"
)


def _check(func: Any, leaves: list, tracking_on: bool, in_backward: bool = False) -> None:
    if not tracking_on:
        return  # a rule is running this op (its plain views of tracked memory are its own)
    for leaf in leaves:
        if isinstance(leaf, ProvenanceTensor):
            sites = sorted(map(str, names_of(provenance_of(leaf))))
            how = _IN_UNKNOWN_BACKWARD if in_backward else _AROUND_THE_RULES
        elif isinstance(leaf, torch.Tensor) and not in_backward:
            sites = aliased_sites(leaf) or []
            how = _THROUGH_AN_ALIAS
        else:
            continue
        if not sites:
            continue
        raise ProvenanceError(
            f"provenance strict mode: values of sites {sites} reach {func} {how}; "
            "its result would not depend on them.  Compute with ordinary torch ops on the "
            "tracked tensor itself, or call detach_provenance() if dropping the dependency "
            "is intended."
        )
