"""The provenance rule table: which rule governs which torch op.

Every op reaching :meth:`ProvenanceTensor.__torch_function__` is looked up
here.  The default for ordinary ops is :func:`union_rule` (every output gets
the union of all tensor inputs' provenance); the categories below refine it.
A precision fix is one registration::

    register_rule(view_rule, torch.some_new_view_op)

=====================  =====================================================
category (rule)        what happens to provenance
=====================  =====================================================
``union_rule``         outputs get the union of the inputs' (``out=`` mutates)
``view_rule``          union; a view also follows its storage owner's mutations
``alias_rule``         union; ``detach()``/``.data`` share storage without an
                       autograd link, so they are linked to it explicitly
``mutation_rule``      the mutated tensor (self / ``out=``) and its storage
                       owner get old provenance | all inputs'
``inplace_flag_rule``  ``F.relu(x, inplace=True)`` and friends: mutation if set
``dynamic_shape_rule`` union, and the output's *shape* depends on the data
``metadata_rule``      non-tensor metadata (dtype, device, dim): no provenance
``shape_metadata_rule`` metadata; records control flow for dynamic shapes
``plain_metadata_rule`` autograd metadata, read from the tensor an alias stands for
``control_flow_rule``  Python values from data (bool, item, tolist): recorded
                       in the active control-flow scopes
``display_rule``       repr/str/format: display only, recorded nowhere
=====================  =====================================================

Python's naming convention is a registration too: every ``Tensor`` method,
``torch`` function and ``nn.init`` initializer whose name ends in one
underscore mutates its first argument.

>>> rule_for(torch.Tensor.item) is control_flow_rule
True
"""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.distributions as dist
from torch.distributions import constraints

from tracegraph.ops.provenance import effects, mappers
from tracegraph.ops.provenance import positions as pos
from tracegraph.ops.provenance.claims import STATE, names_of
from tracegraph.ops.provenance.control_flow import record_control_flow, register_assertion
from tracegraph.ops.provenance.positions import ELEMENTWISE, POSITIONS, register_positions
from tracegraph.ops.provenance.propagation import (
    ELEMENTWISE_WRITES,
    collect,
    mutation_all_rule,
    mutation_rule,
    union_rule,
    view_rule,
)
from tracegraph.ops.provenance.registry import Rule, register_rule, rule_for, set_default_rules
from tracegraph.ops.provenance.table import (
    ELEMENTWISE_NAMES,
    entries,
    inplace_positions,
    positions,
)
from tracegraph.ops.provenance.tensor import (
    DynamicShapeProvenanceTensor,
    ProvenanceTensor,
    call,
    link_root,
    plain_of,
    provenance_of,
    wrap,
)

__all__ = [
    "alias_rule",
    "control_flow_rule",
    "display_rule",
    "dynamic_shape_rule",
    "getitem_rule",
    "inplace_flag_rule",
    "install_rules",
    "metadata_rule",
    "mutation_all_rule",
    "mutation_rule",
    "one_hot_rule",
    "plain_metadata_rule",
    "register_rule",
    "rule_for",
    "shape_metadata_rule",
    "union_rule",
    "view_rule",
    "where_rule",
]

Tensor = torch.Tensor


def _getter(name: str) -> Any:
    return getattr(Tensor, name).__get__


_DTYPE_GET = _getter("dtype")
_GRAD_FN_GET = _getter("grad_fn")
_REQUIRES_GRAD_GET = _getter("requires_grad")
_MASK_DTYPES = (torch.bool, torch.uint8)


def metadata_rule(func: Any, types: tuple, args: tuple, kwargs: dict | None, cls: type) -> Any:
    """Metadata that does not depend on tensor values: returned as is.

    >>> t = ProvenanceTensor(torch.ones(2), {"a"})
    >>> t.dtype, t.dim()
    (torch.float32, 1)
    """
    return call(func, args, kwargs)


def shape_metadata_rule(
    func: Any, types: tuple, args: tuple, kwargs: dict | None, cls: type
) -> Any:
    """Shape metadata: free, unless the shape itself depends on tracked data.

    >>> from tracegraph.ops.provenance.control_flow import control_flow_scope
    >>> t = ProvenanceTensor(torch.tensor([0.0, 1.0, 2.0]), {"a"})
    >>> with control_flow_scope() as scope:
    ...     n_plain, n_dynamic = len(t), len(t.nonzero())
    >>> (n_plain, n_dynamic), scope.provenance
    ((3, 2), frozenset({'a'}))
    """
    for a in args:
        if isinstance(a, DynamicShapeProvenanceTensor):
            record_control_flow(provenance_of(a))
    return call(func, args, kwargs)


