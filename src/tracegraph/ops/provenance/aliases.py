"""Memory that tracked values were written into, seen through tensors the rules
never saw: plain views taken *before* the write, NumPy arrays, ``.data`` and
``set_`` aliases.

Ops on plain tensors never reach ``__torch_function__``.  So when a write makes a
plain tensor tracked (``buf[0] = z``), a view taken from it earlier
(``e = buf[:1]``) would go on reading the written value untracked.  Two
mechanisms close this:

* **Tracking** (:func:`adopt_aliases`): when a write swaps a plain tensor's class
  and its storage has more users than the tensors the rule knows (PyTorch's
  storage use count), the Python heap is searched for the other tensors on that
  storage, and every plain one is tracked in place (its plate claims mixed: it
  may see the memory with other dims).  The search costs a pass over the heap
  (tens of ms), paid only where a program writes tracked values into memory it
  has already aliased.  A parameter on that memory raises
  :class:`~tracegraph.errors.ProvenanceError` (parameters carry no provenance);
  a tensor held only by something outside Python's objects (the base of a NumPy
  array, which reads the memory directly) raises in strict mode and warns
  otherwise.
* **Detection** (:func:`check_site_inputs`): aliases made *after* the write
  without an op (``plain.data = tracked``, ``plain.set_(tracked)``,
  ``torch.from_numpy`` of an array made earlier) are caught when they enter a
  sample site: a plain tensor on a storage that holds tracked data (a registry
  of written storages and of site values) raises in strict mode and under
  validation, naming the site, and warns otherwise.

>>> import torch
>>> from tracegraph.ops.provenance import get_provenance, track_provenance
>>> buf = torch.zeros(2)
>>> early = buf[:1]                      # a plain view, taken before the write
>>> buf[0] = track_provenance(torch.tensor(3.0), {"a"})
>>> get_provenance(early)
frozenset({'a'})
"""

from __future__ import annotations

import gc
import sys
import warnings
import weakref
from collections.abc import Iterable
from typing import Any

import torch

from tracegraph.errors import ProvenanceError, TracegraphWarning
from tracegraph.ops.provenance.claims import blind
from tracegraph.ops.provenance.control_flow import record_control_flow
from tracegraph.ops.provenance.registry import is_strict
from tracegraph.ops.provenance.tensor import UNTRACKABLE_WRITE, call_disabled, note_event

__all__ = [
    "adopt_aliases",
    "aliased_sites",
    "check_site_inputs",
    "remember_storage",
    "untrackable_write",
]

Tensor = torch.Tensor
_STORAGE = Tensor.untyped_storage
_DATA_PTR = Tensor.data_ptr
_USE_COUNT: Any = torch._C._storage_Use_Count
# data_ptr of a tensor holding tracked data -> (weak reference to it, the sites
# written there, ids of plain tensors that are its own data).  The weak reference
# tells a live entry from a reused address.  Keyed by the data pointer (not the
# storage): an alias no op made (.data =, set_, from_numpy) starts where the
# aliased tensor starts; a view of such an alias is not found.
_HOLDING: dict[int, tuple[Any, frozenset, frozenset[int]]] = {}
_MAX_HOLDING = 4096


def _storage_of(t: Tensor, disabled: Any = call_disabled) -> Any:
    return disabled(_STORAGE, (), (t,))


def _validating() -> bool:
    return bool(torch.distributions.Distribution._validate_args)


def _refuse(message: str) -> None:
    if is_strict() or _validating():
        raise ProvenanceError(message)
    warnings.warn(message, TracegraphWarning, stacklevel=4)


def untrackable_write(message: str, prov: frozenset) -> None:
    """Tracked values were written into a tensor that cannot carry provenance (an
    ``nn.Parameter``, another tensor subclass): keep the dependency as control
    flow (every later site depends on ``prov``, conservative), warn under
    validation (at the next sample site, when ``prov`` holds a site with a
    score), raise in strict mode.  Pyro runs such programs, so outside strict
    mode they run here too.

    >>> from tracegraph.ops.provenance.control_flow import control_flow_scope
    >>> with control_flow_scope() as scope, warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")  # (it warns: validation is on)
    ...     untrackable_write("a write into a parameter", frozenset({"a"}))
    >>> scope.provenance
    frozenset({'a'})
    """
    if is_strict():
        raise ProvenanceError(message)
    record_control_flow(prov)
    if _validating():
        # Said at the next sample site, for the sites with a score only (the
        # dependencies of reparameterized ones do not enter any estimator).
        note_event(prov, UNTRACKABLE_WRITE)


