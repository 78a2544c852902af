"""How provenance flows: the default rules and what every rule builds on.

:func:`union_rule` (the default), :func:`view_rule`, :func:`mutation_rule` and
:func:`mutation_all_rule`, plus the helpers that collect provenance from an
op's arguments, attach it to the results and join it into tensors written in
place (and into the tensor owning their storage).

>>> a = ProvenanceTensor(torch.ones(2), {"a"})
>>> sorted(union_rule(torch.mul, (), (a, 3.0), None, ProvenanceTensor)._provenance)
['a']
"""

from __future__ import annotations

from typing import Any

import torch

from tracegraph.ops.provenance.aliases import adopt_aliases, remember_storage, untrackable_write
from tracegraph.ops.provenance.claims import STATE, has_claims, mixed, names_of
from tracegraph.ops.provenance.control_flow import record_control_flow
from tracegraph.ops.provenance.positions import claims_after
from tracegraph.ops.provenance.registry import Rule, op_name
from tracegraph.ops.provenance.tensor import (
    DynamicShapeProvenanceTensor,
    ProvenanceTensor,
    call,
    call_disabled,
    link_root,
    provenance_of,
    same_layout,
    tag_raw,
    tensors_in,
    wrap,
)

__all__ = [
    "ELEMENTWISE_WRITES",
    "collect",
    "mutation_all_rule",
    "mutation_rule",
    "union_rule",
    "view_rule",
    "write",
]

Tensor = torch.Tensor
_EMPTY: frozenset = frozenset()
_BASE_GET: Any = Tensor._base.__get__  # type: ignore[union-attr]
_NESTED = frozenset({list, tuple, slice})
_STATE = STATE
# Non-tensor results that say nothing about tensor *values*.
_METADATA_TYPES = (str, torch.dtype, torch.device, torch.layout, torch.memory_format)


def collect(x: Any, acc: frozenset = _EMPTY) -> frozenset:
    # Union of ``acc`` and the provenance of tracked tensors anywhere in ``x``.
    if isinstance(x, ProvenanceTensor):
        prov = provenance_of(x)
        if prov is not acc and not prov <= acc:
            acc = acc | prov if acc else prov
    elif isinstance(x, (list, tuple, set, frozenset)) and not isinstance(x, torch.Size):
        for item in x:
            acc = collect(item, acc)
    elif isinstance(x, dict):
        for item in x.values():
            acc = collect(item, acc)
    elif isinstance(x, slice):
        acc = collect((x.start, x.stop, x.step), acc)
    return acc


def _attach(out: Any, prov: frozenset, cls: type, inputs: Any, link: bool = True) -> Any:
    # Attach ``prov`` to every tensor in ``out``.  A result that *is* an input
    # is kept if it already carries ``prov``, else replaced by an alias.
    # Non-tensor data (numbers, lists, arrays) leaves the tensor world: its
    # provenance is recorded as control flow.
    if isinstance(out, Tensor):
        if any(out is x for x in tensors_in(inputs)):
            if isinstance(out, ProvenanceTensor) and prov <= provenance_of(out):
                return out
            return wrap(out, prov, cls)
        if type(out) is Tensor:
            return tag_raw(out, prov, cls, link)
        if isinstance(out, ProvenanceTensor):  # a fresh tracked object (deepcopy)
            out._provenance = provenance_of(out) | prov
            return out
        record_control_flow(prov)  # a foreign tensor subclass cannot carry it
        return out
    if out is None or out is NotImplemented or isinstance(out, _METADATA_TYPES):
        return out
    if isinstance(out, torch.Size):
        if issubclass(cls, DynamicShapeProvenanceTensor):
            record_control_flow(prov)
        return out
    if isinstance(out, (tuple, list)):
        items = [_attach(item, prov, cls, inputs, link) for item in out]
        if all(new is old for new, old in zip(items, out)):
            return out  # tracked in place: keeps list identity and namedtuple types
        if isinstance(out, list):
            out[:] = items
            return out
        return type(out)(*items) if hasattr(out, "_fields") else type(out)(items)
    record_control_flow(prov)
    return out