def plain_metadata_rule(
    func: Any, types: tuple, args: tuple, kwargs: dict | None, cls: type
) -> Any:
    """Autograd metadata (``grad_fn``, ``is_leaf``, ``grad``, ``_base``).

    An alias made by ``ProvenanceTensor(x, ...)`` reads these from ``x``, so
    tracking a leaf keeps it a leaf with the leaf's gradient.

    >>> x = torch.ones(2, requires_grad=True)
    >>> t = ProvenanceTensor(x, {"a"})
    >>> t.is_leaf, t.grad_fn
    (True, None)
    """
    t = args[0]
    plain = t._prov_plain if isinstance(t, ProvenanceTensor) else None
    if plain is not None:
        args = (plain, *args[1:])
    return call(func, args, kwargs)


def control_flow_rule(func: Any, types: tuple, args: tuple, kwargs: dict | None, cls: type) -> Any:
    """Python values computed from tracked data: record their provenance as control flow.

    >>> from tracegraph.ops.provenance.control_flow import control_flow_scope
    >>> t = ProvenanceTensor(torch.tensor(2.0), {"n"})
    >>> with control_flow_scope() as scope:
    ...     value = t.item()
    >>> value, scope.provenance
    (2.0, frozenset({'n'}))
    """
    prov = collect(args)
    if kwargs:
        prov = collect(kwargs, prov)
    out = call(func, args, kwargs)
    record_control_flow(prov)
    return out


def display_rule(func: Any, types: tuple, args: tuple, kwargs: dict | None, cls: type) -> Any:
    """``repr``/``str``/``format``: a normal tensor repr plus the provenance.

    Display is not control flow: printing inside a model must not make every
    later site depend on what was printed.

    >>> t = ProvenanceTensor(torch.tensor(0.5, requires_grad=True), {"b", "a"})
    >>> t * 2
    tensor(1., grad_fn=<MulBackward0>, provenance={'a', 'b'})
    >>> f"{t:.2f}"
    '0.50'
    """
    t = args[0]
    if func is Tensor.__format__:
        spec = args[1] if len(args) > 1 else (kwargs or {}).get("format_spec", "")
        if call(Tensor.dim, (t,), None) == 0:
            return call(Tensor.item, (t,), None).__format__(spec)
        return object.__format__(t, spec)
    plain = call(Tensor.detach, (t,), None)
    text = plain.__repr__(tensor_contents=(kwargs or {}).get("tensor_contents"))
    source = t._prov_plain if t._prov_plain is not None else t
    extra = []
    grad_fn = call(_GRAD_FN_GET, (source,), None)
    if grad_fn is not None:
        extra.append(f"grad_fn=<{type(grad_fn).__name__}>")
    elif call(_REQUIRES_GRAD_GET, (source,), None):
        extra.append("requires_grad=True")
    names = ", ".join(sorted(map(repr, names_of(provenance_of(t)))))
    extra.append(f"provenance={{{names}}}")
    return f"{text[:-1]}, {', '.join(extra)})"


def dynamic_shape_rule(func: Any, types: tuple, args: tuple, kwargs: dict | None, cls: type) -> Any:
    """Union, and mark outputs whose shape depends on tracked values.

    >>> t = ProvenanceTensor(torch.tensor([0.0, 3.0]), {"a"})
    >>> type(t.nonzero()).__name__
    'DynamicShapeProvenanceTensor'
    """
    return view_rule(func, types, args, kwargs, DynamicShapeProvenanceTensor)


def _shape_depends_on(index: Any) -> bool:
    if isinstance(index, ProvenanceTensor):
        return call(_DTYPE_GET, (index,), None) in _MASK_DTYPES
    if isinstance(index, (tuple, list)):
        return any(_shape_depends_on(i) for i in index)
    if isinstance(index, slice):
        return bool(collect(index))
    return False


def getitem_rule(func: Any, types: tuple, args: tuple, kwargs: dict | None, cls: type) -> Any:
    """``t[index]``: a view whose provenance includes tracked index tensors.

    A tracked boolean mask or tracked slice bound makes the shape dynamic.

    >>> t = torch.arange(4.0)
    >>> i = ProvenanceTensor(torch.tensor([1, 2]), {"i"})
    >>> t[i]
    tensor([1., 2.], provenance={'i'})
    """
    if len(args) == 2 and type(args[1]) is int and not kwargs:
        # ``t[i]`` is always a view of ``t``: its storage owner is ``t``'s, so
        # the autograd base need not be looked up.
        source = args[0]
        out = union_rule(func, types, args, None, cls)
        if isinstance(source, ProvenanceTensor) and out is not source:
            link_root(out, source)
        return out
    if len(args) > 1 and _shape_depends_on(args[1]):
        cls = DynamicShapeProvenanceTensor
    return view_rule(func, types, args, kwargs, cls)