def remember_storage(t: Tensor, prov: frozenset, disabled: Any = call_disabled) -> None:
    """Note that the storage of the tracked tensor ``t`` holds data with provenance
    ``prov`` (for :func:`check_site_inputs`).

    >>> from tracegraph.ops.provenance import track_provenance
    >>> z = track_provenance(torch.zeros(2), {"z"})
    >>> remember_storage(z, frozenset({"z"}))
    >>> _HOLDING[z.data_ptr()][1]
    frozenset({'z'})
    """
    if not prov or not hasattr(type(t), "_prov_root"):
        return
    try:
        ptr = disabled(_DATA_PTR, (), (t,))
    except (RuntimeError, NotImplementedError):
        return
    if not ptr:  # meta tensors, empty storages
        return
    plain = t._prov_plain  # type: ignore[attr-defined]
    # The plain tensor an alias stands for is its data, not an alias of it: a
    # program may hold it (detach_provenance returns it) and use it plainly; so is
    # the tensor that one is a view of (a Delta's value is a view of its param).
    mine = () if plain is None else (id(plain),)
    base = None if plain is None else plain._base
    if base is not None and type(base) is Tensor:
        mine = (*mine, id(base))
    entry = _HOLDING.get(ptr)
    if entry is not None and entry[0]() is not None:
        # (Common: the same storage seen again; keep the entry's objects.)
        names, own = entry[1] | prov, entry[2]
        if mine and not own.issuperset(mine):
            own = own | frozenset(mine)
    else:
        if len(_HOLDING) >= _MAX_HOLDING:
            _prune()
        names, own = prov, frozenset(mine)
    _HOLDING[ptr] = (weakref.ref(t), names, own)


def _prune() -> None:
    for key in [k for k, (ref, _, _) in _HOLDING.items() if ref() is None]:
        del _HOLDING[key]
    if len(_HOLDING) >= _MAX_HOLDING:
        _HOLDING.clear()


def adopt_aliases(
    t: Tensor, known: Iterable[Tensor], prov: frozenset, disabled: Any, cls: type
) -> None:
    """``t`` just became tracked by a write of ``prov``; track the plain tensors
    sharing its storage that the rules never saw (views taken before the write)."""
    storage = _storage_of(t, disabled)
    try:
        users = _USE_COUNT(storage._cdata) - 1  # the temporary storage object
    except (RuntimeError, AttributeError):
        return
    known_ids = {id(k) for k in known}
    if users <= len(known_ids):
        return
    ptr = storage.data_ptr()
    sites = sorted(map(str, (e for e in prov if isinstance(e, str))))
    mixed = blind(prov)
    heap = gc.get_objects()
    found: list[Tensor] = []
    for obj in heap:
        kind = type(obj)  # (not isinstance: some objects warn when asked for __class__)
        if not issubclass(kind, Tensor) or id(obj) in known_ids or obj.device != t.device:
            continue
        if kind.__module__.startswith("torch._"):
            continue  # fake and functional tensors of a tracer: no memory of their own
        try:
            if _storage_of(obj, disabled).data_ptr() != ptr:
                continue
        except (RuntimeError, NotImplementedError):
            continue
        if kind is Tensor:
            base = obj._base
            if base is not None and type(base) is not Tensor and id(base) not in known_ids:
                continue  # an untracked view of data tracked before: opted out
            found.append(obj)
        elif not hasattr(kind, "_prov_root"):
            untrackable_write(
                f"values of sites {sites} are written into memory that a "
                f"{kind.__name__} of shape {tuple(obj.shape)} shares; it cannot carry "
                "provenance (parameters carry none by design), so every later site "
                "counts as depending on them.  Write into a fresh tensor to keep the "
                "dependency per value, or call detach_provenance() first if dropping it "
                "is intended",
                prov,
            )
    del heap
    root = getattr(t, "_prov_root", None)
    for obj in found:
        obj.__class__ = cls
        obj._provenance = mixed  # type: ignore[attr-defined]
        obj._prov_root = t if root is None else root  # type: ignore[attr-defined]
        obj._prov_root_seen = None  # type: ignore[attr-defined]
    if found and _held_outside_python(found):
        # A NumPy array made from one of these tensors (its base) reads the memory
        # directly.  Heuristic, hence a warning outside strict mode.
        message = (
            f"values of sites {sites} are written into memory that a tensor held only "
            "outside Python objects shares (the base of a NumPy array made before the "
            "write?): reads through such an array cannot be tracked.  Convert to NumPy "
            "after the last write, or keep the computation in torch."
        )
        if is_strict():
            raise ProvenanceError(message)
        warnings.warn(message, TracegraphWarning, stacklevel=4)