def _propagate_kwargs(func: Any, args: tuple, kwargs: dict, cls: type, link: bool) -> Any:
    if "out" in kwargs:
        return mutation_rule(func, (), args, kwargs, cls)
    prov = _EMPTY
    nested = False
    for group in (args, kwargs.values()):
        for a in group:
            if isinstance(a, ProvenanceTensor):
                p = provenance_of(a)
                if p is not prov:
                    prov = prov | p if prov else p
            elif isinstance(a, (list, tuple, dict, slice)):
                prov = collect(a, prov)
                nested = True
    out = call_disabled(func, (), args, kwargs)
    if type(out) is not Tensor or nested or any(out is a for a in args):
        return _attach(out, prov, cls, (args, kwargs), link)
    if any(out is a for a in kwargs.values()):
        return _attach(out, prov, cls, (args, kwargs), link)
    return tag_raw(out, prov, cls, link)


def _propagating_rule(link: bool, name: str, doc: str) -> Rule:
    # One body for union_rule and view_rule, specialised by a closure so the
    # hot path pays no extra call.
    def rule(func: Any, types: tuple, args: tuple, kwargs: dict | None, cls: type) -> Any:
        if kwargs:
            out = _propagate_kwargs(func, args, kwargs, cls, link)
            if _STATE.live:
                claims_after(func, out, args, kwargs)
            return out
        # Fast path: no kwargs, usually only tensors and scalars as arguments.
        prov = _EMPTY
        nested = False
        for a in args:
            if isinstance(a, ProvenanceTensor):
                p = a._provenance
                root = a._prov_root
                if root is not None and isinstance(root, ProvenanceTensor):
                    p = provenance_of(a)
                if p is not prov:
                    prov = prov | p if prov else p
            elif type(a) in _NESTED:
                prov = collect(a, prov)
                nested = True
        out = call_disabled(func, (), args)
        if type(out) is not Tensor or nested:
            out = _attach(out, prov, cls, args, link)
        else:
            for a in args:
                if out is a:
                    out = wrap(out, prov, cls)
                    break
            else:
                # tag_raw inlined: this is the hottest path of tracking.
                base = out._base if link else None  # read while plain: no dispatch
                out.__class__ = cls
                out._provenance = prov  # type: ignore[attr-defined]
                if base is not None:
                    link_root(out, base)  # type: ignore[arg-type]
        if _STATE.live:  # plate claims (claims.py): only where a claim was ever made
            claims_after(func, out, args, None)
        return out

    rule.__name__ = rule.__qualname__ = name
    rule.__doc__ = doc
    return rule


union_rule = _propagating_rule(
    False,
    "union_rule",
    """The default: every output gets the union of all tensor inputs' provenance.

    For ops that never return views (arithmetic, math, reductions, linear
    algebra).  ``out=`` makes the call a mutation (:func:`mutation_rule`).

    >>> a = ProvenanceTensor(torch.ones(2), {"a"})
    >>> b = ProvenanceTensor(torch.ones(2), {"b"})
    >>> sorted(union_rule(torch.add, (), (a, b), None, ProvenanceTensor)._provenance)
    ['a', 'b']
    """,
)
view_rule = _propagating_rule(
    True,
    "view_rule",
    """The union rule for ops whose outputs may be views of an input.

    A view also remembers the tensor owning its storage, so a later in-place
    change of that owner, or of another view of it, joins the view's provenance.

    >>> a = ProvenanceTensor(torch.zeros(2), {"a"})
    >>> v = a[0]
    >>> _ = a.add_(ProvenanceTensor(torch.ones(2), {"b"}))
    >>> v
    tensor(1., provenance={'a', 'b'})
    """,
)


def _taint_one(t: Tensor, prov: frozenset, cls: type, func: Any) -> None:
    if isinstance(t, ProvenanceTensor):
        old = provenance_of(t)
        if not prov <= old:
            t._provenance = old | prov
        t._prov_shape = None  # resize_, unsqueeze_, set_, out= may change the shape
        if issubclass(cls, DynamicShapeProvenanceTensor) and type(t) is not cls:
            t.__class__ = cls
    elif type(t) is Tensor:
        t.__class__ = cls
        t._provenance = prov  # type: ignore[attr-defined]
    else:
        untrackable_write(
            f"{op_name(func)} writes values of sites {sorted(map(str, names_of(prov)))} "
            f"into a {type(t).__name__}, which cannot carry provenance (parameters carry "
            "none by design), so every later site counts as depending on them.  Write "
            "into a fresh tensor to keep the dependency per value, or call "
            "detach_provenance() on the values first if dropping it is intended",
            prov,
        )