def where_rule(func: Any, types: tuple, args: tuple, kwargs: dict | None, cls: type) -> Any:
    """``torch.where(c, x, y)`` is a union; one-argument ``torch.where(c)`` is ``nonzero``.

    >>> c = ProvenanceTensor(torch.tensor([True, False]), {"c"})
    >>> torch.where(c, 1.0, 0.0)
    tensor([1., 0.], provenance={'c'})
    """
    if len(args) + len(kwargs or ()) == 1:
        out = view_rule(func, types, args, kwargs, DynamicShapeProvenanceTensor)
        if STATE.live:  # nonzero, not elementwise: every claim mixed
            pos.remap(out, args, kwargs or {}, None)
        return out
    return view_rule(func, types, args, kwargs, cls)


def one_hot_rule(func: Any, types: tuple, args: tuple, kwargs: dict | None, cls: type) -> Any:
    """``F.one_hot``: the width comes from the data unless ``num_classes`` is given.

    >>> k = ProvenanceTensor(torch.tensor([0, 2]), {"k"})
    >>> type(torch.nn.functional.one_hot(k, 3)).__name__
    'ProvenanceTensor'
    """
    num_classes = args[1] if len(args) > 1 else (kwargs or {}).get("num_classes", -1)
    if type(num_classes) is not int or num_classes < 0:
        cls = DynamicShapeProvenanceTensor
    return union_rule(func, types, args, kwargs, cls)


def alias_rule(func: Any, types: tuple, args: tuple, kwargs: dict | None, cls: type) -> Any:
    """``detach()`` and ``.data``: share storage with no autograd link, so link them.

    >>> from tracegraph.ops.provenance import get_provenance
    >>> t = ProvenanceTensor(torch.zeros(2), {"a"})
    >>> t.detach().add_(ProvenanceTensor(torch.ones(2), {"b"}))
    tensor([1., 1.], provenance={'a', 'b'})
    >>> sorted(get_provenance(t))
    ['a', 'b']
    """
    out = view_rule(func, types, args, kwargs, cls)
    src = args[0]
    if isinstance(out, ProvenanceTensor) and out is not src and out._prov_root is None:
        root = src._prov_root if isinstance(src, ProvenanceTensor) else None
        root = src if root is None else root
        out._prov_root = root
        if isinstance(root, ProvenanceTensor):
            out._prov_root_seen = root._provenance
    return out


def inplace_flag_rule(position: int) -> Rule:
    """Build the rule for an ``nn.functional`` op with an ``inplace`` flag.

    :param position: index of ``inplace`` among the positional parameters.
    :returns: a rule that mutates the input if the flag is set, else unions.

    >>> x = ProvenanceTensor(torch.tensor([-1.0, 1.0]), {"x"})
    >>> torch.nn.functional.relu(x, inplace=True) is x
    True
    """

    def rule(func: Any, types: tuple, args: tuple, kwargs: dict | None, cls: type) -> Any:
        if kwargs and "inplace" in kwargs:
            flag = kwargs["inplace"]
        else:
            flag = len(args) > position and args[position]
        if flag:
            return mutation_rule(func, types, args, kwargs, cls)
        return union_rule(func, types, args, kwargs, cls)

    return rule


_INPLACE_OPS = "add sub mul truediv floordiv mod pow and or xor lshift rshift"


def _deepcopy_rule(func: Any, types: tuple, args: tuple, kwargs: dict | None, cls: type) -> Any:
    t = args[0]
    memo = args[1] if len(args) > 1 else (kwargs or {}).get("memo")
    return wrap(copy.deepcopy(plain_of(t), memo), provenance_of(t), type(t))


def _reduce_rule(func: Any, types: tuple, args: tuple, kwargs: dict | None, cls: type) -> Any:
    # Serialising (pickle, torch.save) writes the data, not the provenance: the
    # bytes leave the tracked world like ``.tolist()`` does, so the provenance
    # is recorded as control flow (whatever reads them back may depend on it).
    # Writing our class instead would make ``torch.load``'s default
    # ``weights_only=True`` refuse the file, and allow-listing the class would
    # also open the param store's loader to it (it refuses every class).
    t = args[0]
    record_control_flow(provenance_of(t))
    return call(func, (plain_of(t), *args[1:]), kwargs)


