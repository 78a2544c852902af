"""The :class:`ProvenanceTensor` subclass, its dispatcher and the default rules.

Import the public API from :mod:`tracegraph.ops.provenance`, which also loads
the full rule table (:mod:`tracegraph.ops.provenance_rules`).  This module
holds what every rule needs: the registry, how provenance is read from inputs,
attached to outputs and joined into mutated tensors, and the default rules.

Why it is cheap (details in ``docs/design/provenance.md``): a tracked tensor
*is* the result tensor (its class is swapped, nothing is wrapped), ``func``
runs on tracked tensors with ``__torch_function__`` disabled (nothing is
unwrapped), calls without keyword arguments skip pytree flattening, and
``.shape``/``.size()`` are cached Python attributes that never dispatch.

>>> x = ProvenanceTensor(torch.ones(2), frozenset({"x"}))
>>> y = x * 2
>>> type(y).__name__, y._provenance
('ProvenanceTensor', frozenset({'x'}))
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch

from tracegraph.errors import ProvenanceError
from tracegraph.ops.control_flow import _STRICT, record_control_flow

__all__ = [
    "ProvenanceTensor",
    "DynamicShapeProvenanceTensor",
    "Rule",
    "register_rule",
    "rule_for",
    "is_registered",
    "union_rule",
    "view_rule",
    "mutation_rule",
    "mutation_all_rule",
]

Tensor = torch.Tensor
#: A rule has ``__torch_function__``'s signature: ``rule(func, types, args, kwargs, cls)``.
Rule = Callable[[Any, tuple, tuple, "dict[str, Any] | None", type], Any]

_EMPTY: frozenset = frozenset()
_call_disabled = torch._C._disabled_torch_function_impl
_SHAPE_GET = Tensor.shape.__get__
_BASE_GET = Tensor._base.__get__
_SIZE = torch._C.TensorBase.size
_AS_SUBCLASS = Tensor.as_subclass
_RULES: dict[Any, Rule] = {}
# Rules chosen for unlisted ops outside strict mode; kept apart from _RULES so
# that strict mode keeps refusing those ops.
_DEFAULTS: dict[Any, Rule] = {}
_INPLACE_DUNDERS = frozenset(
    f"__i{op}__" for op in "add sub mul truediv floordiv div mod pow and or xor lshift rshift".split()
)
_NESTED = frozenset({list, tuple, slice})
# Non-tensor results that say nothing about tensor *values*.
_METADATA_TYPES = (str, torch.dtype, torch.device, torch.layout, torch.memory_format)


def _call(func: Any, args: tuple, kwargs: dict | None) -> Any:
    # Run ``func`` with __torch_function__ disabled: plain results, no recursion.
    # Property accessors reject even an empty kwargs dict, hence the branch.
    if kwargs:
        return _call_disabled(func, (), args, kwargs)
    return _call_disabled(func, (), args)


def _op_name(func: Any) -> str:
    owner = getattr(func, "__self__", None)
    if type(owner).__name__ == "getset_descriptor":
        return f"torch.Tensor.{owner.__name__}.{func.__name__}"
    qual = getattr(func, "__qualname__", None) or getattr(func, "__name__", repr(func))
    qual = qual.replace("TensorBase.", "Tensor.").replace("_VariableFunctionsClass.", "")
    module = "torch" if qual.startswith("Tensor.") else getattr(func, "__module__", None)
    module = (module or "torch").replace("torch._C._nn", "torch.nn.functional")
    return f"{module}.{qual}".replace("torch._tensor.", "torch.")


def register_rule(rule: Rule, *funcs: Any) -> Rule:
    """Register ``rule`` for each of ``funcs``, replacing any previous rule.

    ``None`` entries are skipped, so ``getattr(torch, name, None)`` may be
    passed for ops that some torch versions lack.

    :param rule: called as ``rule(func, types, args, kwargs, cls)``, exactly
        like ``__torch_function__``; returns the result with provenance attached.
    :param funcs: the ops it governs.
    :returns: ``rule``.

    >>> def double(x):
    ...     return torch.cat([x, x])
    >>> _ = register_rule(union_rule, double)
    >>> rule_for(double) is union_rule
    True
    """
    for func in funcs:
        if func is not None:
            _RULES[func] = rule
            _DEFAULTS.pop(func, None)
    return rule


def is_registered(func: Any) -> bool:
    """Return whether the rule table lists ``func`` (so strict mode accepts it).

    >>> is_registered(torch.Tensor.add), is_registered(object())
    (True, False)
    """
    return func in _RULES


def rule_for(func: Any) -> Rule:
    """Return the rule governing ``func``.

    :raises ProvenanceError: in strict mode, when the table does not list ``func``.

    >>> rule_for(torch.Tensor.add_) is mutation_rule
    True
    """
    rule = _RULES.get(func)
    return _unlisted(func) if rule is None else rule


def _unlisted(func: Any) -> Rule:
    if _STRICT.get():
        name = _op_name(func)
        raise ProvenanceError(
            f"provenance strict mode: no rule says what {name} does to provenance. "
            f"Register one, e.g. `register_rule(union_rule, {name})` from "
            f"tracegraph.ops.provenance_rules if every output depends on every input, "
            f"or leave strict mode to get the default union rule."
        )
    rule = _DEFAULTS.get(func)
    if rule is None:
        name = getattr(func, "__name__", "")
        mutates = (
            name in ("__set__", "__setitem__", "__setstate__")
            or name in _INPLACE_DUNDERS
            or (name.endswith("_") and not name.endswith("__"))
        )
        # An unknown functional op may return views, hence view_rule.
        rule = _DEFAULTS[func] = mutation_all_rule if mutates else view_rule
    return rule


class ProvenanceTensor(Tensor):
    """A tensor carrying a frozenset of sample-site names through every op.

    ``ProvenanceTensor(data, provenance)`` returns ``data`` itself when
    ``provenance`` is empty, else a tracked alias sharing ``data``'s storage
    and gradient; its ``grad_fn``, ``is_leaf`` and ``grad`` are ``data``'s.

    :param data: the tensor to track (a tracked one keeps its provenance too).
    :param provenance: sample-site names.
    :raises TypeError: if ``data`` is not a tensor.

    >>> x = ProvenanceTensor(torch.tensor([1.0, 2.0]), frozenset({"x"}))
    >>> x + 1
    tensor([2., 3.], provenance={'x'})
    >>> type(ProvenanceTensor(torch.zeros(1), frozenset())).__name__
    'Tensor'
    """

    # Class-level defaults: a plain tensor swapped into this class is valid at
    # once, and reading an unset attribute costs no exception.
    _provenance: frozenset = _EMPTY
    _prov_plain: Tensor | None = None  # the tensor an alias made by wrap stands for
    _prov_alias: Any = None  # weakref to the plain alias handed out by detach
    _prov_root: Tensor | None = None  # owner of the storage (view base, detach source)
    _prov_root_seen: frozenset | None = None  # root provenance already joined in
    _prov_shape: torch.Size | None = None  # cached .shape; every mutation resets it
    _dynamic_shape_class: type

    def __new__(cls, data: Tensor, provenance: Iterable[Any] = _EMPTY) -> Any:
        if not isinstance(data, Tensor):
            raise TypeError(
                f"ProvenanceTensor expects a torch.Tensor, got {type(data).__name__}; "
                f"track_provenance() handles containers and non-tensors"
            )
        prov = provenance if isinstance(provenance, frozenset) else frozenset(provenance)
        return _wrap(data, prov, cls) if prov else data

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):  # type: ignore[override]
        rule = _RULES.get(func)
        if rule is None:
            rule = _unlisted(func)
        return rule(func, types, args, kwargs, cls)

    @property
    def shape(self) -> torch.Size:  # type: ignore[override]
        shape = self._prov_shape
        if shape is None:
            shape = self._prov_shape = _call_disabled(_SHAPE_GET, (), (self,))
        return shape

    def size(self, dim: Any = None) -> Any:  # type: ignore[override]
        if dim is None:
            shape = self._prov_shape
            if shape is None:
                shape = self._prov_shape = _call_disabled(_SHAPE_GET, (), (self,))
            return shape
        return _call_disabled(_SIZE, (), (self, dim))


class DynamicShapeProvenanceTensor(ProvenanceTensor):
    """A tracked tensor whose *shape* depends on tracked values.

    Made by ``nonzero``, ``masked_select``, ``unique``, indexing with a
    tracked boolean mask and the like, and inherited by everything computed
    from it.  Reading its shape in Python (``.shape``, ``.size()``, ``len``,
    ``numel``, iterating) records its provenance as control flow.

    >>> x = ProvenanceTensor(torch.tensor([0.0, 2.0, 3.0]), {"x"})
    >>> type(x[x > 1]).__name__
    'DynamicShapeProvenanceTensor'
    """

    @property
    def shape(self) -> torch.Size:  # type: ignore[override]
        record_control_flow(_provenance_of(self))
        return _call_disabled(_SHAPE_GET, (), (self,))

    def size(self, dim: Any = None) -> Any:  # type: ignore[override]
        record_control_flow(_provenance_of(self))
        return _call_disabled(_SIZE, (), (self,) if dim is None else (self, dim))

    def __iter__(self) -> Iterator[Any]:
        record_control_flow(_provenance_of(self))
        return super().__iter__()


ProvenanceTensor._dynamic_shape_class = DynamicShapeProvenanceTensor


# The hottest operators get Python methods that call the op's registered rule
# directly.  This skips PyTorch's C++ ``__torch_function__`` protocol (parsing
# the arguments twice, collecting overloaded types), about half the overhead;
# the rule table still decides what happens.  Only operators whose reflected
# form gives the plain computation's grad_fn are included (``plain - t`` must
# stay SubBackward0, so ``__rsub__`` is not).
_FAST_BINARY = "__add__ __radd__ __sub__ __mul__ __rmul__ __truediv__ __matmul__ __getitem__"


def _fast_binary(name: str) -> Callable[[Any, Any], Any]:
    func = getattr(Tensor, name)

    def method(self: Any, other: Any) -> Any:
        rule = _RULES.get(func)
        if rule is None:
            rule = _unlisted(func)
        cls = DynamicShapeProvenanceTensor if type(other) is DynamicShapeProvenanceTensor else type(self)
        return rule(func, (), (self, other), None, cls)

    method.__name__ = name
    method.__qualname__ = f"ProvenanceTensor.{name}"
    method.__doc__ = func.__doc__
    return method


def _fast_unary(name: str) -> Callable[[Any], Any]:
    func = getattr(Tensor, name)

    def method(self: Any) -> Any:
        rule = _RULES.get(func)
        if rule is None:
            rule = _unlisted(func)
        return rule(func, (), (self,), None, type(self))

    method.__name__ = name
    method.__qualname__ = f"ProvenanceTensor.{name}"
    method.__doc__ = func.__doc__
    return method


for _name in _FAST_BINARY.split():
    setattr(ProvenanceTensor, _name, _fast_binary(_name))
for _name in ("__neg__", "exp", "log"):
    setattr(ProvenanceTensor, _name, _fast_unary(_name))


def _provenance_of(t: ProvenanceTensor) -> frozenset:
    # A tensor's provenance includes what was written into the storage it
    # shares with its root (through the root or any other view) since then.
    prov = t._provenance
    root = t._prov_root
    if root is not None and isinstance(root, ProvenanceTensor):
        root_prov = root._provenance
        if root_prov is not t._prov_root_seen:
            t._prov_root_seen = root_prov
            if not root_prov <= prov:
                prov = t._provenance = prov | root_prov
    return prov


def _collect(x: Any, acc: frozenset = _EMPTY) -> frozenset:
    # Union of ``acc`` and the provenance of tracked tensors anywhere in ``x``.
    if isinstance(x, ProvenanceTensor):
        prov = _provenance_of(x)
        if prov is not acc and not prov <= acc:
            acc = acc | prov if acc else prov
    elif isinstance(x, (list, tuple, set, frozenset)) and not isinstance(x, torch.Size):
        for item in x:
            acc = _collect(item, acc)
    elif isinstance(x, dict):
        for item in x.values():
            acc = _collect(item, acc)
    elif isinstance(x, slice):
        acc = _collect((x.start, x.stop, x.step), acc)
    return acc


def _tensors_in(x: Any) -> Iterator[Tensor]:
    if isinstance(x, Tensor):
        yield x
    elif isinstance(x, (list, tuple)) and not isinstance(x, torch.Size):
        for item in x:
            yield from _tensors_in(item)
    elif isinstance(x, dict):
        for item in x.values():
            yield from _tensors_in(item)


def _link_root(out: ProvenanceTensor, source: Tensor) -> None:
    # ``source`` shares storage with ``out``; follow it to the ultimate owner.
    root = source._prov_root if isinstance(source, ProvenanceTensor) else None
    root = source if root is None else root
    out._prov_root = root
    if isinstance(root, ProvenanceTensor):
        out._prov_root_seen = root._provenance


def _wrap(data: Tensor, prov: frozenset, cls: type) -> Any:
    # A new tracked alias that stands for ``data`` itself (autograd metadata
    # getters read through to it); ``as_subclass`` keeps the autograd link.
    if isinstance(data, ProvenanceTensor):
        prov = _provenance_of(data) | prov
        if isinstance(data, DynamicShapeProvenanceTensor):
            cls = cls._dynamic_shape_class
        data = _plain_of(data)
    out = _AS_SUBCLASS(data, cls)
    out._provenance = prov
    out._prov_plain = data
    base = data._base
    _link_root(out, data if base is None else base)
    return out


def _plain_of(t: ProvenanceTensor) -> Tensor:
    # detach_provenance of one tensor: the tensor an alias stands for, else a
    # plain autograd alias made once and handed out again while anyone holds
    # it.  Weakly referenced: the alias's autograd base is ``t``, so a strong
    # reference would be a cycle through C++ that the collector cannot see.
    plain = t._prov_plain
    if plain is not None and not isinstance(plain, ProvenanceTensor):
        return plain
    ref = t._prov_alias
    alias = ref() if ref is not None else None
    if alias is None:
        alias = _call_disabled(_AS_SUBCLASS, (), (t, Tensor))
        t._prov_alias = weakref.ref(alias)
    return alias


def _attach(out: Any, prov: frozenset, cls: type, inputs: Any, link: bool = True) -> Any:
    # Attach ``prov`` to every tensor in ``out``.  A result that *is* an input
    # is kept if it already carries ``prov``, else replaced by an alias.
    # Non-tensor data (numbers, lists, arrays) leaves the tensor world: its
    # provenance is recorded as control flow.
    if isinstance(out, Tensor):
        if any(out is x for x in _tensors_in(inputs)):
            if isinstance(out, ProvenanceTensor) and prov <= _provenance_of(out):
                return out
            return _wrap(out, prov, cls)
        if type(out) is Tensor:
            base = out._base if link else None
            out.__class__ = cls
            out._provenance = prov
            if base is not None:
                _link_root(out, base)
            return out
        if isinstance(out, ProvenanceTensor):  # a fresh tracked object (deepcopy)
            out._provenance = _provenance_of(out) | prov
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
    prov = _collect(kwargs, _collect(args))
    return _attach(_call_disabled(func, (), args, kwargs), prov, cls, (args, kwargs), link)


def _propagating_rule(link: bool, name: str, doc: str) -> Rule:
    # One body for union_rule and view_rule, specialised by a closure so the
    # hot path pays no extra call.
    def rule(func: Any, types: tuple, args: tuple, kwargs: dict | None, cls: type) -> Any:
        if kwargs:
            return _propagate_kwargs(func, args, kwargs, cls, link)
        # Fast path: no kwargs, usually only tensors and scalars as arguments.
        prov = _EMPTY
        nested = False
        for a in args:
            if isinstance(a, ProvenanceTensor):
                p = a._provenance
                root = a._prov_root
                if root is not None and isinstance(root, ProvenanceTensor):
                    p = _provenance_of(a)
                if p is not prov:
                    prov = prov | p if prov else p
            elif type(a) in _NESTED:
                prov = _collect(a, prov)
                nested = True
        out = _call_disabled(func, (), args)
        if type(out) is not Tensor or nested:
            return _attach(out, prov, cls, args, link)
        for a in args:
            if out is a:
                return _wrap(out, prov, cls)
        base = out._base if link else None  # read while ``out`` is plain: no dispatch
        out.__class__ = cls
        out._provenance = prov
        if base is not None:
            _link_root(out, base)
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
        old = _provenance_of(t)
        if not prov <= old:
            t._provenance = old | prov
        t._prov_shape = None  # resize_, unsqueeze_, set_, out= may change the shape
        if issubclass(cls, DynamicShapeProvenanceTensor) and type(t) is not cls:
            t.__class__ = cls
    elif type(t) is Tensor:
        t.__class__ = cls
        t._provenance = prov
    else:
        raise ProvenanceError(
            f"{_op_name(func)} writes values with provenance {sorted(map(str, prov))} "
            f"into a {type(t).__name__}, which cannot carry provenance; call "
            f"detach_provenance() on the values first if dropping it is intended"
        )


def _taint(m: Tensor, prov: frozenset, cls: type, func: Any) -> None:
    # Join ``prov`` into a mutated tensor and into the owner of its storage.
    if not prov:
        return
    was_plain = type(m) is Tensor
    base = _call_disabled(_BASE_GET, (), (m,))
    _taint_one(m, prov, cls, func)
    if was_plain and base is not None:
        _link_root(m, base)  # type: ignore[arg-type]
    root = m._prov_root if isinstance(m, ProvenanceTensor) else None
    if root is None and base is not None:
        root = base._prov_root if isinstance(base, ProvenanceTensor) else None
        root = base if root is None else root
    if root is not None and root is not m:
        _taint_one(root, prov, cls, func)


def _mutate(func: Any, args: tuple, kwargs: dict | None, cls: type, targets: list) -> Any:
    prov = _collect(args)
    if kwargs:
        prov = _collect(kwargs, prov)
    out = _call(func, args, kwargs)
    for m in targets:
        _taint(m, prov, cls, func)
    if out is None or any(out is m for m in targets):
        return out
    return _attach(out, prov, cls, (args, kwargs))


def mutation_rule(func: Any, types: tuple, args: tuple, kwargs: dict | None, cls: type) -> Any:
    """In-place ops, ``out=``, ``__setitem__`` and setters.

    The mutated tensor (the first argument, or every tensor in ``out=``) gets
    its old provenance joined with all inputs'; so does the tensor owning its
    storage (a view's base).  A plain mutated tensor becomes tracked.

    :raises ProvenanceError: if the mutated tensor is another subclass (such
        as ``nn.Parameter``) that cannot carry provenance.

    >>> x = torch.zeros(2)
    >>> x[0] = ProvenanceTensor(torch.tensor(1.0), {"z"})
    >>> x
    tensor([1., 0.], provenance={'z'})
    """
    if kwargs and "out" in kwargs:
        targets = list(_tensors_in(kwargs["out"]))
    elif args:
        targets = list(_tensors_in(args[0]))  # a list for torch._foreach_*_
    else:
        targets = list(_tensors_in([(kwargs or {}).get("input"), (kwargs or {}).get("self")]))
    return _mutate(func, args, kwargs, cls, targets)


def mutation_all_rule(
    func: Any, types: tuple, args: tuple, kwargs: dict | None, cls: type
) -> Any:
    """An unknown in-place op: every tensor argument may have been written.

    The default for unlisted ops named like in-place ops (``name_``).

    >>> a, b = torch.zeros(1), ProvenanceTensor(torch.ones(1), {"b"})
    >>> _ = mutation_all_rule(torch.Tensor.add_, (), (a, b), None, ProvenanceTensor)
    >>> a._provenance
    frozenset({'b'})
    """
    return _mutate(func, args, kwargs, cls, list(_tensors_in((args, kwargs))))