def _taint(m: Tensor, prov: frozenset, root_prov: frozenset, cls: type, func: Any) -> None:
    # Join ``prov`` into a mutated tensor and ``root_prov`` into the owner of its
    # storage (the same, with plate claims mixed: the root has other dims).
    if not prov:
        return
    was_plain = type(m) is Tensor
    base = call_disabled(_BASE_GET, (), (m,))
    _taint_one(m, prov, cls, func)
    if was_plain and base is not None:
        link_root(m, base)  # type: ignore[arg-type]
    root = m._prov_root if isinstance(m, ProvenanceTensor) else None
    if root is None and base is not None:
        root = base._prov_root if isinstance(base, ProvenanceTensor) else None
        root = base if root is None else root
    root_was_plain = False
    if root is not None and root is not m:
        if root_prov is not prov and same_layout(m, root):
            root_prov = prov  # an alias of the whole root: the same dims
        root_was_plain = type(root) is Tensor
        _taint_one(root, root_prov, cls, func)
    if was_plain or root_was_plain:
        # Plain views of this memory taken before now never reached a rule.
        plain = getattr(m, "_prov_plain", None)
        known = [x for x in (m, base, root, plain) if x is not None]
        adopt_aliases(m, known, prov, call_disabled, cls)
    remember_storage(m, prov, call_disabled)


#: In-place ops that write ``self op others`` elementwise, with the others
#: broadcast right-aligned into ``self``: plate claims keep their dims.  Filled by
#: ``install_rules``; every other write mixes the claims it writes.
ELEMENTWISE_WRITES: set[Any] = set()
_FULL = slice(None)


def _elementwise_write(func: Any, args: tuple, kwargs: dict | None) -> bool:
    if kwargs and "out" in kwargs:
        return False
    if func in ELEMENTWISE_WRITES:
        return True
    if func is Tensor.__setitem__ and len(args) > 1:
        index = args[1]
        items = index if type(index) is tuple else (index,)
        return all(i is Ellipsis or (type(i) is slice and i == _FULL) for i in items)
    return False


def _mutate(func: Any, args: tuple, kwargs: dict | None, cls: type, targets: list) -> Any:
    prov = collect(args)
    if kwargs:
        prov = collect(kwargs, prov)
    out = call(func, args, kwargs)
    root_prov = prov
    if STATE.live and has_claims(prov):
        root_prov = mixed(prov)
        if not _elementwise_write(func, args, kwargs):
            prov = root_prov
    for m in targets:
        _taint(m, prov, root_prov, cls, func)
    if out is None or any(out is m for m in targets):
        return out
    return _attach(out, prov, cls, (args, kwargs))


def write(target: Tensor, prov: frozenset, cls: type, func: Any) -> None:
    """Record that ``func`` wrote values with provenance ``prov`` into ``target``
    (and its storage owner) without a rule seeing it: plate claims mixed.

    >>> t = torch.zeros(2)
    >>> write(t, frozenset({"a"}), ProvenanceTensor, torch.add)
    >>> t._provenance
    frozenset({'a'})
    """
    prov = mixed(prov)
    _taint(target, prov, prov, cls, func)


def mutation_rule(func: Any, types: tuple, args: tuple, kwargs: dict | None, cls: type) -> Any:
    """In-place ops, ``out=``, ``__setitem__`` and setters.

    The mutated tensor (the first argument, or every tensor in ``out=``) gets
    its old provenance joined with all inputs'; so does the tensor owning its
    storage (a view's base).  A plain mutated tensor becomes tracked.

    A mutated tensor of another subclass (such as ``nn.Parameter``) cannot
    carry provenance: see :func:`~tracegraph.ops.provenance.aliases.untrackable_write`.

    >>> x = torch.zeros(2)
    >>> x[0] = ProvenanceTensor(torch.tensor(1.0), {"z"})
    >>> x
    tensor([1., 0.], provenance={'z'})
    """
    if kwargs and "out" in kwargs:
        targets = list(tensors_in(kwargs["out"]))
    elif args:
        targets = list(tensors_in(args[0]))  # a list for torch._foreach_*_
    else:
        targets = list(tensors_in([(kwargs or {}).get("input"), (kwargs or {}).get("self")]))
    return _mutate(func, args, kwargs, cls, targets)


def mutation_all_rule(func: Any, types: tuple, args: tuple, kwargs: dict | None, cls: type) -> Any:
    """An unknown in-place op: every tensor argument may have been written.

    The default for unlisted ops named like in-place ops (``name_``).

    >>> a, b = torch.zeros(1), ProvenanceTensor(torch.ones(1), {"b"})
    >>> _ = mutation_all_rule(torch.Tensor.add_, (), (a, b), None, ProvenanceTensor)
    >>> a._provenance
    frozenset({'b'})
    """
    return _mutate(func, args, kwargs, cls, list(tensors_in((args, kwargs))))