# Categories whose ops keep every element in place: plate claims pass.
_KEEP_POSITIONS = frozenset({"union", "same_view", "alias"})

_CATEGORY_RULES: dict[str, Rule] = {
    "union": union_rule,
    "mixing": union_rule,
    "view": view_rule,
    "same_view": view_rule,
    "alias": alias_rule,
    "mutation": mutation_rule,
    "dynamic_shape": dynamic_shape_rule,
    "metadata": metadata_rule,
    "shape_metadata": shape_metadata_rule,
    "plain_metadata": plain_metadata_rule,
    "control_flow": control_flow_rule,
    "display": display_rule,
}


def install_rules() -> None:
    """Fill the registry: the table's categories, the trailing-underscore
    convention, the special rules, the defaults for unlisted ops, and the
    argument checks that only decide "raise or go on".

    Called once by :mod:`tracegraph.ops.provenance` when it is imported;
    calling it again restores the table (a rule registered since is replaced
    only if the table lists its op).

    >>> install_rules()
    >>> rule_for(torch.Tensor.add_) is mutation_rule
    True
    """
    set_default_rules(functional=view_rule, mutating=mutation_all_rule)
    POSITIONS.clear()
    for category, _, _, func in entries():
        register_rule(_CATEGORY_RULES[category], func)
        if category in _KEEP_POSITIONS:
            register_positions(ELEMENTWISE, func)
    # Plate claims of the ops whose dims move (positions.py); others mix them.
    for mapper, _, _, func in positions():
        register_positions(mappers.MAPPERS[mapper], func)
    # Naming convention: a trailing single underscore means "mutates the first argument".
    for namespace in (Tensor, torch, torch.nn.functional, torch.nn.init):
        for name in dir(namespace):
            if name.endswith("_") and not name.endswith("__") and not name.startswith("_"):
                register_rule(mutation_rule, getattr(namespace, name))
    F = torch.nn.functional
    for name, position in inplace_positions().items():
        register_rule(inplace_flag_rule(position), getattr(F, name))
    # In-place writes that keep every element in place (claims.py).
    ELEMENTWISE_WRITES.clear()
    for name in ELEMENTWISE_NAMES:
        for namespace in (Tensor, torch):
            ELEMENTWISE_WRITES.add(getattr(namespace, name + "_", None))
    ELEMENTWISE_WRITES.update(getattr(Tensor, f"__i{op}__") for op in _INPLACE_OPS.split())
    ELEMENTWISE_WRITES.update(getattr(F, name) for name in inplace_positions())
    ELEMENTWISE_WRITES.discard(None)
    register_positions(ELEMENTWISE, torch.where, Tensor.where, *ELEMENTWISE_WRITES)
    register_positions(mappers.getitem_map, Tensor.__getitem__)
    register_positions(mappers.one_hot_map, F.one_hot)
    register_rule(getitem_rule, Tensor.__getitem__)
    # Effects inside torch functions (effects.py).
    register_rule(effects.embedding_rule, F.embedding, F.embedding_bag)
    register_rule(effects.running_stats_rule((1, 2, 5), "training", False), F.batch_norm)
    register_rule(effects.running_stats_rule((1, 2, 5), "use_input_stats", True), F.instance_norm)
    register_rule(effects.running_stats_rule((3, 4, 5), "training", False), torch.batch_norm)
    register_rule(
        effects.running_stats_rule((3, 4, 5), "use_input_stats", True), torch.instance_norm
    )
    register_rule(effects.backward_rule, Tensor.backward, torch.autograd.backward)
    register_rule(effects.grad_rule, torch.autograd.grad)
    register_rule(effects.dim_rule, Tensor.dim)
    register_rule(effects.make_dual_rule, torch._make_dual)
    register_rule(where_rule, torch.where, Tensor.where)
    register_rule(one_hot_rule, F.one_hot)
    register_rule(_deepcopy_rule, Tensor.__deepcopy__)
    register_rule(_reduce_rule, Tensor.__reduce_ex__)
    # Argument validation only decides "raise or go on" (see register_assertion).
    for fn in (
        dist.Distribution.__init__,
        dist.Distribution._validate_sample,
        dist.Geometric.__init__,
        dist.ContinuousBernoulli.__init__,
        constraints._Symmetric.check,
        constraints._PositiveSemidefinite.check,
        constraints._PositiveDefinite.check,
    ):
        register_assertion(fn)
