"""The tensor subclass: what a tracked tensor is and what it stands for.

A :class:`ProvenanceTensor` *is* the tensor an op returned (its class was
swapped in place), or an alias made by :func:`~tracegraph.ops.provenance.track_provenance`
that stands for the tracked tensor.  Every op on it is dispatched to the rule
registered for the op (:mod:`tracegraph.ops.provenance.registry`).  Import the
public API from :mod:`tracegraph.ops.provenance`.

Why it is cheap (details in ``docs/design/provenance.md``): nothing is unwrapped
or wrapped, ``.shape``/``.size()`` are cached Python attributes that never
dispatch, and the hottest operators skip PyTorch's ``__torch_function__``
protocol by calling their registered rule directly.

>>> x = ProvenanceTensor(torch.ones(2), frozenset({"x"}))
>>> y = x * 2
>>> type(y).__name__, y._provenance
('ProvenanceTensor', frozenset({'x'}))
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch

from tracegraph.ops.provenance.claims import STATE, blind, mixed
from tracegraph.ops.provenance.control_flow import record_control_flow
from tracegraph.ops.provenance.registry import RULES, unlisted

__all__ = [
    "DynamicShapeProvenanceTensor",
    "ProvenanceTensor",
    "call",
    "call_disabled",
    "link_root",
    "plain_of",
    "provenance_of",
    "UNTRACKABLE_WRITE",
    "note_event",
    "note_raised",
    "raised_on",
    "take_raised",
    "reduce_untracked",
    "retag",
    "same_layout",
    "tag_in_place",
    "tag_raw",
    "tensors_in",
    "tracking_enabled",
    "untracked",
    "wrap",
]

Tensor = torch.Tensor
_EMPTY: frozenset = frozenset()
call_disabled: Any = torch._C._disabled_torch_function_impl
_SHAPE_GET: Any = Tensor.shape.__get__  # type: ignore[attr-defined]
_SIZE = torch._C.TensorBase.size
_AS_SUBCLASS = Tensor.as_subclass
#: ``with untracked(): ...`` runs tracked tensors as plain ones: no rule is
#: consulted and results are plain tensors.  For code that has read the
#: provenance it needs already (a surrogate loss, a log-density whose
#: provenance is known) and would only pay for tracking every op.  This is
#: torch's ``DisableTorchFunctionSubclass`` context: the only other spelling of
#: it in tracegraph is this one.
untracked = torch._C.DisableTorchFunctionSubclass
#: Whether tracked tensors dispatch to their rules here: ``False`` inside
#: :data:`untracked`, where the Python methods below must act as the plain ones
#: (as ``__torch_function__`` does).
tracking_enabled = torch._C._is_torch_function_enabled
_tracking_on = tracking_enabled


def call(func: Any, args: tuple, kwargs: dict | None) -> Any:
    # Run ``func`` with __torch_function__ disabled: plain results, no recursion.
    # Property accessors reject even an empty kwargs dict, hence the branch.
    if kwargs:
        return call_disabled(func, (), args, kwargs)
    return call_disabled(func, (), args)


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

    def __new__(cls, data: Tensor, provenance: Iterable[Any] = _EMPTY, **kwargs: Any) -> Any:
        # ``kwargs``: accepted as Pyro's constructor accepts them; nothing to configure.
        if not isinstance(data, Tensor):
            raise TypeError(
                f"ProvenanceTensor expects a torch.Tensor, got {type(data).__name__}; "
                f"track_provenance() handles containers and non-tensors"
            )
        prov = provenance if isinstance(provenance, frozenset) else frozenset(provenance)
        # Provenance handed in from outside says nothing about plate positions.
        return wrap(data, blind(prov), cls) if prov else data

    def __copy__(self) -> Any:
        # ``copy.copy`` of a tensor shares its storage (torch goes through
        # ``__reduce_ex__``, which writes data only): keep the provenance and
        # follow the storage owner's later writes, as ``detach()`` does.
        import copy

        with untracked():
            out = copy.copy(self.as_subclass(Tensor))
        tracked = wrap(out, provenance_of(self), type(self))
        link_root(tracked, self)
        return tracked

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):  # type: ignore[override]
        rule = RULES.get(func)
        if rule is None:
            rule = unlisted(func)
        try:
            return rule(func, types, args, kwargs, cls)
        except Exception as exc:
            raised_on((args, kwargs), exc)
            raise

    @property
    def shape(self) -> torch.Size:  # type: ignore[override]
        shape = self._prov_shape
        if shape is None:
            shape = self._prov_shape = call_disabled(_SHAPE_GET, (), (self,))
        return shape

    def size(self, dim: Any = None) -> Any:  # type: ignore[override]
        if dim is None:
            shape = self._prov_shape
            if shape is None:
                shape = self._prov_shape = call_disabled(_SHAPE_GET, (), (self,))
            return shape
        return call_disabled(_SIZE, (), (self, dim))


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
        record_control_flow(provenance_of(self))
        return call_disabled(_SHAPE_GET, (), (self,))

    def size(self, dim: Any = None) -> Any:  # type: ignore[override]
        record_control_flow(provenance_of(self))
        return call_disabled(_SIZE, (), (self,) if dim is None else (self, dim))

    def __iter__(self) -> Iterator[Any]:
        record_control_flow(provenance_of(self))
        return super().__iter__()


# The hottest operators get Python methods that call the op's registered rule
# directly.  This skips PyTorch's C++ ``__torch_function__`` protocol (parsing
# the arguments twice, collecting overloaded types), about half the overhead;
# the rule table still decides what happens.  Only operators whose reflected
# form gives the plain computation's grad_fn are included (``plain - t`` must
# stay SubBackward0, so ``__rsub__`` is not).
_FAST_BINARY = "__add__ __radd__ __sub__ __mul__ __rmul__ __truediv__ __matmul__"


def _fast_binary(name: str) -> Callable[[Any, Any], Any]:
    func = getattr(Tensor, name)

    def method(self: Any, other: Any) -> Any:
        if not _tracking_on():  # inside DisableTorchFunctionSubclass: a plain op
            return func(self, other)
        rule = RULES.get(func)
        if rule is None:
            rule = unlisted(func)
        cls = (
            DynamicShapeProvenanceTensor
            if type(other) is DynamicShapeProvenanceTensor
            else type(self)
        )
        try:
            return rule(func, (), (self, other), None, cls)
        except Exception as exc:
            raised_on((self, other), exc)
            raise

    method.__name__ = name
    method.__qualname__ = f"ProvenanceTensor.{name}"
    method.__doc__ = func.__doc__
    return method


def _fast_unary(name: str) -> Callable[[Any], Any]:
    func = getattr(Tensor, name)

    def method(self: Any) -> Any:
        if not _tracking_on():
            return func(self)
        rule = RULES.get(func)
        if rule is None:
            rule = unlisted(func)
        try:
            return rule(func, (), (self,), None, type(self))
        except Exception as exc:
            raised_on(self, exc)
            raise

    method.__name__ = name
    method.__qualname__ = f"ProvenanceTensor.{name}"
    method.__doc__ = func.__doc__
    return method


def _dispatching(name: str) -> Callable[..., Any]:
    # ``Tensor.set_`` never calls ``__torch_function__`` (a PyTorch quirk): route
    # it through its rule so the mutation is seen and the cached shape dropped.
    func = getattr(Tensor, name)

    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not _tracking_on():
            return func(self, *args, **kwargs)
        rule = RULES.get(func)
        if rule is None:
            rule = unlisted(func)
        try:
            return rule(func, (), (self, *args), kwargs or None, type(self))
        except Exception as exc:
            raised_on((self, args, kwargs), exc)
            raise

    method.__name__ = name
    method.__qualname__ = f"ProvenanceTensor.{name}"
    method.__doc__ = func.__doc__
    return method


for _name in _FAST_BINARY.split():
    setattr(ProvenanceTensor, _name, _fast_binary(_name))
for _name in ("__neg__", "exp", "log"):
    setattr(ProvenanceTensor, _name, _fast_unary(_name))
ProvenanceTensor.set_ = _dispatching("set_")  # type: ignore[method-assign]


#: Exceptions that ops on tracked values raised on this thread and that have
#: not been accounted for yet: ``(sites, what)`` (see :func:`raised_on`).
_RAISED = threading.local()
#: Raised by protocols and checks of types and shapes, not by values.
_STRUCTURAL = (TypeError, NotImplementedError, AttributeError)


def raised_on(inputs: Any, exc: BaseException) -> None:
    """An op on tracked ``inputs`` raised ``exc``.  Whether it raises may depend on
    their values (an index out of range, a matrix that is not positive definite);
    a program that catches it branches on those values, and on the runs where
    nothing is raised there is nothing to see, so the decision cannot be tracked.
    The event is kept until :func:`take_raised` (the next sample site) reports it.

    >>> _ = take_raised()
    >>> i = ProvenanceTensor(torch.tensor(5), {"i"})
    >>> try:
    ...     torch.zeros(2)[i]
    ... except IndexError:
    ...     pass
    >>> take_raised()
    [(['i'], 'IndexError')]
    """
    if isinstance(exc, _STRUCTURAL) or type(exc).__name__ == "ProvenanceError":
        return
    prov: frozenset = _EMPTY
    for t in tensors_in(inputs):
        if isinstance(t, ProvenanceTensor):
            prov = prov | provenance_of(t)
    note_raised(prov, exc)


def note_raised(provenance: Iterable[Any], exc: BaseException) -> None:
    """:func:`raised_on` for code that knows the provenance of what raised (a
    distribution whose argument check failed on tracked values).

    >>> _ = take_raised()
    >>> note_raised({"z"}, ValueError("out of support"))
    >>> take_raised()
    [(['z'], 'ValueError')]
    """
    note_event(provenance, type(exc).__name__)


#: The kind :func:`note_event` gives a write into a tensor without provenance.
UNTRACKABLE_WRITE = "write"


def note_event(provenance: Iterable[Any], kind: str) -> None:
    """Keep a dependency the rules could not follow for the next sample site to
    report: an exception's type name (:func:`note_raised`) or
    :data:`UNTRACKABLE_WRITE`.

    >>> _ = take_raised()  # (forget what earlier code left)
    >>> note_event({"z"}, UNTRACKABLE_WRITE)
    >>> take_raised()
    [(['z'], 'write')]
    """
    names = sorted(map(str, (e for e in provenance if isinstance(e, str))))
    if names:
        pending = getattr(_RAISED, "events", None)
        if pending is None:
            pending = _RAISED.events = []
        if len(pending) < 16:
            pending.append((names, kind))


def take_raised() -> list[tuple[list[str], str]]:
    """The events noted since the last call (and forget them).

    >>> _ = take_raised()
    >>> take_raised()
    []
    """
    pending = getattr(_RAISED, "events", None)
    if not pending:
        return []
    _RAISED.events = []
    return list(pending)


def tensors_in(x: Any) -> Iterator[Tensor]:
    """Every tensor in ``x`` and in the lists, tuples and dicts it nests."""
    if isinstance(x, Tensor):
        yield x
    elif isinstance(x, (list, tuple)) and not isinstance(x, torch.Size):
        for item in x:
            yield from tensors_in(item)
    elif isinstance(x, dict):
        for item in x.values():
            yield from tensors_in(item)


def provenance_of(t: ProvenanceTensor) -> frozenset:
    # A tensor's provenance includes what was written into the storage it
    # shares with its root (through the root or any other view) since then.
    prov = t._provenance
    root = t._prov_root
    if root is not None and isinstance(root, ProvenanceTensor):
        root_prov = root._provenance
        if root_prov is not t._prov_root_seen:
            t._prov_root_seen = root_prov
            if not root_prov <= prov:
                if STATE.live and not same_layout(t, root):
                    # The root's plate claims are about the root's dims.
                    root_prov = mixed(root_prov)
                prov = t._provenance = prov | root_prov
    return prov


_STRIDE = Tensor.stride
_OFFSET = Tensor.storage_offset


def same_layout(a: Tensor, b: Tensor) -> bool:
    """Whether element i of ``a`` is element i of ``b`` (same shape, strides, offset)."""
    return bool(
        call_disabled(_SHAPE_GET, (), (a,)) == call_disabled(_SHAPE_GET, (), (b,))
        and call_disabled(_STRIDE, (), (a,)) == call_disabled(_STRIDE, (), (b,))
        and call_disabled(_OFFSET, (), (a,)) == call_disabled(_OFFSET, (), (b,))
    )


def link_root(out: ProvenanceTensor, source: Tensor) -> None:
    # ``source`` shares storage with ``out``; follow it to the ultimate owner.
    root = source._prov_root if isinstance(source, ProvenanceTensor) else None
    root = source if root is None else root
    out._prov_root = root
    if isinstance(root, ProvenanceTensor):
        out._prov_root_seen = root._provenance


def tag_in_place(t: Tensor, prov: frozenset, cls: type | None = None, link: bool = True) -> Any:
    """Make the plain tensor ``t`` itself carry ``prov``: its class is swapped, so
    there is no alias and no extra autograd node.  For a tensor nobody else holds
    as a plain one (an op's fresh result).  A view remembers the owner of its
    storage (``link``).

    The result was computed without tracking, so plate claims in ``prov`` turn
    mixed (see :func:`~tracegraph.ops.provenance.claims.blind`).

    >>> t = torch.zeros(1)
    >>> tag_in_place(t, frozenset({"a"})) is t, type(t).__name__, sorted(t._provenance)
    (True, 'ProvenanceTensor', ['a'])
    """
    return tag_raw(t, blind(prov), cls, link)


def tag_raw(t: Tensor, prov: frozenset, cls: type | None = None, link: bool = True) -> Any:
    # tag_in_place for the rules, whose ``prov`` (claims included) is exact.
    base = t._base if link else None  # read while ``t`` is plain: no dispatch
    t.__class__ = ProvenanceTensor if cls is None else cls
    t._provenance = prov  # type: ignore[attr-defined]
    if base is not None:
        link_root(t, base)  # type: ignore[arg-type]
    return t


def reduce_untracked(t: Any, fn: Callable[[Tensor], Any]) -> Any:
    """``fn(t)`` for a computation whose result depends on exactly ``t`` (a sum of a
    log-density): run untracked and tagged with ``t``'s provenance, which costs less
    than tracking it op by op.  Plain tensors and tensors of a data-dependent shape
    (whose shape reads must be recorded) go through ``fn`` as usual.

    >>> t = ProvenanceTensor(torch.ones(3), frozenset({"a"}))
    >>> out = reduce_untracked(t, lambda x: x.sum())
    >>> out, type(reduce_untracked(torch.ones(3), lambda x: x.sum())).__name__
    (tensor(3., provenance={'a'}), 'Tensor')
    """
    if type(t) is not ProvenanceTensor:
        return fn(t)
    prov = provenance_of(t)
    with untracked():
        out = fn(t)
    if out is t or type(out) is not Tensor or not prov:
        return out
    return tag_raw(out, mixed(prov))  # ``fn`` may move or mix any dim


def retag(t: Tensor, prov: frozenset) -> Any:
    """A tracked alias of ``t`` carrying exactly ``prov`` (plate claims included):
    for code that knows ``t``'s provenance better than its ops did (a sample
    site's value, see :mod:`tracegraph.ops.provenance.batch`).

    >>> t = ProvenanceTensor(torch.ones(1), frozenset({"a", "b"}))
    >>> sorted(retag(t, frozenset({"a"}))._provenance)
    ['a']
    """
    if isinstance(t, ProvenanceTensor):
        cls = (
            DynamicShapeProvenanceTensor
            if isinstance(t, DynamicShapeProvenanceTensor)
            else ProvenanceTensor
        )
        return wrap(plain_of(t), prov, cls)
    return wrap(t, prov, ProvenanceTensor)


def wrap(data: Tensor, prov: frozenset, cls: type) -> Any:
    # A new tracked alias that stands for ``data`` itself (autograd metadata
    # getters read through to it); ``as_subclass`` keeps the autograd link.
    if isinstance(data, ProvenanceTensor):
        prov = provenance_of(data) | prov
        if isinstance(data, DynamicShapeProvenanceTensor):
            cls = DynamicShapeProvenanceTensor
        data = plain_of(data)
    out: Any = _AS_SUBCLASS(data, cls)
    out._provenance = prov
    out._prov_plain = data
    base = data._base
    link_root(out, data if base is None else base)
    return out


def plain_of(t: ProvenanceTensor) -> Tensor:
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
        alias = call_disabled(_AS_SUBCLASS, (), (t, Tensor))
        t._prov_alias = weakref.ref(alias)
    return alias
