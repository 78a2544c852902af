"""Where the dims of an op's inputs end up in its output: plate claims through
ops that are not elementwise (see :mod:`tracegraph.ops.provenance.claims`).

An elementwise op with broadcasting keeps every right-aligned dim, so the union
of its inputs' provenance is already right for claims.  Every other op is
registered here with a *mapper*: ``mapper(args, kwargs, out, k) -> [(input,
dim_map)]`` says, for output ``k``, which inputs it knows and where each input
dim (negative) goes (``None``: the output reads that dim mixed).  Inputs a
mapper does not name, and dims whose size changed, turn mixed.  An op without a
mapper mixes everything (:func:`register_positions`): a reduction, a matmul, ``roll``
or ``sort`` along a dim only keeps the claims of the *other* dims, and only
because their mappers say so.

>>> from tracegraph.ops.provenance.claims import Claim, aligned_dim, aligned_run
>>> from tracegraph.ops.provenance.tensor import ProvenanceTensor, provenance_of
>>> with aligned_run():
...     z = ProvenanceTensor(torch.ones(2, 3), {"z"})
...     z._provenance = frozenset({"z", Claim("z", "p", -1)})
...     s = z.sum(-2)                     # the plate dim survives
...     r = z.roll(1, -1)                 # the plate dim is shifted: mixed
>>> aligned_dim(provenance_of(s), "z", "p"), aligned_dim(provenance_of(r), "z", "p")
(-1, None)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from tracegraph.ops.provenance.claims import Claim
from tracegraph.ops.provenance.tensor import (
    ProvenanceTensor,
    call_disabled,
    provenance_of,
    tensors_in,
)

__all__ = [
    "ALL_DIMS",
    "arg_at",
    "dims_of",
    "first_arg",
    "keep_dim",
    "read_mixed",
    "shape_of",
    "ELEMENTWISE",
    "POSITIONS",
    "DimMap",
    "Mapper",
    "along",
    "claims_after",
    "fixed",
    "movedim_map",
    "permute_map",
    "register_positions",
    "remap",
    "reshape_map",
    "reverse_map",
    "same",
    "swap_last_map",
    "transpose_map",
]

Tensor = torch.Tensor
DimMap = Callable[[int], "int | None"]
Mapper = Callable[[tuple, dict, Tensor, int], "list[tuple[Any, DimMap]]"]
_SHAPE_GET: Any = Tensor.shape.__get__  # type: ignore[attr-defined]
#: A dim argument that means "every dim" (absent, ``None``, an empty tuple).
ALL_DIMS: Any = object()


def shape_of(t: Tensor) -> torch.Size:
    # Never dispatches (a DynamicShapeProvenanceTensor would record control flow).
    shape = getattr(t, "_prov_shape", None)  # cached by ProvenanceTensor.shape
    return call_disabled(_SHAPE_GET, (), (t,)) if shape is None else shape


def read_mixed(d: int) -> int | None:
    return None


def keep_dim(d: int) -> int | None:
    return d


def _outputs(out: Any) -> list[Any]:
    if isinstance(out, ProvenanceTensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [o for o in out if isinstance(o, ProvenanceTensor)]
    return []


def _claims(t: Any) -> tuple[Claim, ...]:
    return tuple(e for e in provenance_of(t) if type(e) is Claim)


def _claimed_inputs(args: tuple, kwargs: dict) -> list[tuple[Any, tuple[Claim, ...]]]:
    # Tracked inputs that carry claims (flat arguments and one level of lists,
    # as in cat and stack; deeper nesting is rare).
    found = []
    for group in (args, kwargs.values()):
        for a in group:
            if isinstance(a, ProvenanceTensor):
                c = _claims(a)
                if c:
                    found.append((a, c))
            elif isinstance(a, (list, tuple, dict)):
                for t in tensors_in(a):
                    if isinstance(t, ProvenanceTensor):
                        c = _claims(t)
                        if c:
                            found.append((t, c))
    return found


def remap(out: Any, args: tuple, kwargs: dict, mapper: Mapper | None) -> None:
    """Rewrite the claims of the outputs of an op (which carry the union of their
    inputs' provenance) as ``mapper`` says; ``None`` mixes every claim."""
    claimed = _claimed_inputs(args, kwargs)
    if not claimed:
        return
    every = frozenset(c for _, cs in claimed for c in cs)
    for k, o in enumerate(_outputs(out)):
        if (args and o is args[0]) or any(o is t for t, _ in claimed):
            continue
        names = o._provenance.difference(every)
        new: set[Any] = set()
        if mapper is None:
            new.update(c if c.dim is None else Claim(c.site, c.plate, None) for c in every)
            o._provenance = names | new
            continue
        out_shape = shape_of(o)
        m = len(out_shape)
        maps = mapper(args, kwargs, o, k)
        for t, cs in claimed:
            dim_maps = [f for u, f in maps if u is t]
            if not dim_maps:
                new.update(c if c.dim is None else Claim(c.site, c.plate, None) for c in cs)
                continue
            in_shape = shape_of(t)
            n = len(in_shape)
            for c in cs:
                d0 = c.dim
                if d0 is None:
                    new.add(c)
                    continue
                for dim_map in dim_maps:
                    d = dim_map(d0) if -n <= d0 < 0 else None
                    if d is not None and not (-m <= d < 0 and out_shape[d] == in_shape[d0]):
                        d = None  # moved out of range or resized: read mixed
                    new.add(c if d == d0 else Claim(c.site, c.plate, d))
        o._provenance = names | new


#: Ops whose outputs keep every element where it was in every input (elementwise
#: with right-aligned broadcasting, conversions, aliases): the union of the
#: inputs' provenance is already right, nothing to rewrite.
ELEMENTWISE: Any = object()
#: op -> mapper, or :data:`ELEMENTWISE`.  An op not listed mixes every claim.
POSITIONS: dict[Any, Any] = {}


def register_positions(mapper: Any, *funcs: Any) -> Any:
    """Say where ``funcs`` put the dims of their inputs: a mapper (see the module
    docstring) or :data:`ELEMENTWISE`.  The provenance rule of the op is unchanged;
    without a registration the op mixes every plate claim (always sound).

    >>> def double(x):
    ...     return torch.cat([x, x])
    >>> _ = register_positions(ELEMENTWISE, double)
    >>> POSITIONS[double] is ELEMENTWISE
    True
    """
    for func in funcs:
        if func is not None:
            POSITIONS[func] = mapper
    return mapper


def claims_after(func: Any, out: Any, args: tuple, kwargs: dict | None) -> None:
    """Called by the provenance rules (when claims exist at all) after they attached
    the union of the inputs' provenance to ``func``'s outputs."""
    mapper = POSITIONS.get(func)
    if mapper is not ELEMENTWISE:
        remap(out, args, kwargs or {}, mapper)


# -- mappers ------------------------------------------------------------------------


def first_arg(args: tuple, kwargs: dict) -> Any:
    return args[0] if args else kwargs.get("input", kwargs.get("self"))


def dims_of(value: Any, n: int) -> set[int] | None:
    # A dim argument as positive dims, ``None`` for "every dim" or anything unusual.
    if value is ALL_DIMS or value is None or type(value) is bool:
        return None
    if isinstance(value, int):
        values: Any = (value,)
    elif isinstance(value, (tuple, list, torch.Size)):
        values = value
        if len(values) == 0:
            return None
    else:
        return None
    out = set()
    for v in values:
        if not isinstance(v, int) or type(v) is bool or not -max(n, 1) <= v < max(n, 1):
            return None
        out.add(v + n if v < 0 else v)
    return out


def arg_at(args: tuple, kwargs: dict, pos: int, default: Any, names: tuple[str, ...]) -> Any:
    for name in names:
        if name in kwargs:
            return kwargs[name]
    return args[pos] if len(args) > pos else default


def along(
    pos: int | None = 1, default: Any = ALL_DIMS, names: tuple[str, ...] = ("dim", "axis")
) -> Mapper:
    """For ops acting along the dims given by the argument at ``pos`` (or keyword
    ``dim``): reductions (with or without ``keepdim``), scans, sorts, softmax,
    flips.  Those dims turn mixed; the others keep their claims, shifted past
    removed dims.  ``default`` is used when the argument is absent."""

    def mapper(args: tuple, kwargs: dict, out: Tensor, k: int) -> list[tuple[Any, DimMap]]:
        src = first_arg(args, kwargs)
        n = len(shape_of(src))
        value = default if pos is None else arg_at(args, kwargs, pos, default, names)
        if isinstance(value, Tensor):  # torch.max(a, b) and friends: elementwise
            return [(src, keep_dim), (value, keep_dim)]
        if pos is not None and type(value) is int and len(args) > pos + 1:
            if all(type(a) is int for a in args[pos:]):
                value = tuple(args[pos:])  # t.flip(0, 1): varargs dims
        dims = dims_of(value, n)
        if dims is None:
            return [(src, read_mixed)]
        m = len(shape_of(out))
        keep = m == n

        def dim_map(d: int) -> int | None:
            p = d + n
            if p in dims:
                return None
            q = p if keep else p - sum(1 for r in dims if r < p)
            return q - m

        return [(src, dim_map)]

    return mapper


def fixed(*dims: int) -> Mapper:
    """Like :func:`along` for ops whose dims are fixed (``fliplr``, ``msort``)."""
    return along(pos=None, default=dims)


def same(args: tuple, kwargs: dict, out: Tensor, k: int) -> list[tuple[Any, DimMap]]:
    """Every input keeps its dims (right-aligned): for ops that only slice some dims
    (``narrow``, ``split``; a sliced dim changes size and turns mixed) or expand."""
    return [(t, keep_dim) for t in tensors_in((args, kwargs))]


def reshape_map(args: tuple, kwargs: dict, out: Tensor, k: int) -> list[tuple[Any, DimMap]]:
    """``view``, ``reshape``, ``flatten``, ``unsqueeze``, ``squeeze``: an input dim
    of size ``s > 1`` survives as the output dim of size ``s`` with the same number
    of elements to its right (row-major index arithmetic then gives the same
    index along it)."""
    src = first_arg(args, kwargs)
    in_shape, out_shape = shape_of(src), shape_of(out)
    n, m = len(in_shape), len(out_shape)
    right_in = [1] * n
    for p in range(n - 2, -1, -1):
        right_in[p] = right_in[p + 1] * in_shape[p + 1]
    right_out: dict[tuple[int, int], int] = {}
    acc = 1
    for q in range(m - 1, -1, -1):
        right_out[(out_shape[q], acc)] = q
        acc *= out_shape[q]

    def dim_map(d: int) -> int | None:
        p = d + n
        size = in_shape[p]
        q = right_out.get((size, right_in[p]))
        return None if q is None or size <= 1 else q - m

    return [(src, dim_map)]


def _order_map(src: Tensor, order: list[int] | None) -> list[tuple[Any, DimMap]]:
    # ``order[j]``: the input dim that output dim ``j`` is.
    n = len(shape_of(src))
    if order is None or sorted(order) != list(range(n)):
        return [(src, read_mixed)]
    where = {p: j for j, p in enumerate(order)}
    return [(src, lambda d: where[d + n] - n)]


def _positive(values: Any, n: int) -> list[int] | None:
    values = [values] if isinstance(values, int) else list(values)
    if dims_of(values, n) is None:
        return None
    return [v + n if v < 0 else v for v in values]


def permute_map(args: tuple, kwargs: dict, out: Tensor, k: int) -> list[tuple[Any, DimMap]]:
    """``permute(dims)`` / ``permute(*dims)``."""
    src = first_arg(args, kwargs)
    rest = args[1:]
    dims = rest[0] if len(rest) == 1 and isinstance(rest[0], (list, tuple)) else rest
    dims = kwargs.get("dims", dims)
    return _order_map(src, _positive(dims, len(shape_of(src))))


def transpose_map(args: tuple, kwargs: dict, out: Tensor, k: int) -> list[tuple[Any, DimMap]]:
    """``transpose``, ``swapaxes``, ``swapdims``."""
    src = first_arg(args, kwargs)
    n = len(shape_of(src))
    a = dims_of(arg_at(args, kwargs, 1, None, ("dim0", "axis0")), n)
    b = dims_of(arg_at(args, kwargs, 2, None, ("dim1", "axis1")), n)
    if a is None or b is None:
        return [(src, read_mixed)]
    order = list(range(n))
    (i,), (j,) = a, b
    order[i], order[j] = order[j], order[i]
    return _order_map(src, order)


def movedim_map(args: tuple, kwargs: dict, out: Tensor, k: int) -> list[tuple[Any, DimMap]]:
    """``movedim``, ``moveaxis``."""
    src = first_arg(args, kwargs)
    n = len(shape_of(src))
    sources = _positive(arg_at(args, kwargs, 1, (), ("source",)), n)
    targets = _positive(arg_at(args, kwargs, 2, (), ("destination",)), n)
    if sources is None or targets is None or len(sources) != len(targets):
        return [(src, read_mixed)]
    result: list[int | None] = [None] * n
    for a, b in zip(sources, targets):
        result[b] = a
    others = iter(p for p in range(n) if p not in sources)
    return _order_map(src, [r if r is not None else next(others) for r in result])


def reverse_map(args: tuple, kwargs: dict, out: Tensor, k: int) -> list[tuple[Any, DimMap]]:
    """``t()``, ``.T``, ``.H``: every dim reversed."""
    src = first_arg(args, kwargs)
    return _order_map(src, list(range(len(shape_of(src))))[::-1])


def swap_last_map(args: tuple, kwargs: dict, out: Tensor, k: int) -> list[tuple[Any, DimMap]]:
    """``.mT``, ``.mH``, ``adjoint()``: the last two dims swapped."""
    src = first_arg(args, kwargs)
    order = list(range(len(shape_of(src))))
    if len(order) < 2:
        return [(src, read_mixed)]
    order[-1], order[-2] = order[-2], order[-1]
    return _order_map(src, order)