def _held_outside_python(found: list[Tensor]) -> bool:
    # Whether a tensor of ``found`` has no referrer the garbage collector tracks: a
    # NumPy array (not tracked) keeps the tensor it was made from as its base.
    referrers = gc.get_referrers(*found)
    held = set()
    for r in referrers:
        if r is found:
            continue
        for x in gc.get_referents(r):
            held.add(id(x))
    # The locals of running functions are not objects the collector sees (ours
    # and adopt_aliases' are skipped: they hold ``found`` themselves).
    frame = sys._getframe(2)
    while frame is not None:
        held.update(id(v) for v in frame.f_locals.values())
        frame = frame.f_back  # type: ignore[assignment]
    return any(id(obj) not in held for obj in found)


def aliased_sites(t: Any) -> list[str] | None:
    """The sites whose values a plain tensor ``t`` reads through memory it shares
    with them without an op having made it (``.data =``, ``set_``,
    ``torch.from_numpy``, ``torch.from_dlpack``); ``None`` for any other tensor.

    >>> from tracegraph.ops.provenance import track_provenance
    >>> z = track_provenance(torch.zeros(2), {"z"})
    >>> remember_storage(z, frozenset({"z"}))
    >>> alias = torch.empty(2)
    >>> alias.data = z
    >>> aliased_sites(alias), aliased_sites(torch.zeros(2))
    (['z'], None)
    """
    if not _HOLDING or type(t) is not Tensor:
        return None
    try:
        ptr = t.data_ptr()
    except (RuntimeError, NotImplementedError):
        return None
    entry = _HOLDING.get(ptr)
    if entry is None or entry[0]() is None or id(t) in entry[2]:
        return None
    base = t._base
    if base is not None and (type(base) is not Tensor or id(base) in entry[2]):
        return None  # a view of tracked data, or of a tensor it stands for (opted out)
    return sorted(map(str, (e for e in entry[1] if isinstance(e, str))))


def check_site_inputs(name: str, tensors: Iterable[Any], disabled: Any = call_disabled) -> None:
    """Raise (strict mode, validation) or warn when a plain tensor entering site
    ``name`` shares memory with tracked data: an alias no op created
    (``.data =``, ``set_``, ``torch.from_numpy``), whose dependency would be lost.

    >>> from tracegraph.ops.provenance import strict, track_provenance
    >>> z = track_provenance(torch.zeros(2), {"z"})
    >>> remember_storage(z, frozenset({"z"}))
    >>> alias = torch.empty(2)
    >>> alias.data = z                       # no op: provenance cannot see it
    >>> with strict():
    ...     try:
    ...         check_site_inputs("x", [alias])
    ...     except ProvenanceError as e:
    ...         print(str(e)[:62])
    site 'x': an input of shape (2,) is a plain tensor sharing mem
    """
    if not _HOLDING:
        return
    for t in tensors:
        sites = aliased_sites(t)
        if sites is None:
            continue
        _refuse(
            f"site '{name}': an input of shape {tuple(t.shape)} is a plain tensor sharing "
            f"memory with values of sites {sites} (made by .data =, set_() or "
            "torch.from_numpy, which provenance tracking cannot see): its dependency on "
            "them would be lost.  Use the tracked tensor itself, or a copy made with a "
            "torch op (clone())."
        )
