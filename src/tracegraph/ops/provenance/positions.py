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
    "ELEMENTWISE",
    "POSITIONS",
    "DimMap",
    "Mapper",
    "along",
    "cat_map",
    "claims_after",
    "fixed",
    "gather_map",
    "getitem_map",
    "index_select_map",
    "linear_map",
    "loss_map",
    "matmul_map",
    "movedim_map",
    "one_hot_map",
    "permute_map",
    "register_positions",
    "remap",
    "reshape_map",
    "reverse_map",
    "rmatmul_map",
    "same",
    "stack_map",
    "swap_last_map",
    "take_along_dim_map",
    "transpose_map",
]

Tensor = torch.Tensor
DimMap = Callable[[int], "int | None"]
Mapper = Callable[[tuple, dict, Tensor, int], "list[tuple[Any, DimMap]]"]
_SHAPE_GET: Any = Tensor.shape.__get__  # type: ignore[attr-defined]
#: A dim argument that means "every dim" (absent, ``None``, an empty tuple).
ALL_DIMS: Any = object()


def _shape(t: Tensor) -> torch.Size:
    # Never dispatches (a DynamicShapeProvenanceTensor would record control flow).
    shape = getattr(t, "_prov_shape", None)  # cached by ProvenanceTensor.shape
    return call_disabled(_SHAPE_GET, (), (t,)) if shape is None else shape


def _none(d: int) -> int | None:
    return None


def _same(d: int) -> int | None:
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
        out_shape = _shape(o)
        m = len(out_shape)
        maps = mapper(args, kwargs, o, k)
        for t, cs in claimed:
            dim_maps = [f for u, f in maps if u is t]
            if not dim_maps:
                new.update(c if c.dim is None else Claim(c.site, c.plate, None) for c in cs)
                continue
            in_shape = _shape(t)
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


def _first(args: tuple, kwargs: dict) -> Any:
    return args[0] if args else kwargs.get("input", kwargs.get("self"))


def _dims(value: Any, n: int) -> set[int] | None:
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


def _arg(args: tuple, kwargs: dict, pos: int, default: Any, names: tuple[str, ...]) -> Any:
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
        src = _first(args, kwargs)
        n = len(_shape(src))
        value = default if pos is None else _arg(args, kwargs, pos, default, names)
        if isinstance(value, Tensor):  # torch.max(a, b) and friends: elementwise
            return [(src, _same), (value, _same)]
        if pos is not None and type(value) is int and len(args) > pos + 1:
            if all(type(a) is int for a in args[pos:]):
                value = tuple(args[pos:])  # t.flip(0, 1): varargs dims
        dims = _dims(value, n)
        if dims is None:
            return [(src, _none)]
        m = len(_shape(out))
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
    return [(t, _same) for t in tensors_in((args, kwargs))]


def reshape_map(args: tuple, kwargs: dict, out: Tensor, k: int) -> list[tuple[Any, DimMap]]:
    """``view``, ``reshape``, ``flatten``, ``unsqueeze``, ``squeeze``: an input dim
    of size ``s > 1`` survives as the output dim of size ``s`` with the same number
    of elements to its right (row-major index arithmetic then gives the same
    index along it)."""
    src = _first(args, kwargs)
    in_shape, out_shape = _shape(src), _shape(out)
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
    n = len(_shape(src))
    if order is None or sorted(order) != list(range(n)):
        return [(src, _none)]
    where = {p: j for j, p in enumerate(order)}
    return [(src, lambda d: where[d + n] - n)]


def _positive(values: Any, n: int) -> list[int] | None:
    values = [values] if isinstance(values, int) else list(values)
    if _dims(values, n) is None:
        return None
    return [v + n if v < 0 else v for v in values]


def permute_map(args: tuple, kwargs: dict, out: Tensor, k: int) -> list[tuple[Any, DimMap]]:
    """``permute(dims)`` / ``permute(*dims)``."""
    src = _first(args, kwargs)
    rest = args[1:]
    dims = rest[0] if len(rest) == 1 and isinstance(rest[0], (list, tuple)) else rest
    dims = kwargs.get("dims", dims)
    return _order_map(src, _positive(dims, len(_shape(src))))


def transpose_map(args: tuple, kwargs: dict, out: Tensor, k: int) -> list[tuple[Any, DimMap]]:
    """``transpose``, ``swapaxes``, ``swapdims``."""
    src = _first(args, kwargs)
    n = len(_shape(src))
    a = _dims(_arg(args, kwargs, 1, None, ("dim0", "axis0")), n)
    b = _dims(_arg(args, kwargs, 2, None, ("dim1", "axis1")), n)
    if a is None or b is None:
        return [(src, _none)]
    order = list(range(n))
    (i,), (j,) = a, b
    order[i], order[j] = order[j], order[i]
    return _order_map(src, order)


def movedim_map(args: tuple, kwargs: dict, out: Tensor, k: int) -> list[tuple[Any, DimMap]]:
    """``movedim``, ``moveaxis``."""
    src = _first(args, kwargs)
    n = len(_shape(src))
    sources = _positive(_arg(args, kwargs, 1, (), ("source",)), n)
    targets = _positive(_arg(args, kwargs, 2, (), ("destination",)), n)
    if sources is None or targets is None or len(sources) != len(targets):
        return [(src, _none)]
    result: list[int | None] = [None] * n
    for a, b in zip(sources, targets):
        result[b] = a
    others = iter(p for p in range(n) if p not in sources)
    return _order_map(src, [r if r is not None else next(others) for r in result])


def reverse_map(args: tuple, kwargs: dict, out: Tensor, k: int) -> list[tuple[Any, DimMap]]:
    """``t()``, ``.T``, ``.H``: every dim reversed."""
    src = _first(args, kwargs)
    return _order_map(src, list(range(len(_shape(src))))[::-1])


def swap_last_map(args: tuple, kwargs: dict, out: Tensor, k: int) -> list[tuple[Any, DimMap]]:
    """``.mT``, ``.mH``, ``adjoint()``: the last two dims swapped."""
    src = _first(args, kwargs)
    order = list(range(len(_shape(src))))
    if len(order) < 2:
        return [(src, _none)]
    order[-1], order[-2] = order[-2], order[-1]
    return _order_map(src, order)


def stack_map(args: tuple, kwargs: dict, out: Tensor, k: int) -> list[tuple[Any, DimMap]]:
    """``torch.stack(tensors, dim)``: a new dim at ``dim``; the others keep theirs."""
    tensors = _first(args, kwargs) if args else kwargs.get("tensors", ())
    dim = _arg(args, kwargs, 1, 0, ("dim",))
    m = len(_shape(out))
    if not isinstance(dim, int):
        return []
    s = dim + m if dim < 0 else dim

    def dim_map(d: int) -> int | None:
        p = d + (m - 1)
        return (p if p < s else p + 1) - m

    return [(t, dim_map) for t in tensors if isinstance(t, Tensor)]


def cat_map(args: tuple, kwargs: dict, out: Tensor, k: int) -> list[tuple[Any, DimMap]]:
    """``torch.cat(tensors, dim)``: the joined dim is mixed (it is longer than any
    input's); the other dims keep their claims."""
    tensors = args[0] if args else kwargs.get("tensors", ())
    dim = _arg(args, kwargs, 1, 0, ("dim", "axis"))
    m = len(_shape(out))
    if not isinstance(dim, int):
        return []
    s = dim + m if dim < 0 else dim
    return [(t, lambda d: None if d + m == s else d) for t in tensors if isinstance(t, Tensor)]


def rmatmul_map(args: tuple, kwargs: dict, out: Tensor, k: int) -> list[tuple[Any, DimMap]]:
    """``b.__rmatmul__(a)`` is ``a @ b``."""
    return matmul_map((args[1], args[0]), {}, out, k)


def matmul_map(args: tuple, kwargs: dict, out: Tensor, k: int) -> list[tuple[Any, DimMap]]:
    """``a @ b`` with batch broadcasting: the contracted dims are mixed; rows of
    ``a``, columns of ``b`` and the batch dims keep their claims."""
    a = _first(args, kwargs)
    b = _arg(args, kwargs, 1, None, ("other", "mat2", "vec"))
    na, nb = len(_shape(a)), len(_shape(b))
    if na == 1 and nb == 1:
        return [(a, _none), (b, _none)]
    if na == 1:
        return [(a, _none), (b, lambda d: d if d == -1 else (None if d == -2 else d + 1))]
    if nb == 1:
        return [(a, lambda d: None if d == -1 else (-1 if d == -2 else d + 1)), (b, _none)]
    return [(a, lambda d: None if d == -1 else d), (b, lambda d: None if d == -2 else d)]


def linear_map(args: tuple, kwargs: dict, out: Tensor, k: int) -> list[tuple[Any, DimMap]]:
    """``F.linear(x, W, b)``: ``x @ W.T + b``."""
    x = _first(args, kwargs)
    w = _arg(args, kwargs, 1, None, ("weight",))
    bias = _arg(args, kwargs, 2, None, ("bias",))
    maps: list[tuple[Any, DimMap]] = [(x, lambda d: None if d == -1 else d)]
    if isinstance(w, Tensor):
        if len(_shape(w)) == 2:
            maps.append((w, lambda d: -1 if d == -2 else None))
        else:
            maps.append((w, _none))
    if isinstance(bias, Tensor):
        maps.append((bias, _same))
    return maps


def one_hot_map(args: tuple, kwargs: dict, out: Tensor, k: int) -> list[tuple[Any, DimMap]]:
    """``F.one_hot(z, K)``: a new last dim."""
    return [(_first(args, kwargs), lambda d: d - 1)]


def gather_map(args: tuple, kwargs: dict, out: Tensor, k: int) -> list[tuple[Any, DimMap]]:
    """``gather(input, dim, index)``: ``out[j] = input[j with index[j] along dim]``."""
    src = _first(args, kwargs)
    dim = _arg(args, kwargs, 1, None, ("dim",))
    index = _arg(args, kwargs, 2, None, ("index",))
    n = len(_shape(src))
    dims = _dims(dim, n)
    if dims is None:
        return [(src, _none), (index, _none)]
    return [(src, lambda d: None if d + n in dims else d), (index, _same)]


def take_along_dim_map(args: tuple, kwargs: dict, out: Tensor, k: int) -> list[tuple[Any, DimMap]]:
    """``take_along_dim(input, indices, dim)``: :func:`gather_map` with broadcasting;
    without ``dim`` the input is flattened (mixed)."""
    src = _first(args, kwargs)
    index = _arg(args, kwargs, 1, None, ("indices",))
    dim = _arg(args, kwargs, 2, None, ("dim",))
    n = len(_shape(src))
    dims = _dims(dim, n)
    if dims is None:
        return [(src, _none), (index, _none)]
    return [(src, lambda d: None if d + n in dims else d), (index, _same)]


def index_select_map(args: tuple, kwargs: dict, out: Tensor, k: int) -> list[tuple[Any, DimMap]]:
    """``index_select(input, dim, index)``: the 1-d index takes the dim's place."""
    src = _first(args, kwargs)
    dim = _arg(args, kwargs, 1, None, ("dim",))
    index = _arg(args, kwargs, 2, None, ("index",))
    n = len(_shape(src))
    dims = _dims(dim, n)
    if dims is None:
        return [(src, _none), (index, _none)]
    (s,) = dims
    return [(src, lambda d: None if d + n == s else d), (index, lambda d: s - n)]


def loss_map(args: tuple, kwargs: dict, out: Tensor, k: int) -> list[tuple[Any, DimMap]]:
    """Losses of ``nn.functional``: elementwise with ``reduction="none"``, a full
    reduction otherwise."""
    elementwise = kwargs.get("reduction", "mean") == "none"
    return [(t, _same if elementwise else _none) for t in tensors_in((args, kwargs))]


def getitem_map(args: tuple, kwargs: dict, out: Tensor, k: int) -> list[tuple[Any, DimMap]]:
    """``t[index]``: ints remove a dim (one element of it: mixed), full slices keep
    it, other slices mix it, ``None`` and ``...`` shift; integer index tensors
    (advanced indexing) read the indexed dim mixed and put their own dims where
    PyTorch puts the result's (in place when adjacent, else first)."""
    src, index = args[0], args[1]
    items = list(index) if type(index) is tuple else [index]
    in_shape = _shape(src)
    n, m = len(in_shape), len(_shape(out))
    advanced = any(isinstance(i, (Tensor, list)) for i in items)
    consumed = 0
    for i in items:
        if i is None or i is Ellipsis:
            continue
        if isinstance(i, Tensor) and i.dtype in (torch.bool, torch.uint8):
            return []  # a mask: the shape depends on data; everything mixed
        if isinstance(i, list):
            return []  # a nested index list: rare, not worth a mapping
        if type(i) is bool or not isinstance(i, (int, slice, Tensor, list)):
            return []
        consumed += 1
    if consumed > n or sum(1 for i in items if i is Ellipsis) > 1:
        return []
    if Ellipsis in [i for i in items if not isinstance(i, (Tensor, list))]:
        at = next(j for j, i in enumerate(items) if i is Ellipsis and not isinstance(i, Tensor))
        items = items[:at] + [slice(None)] * (n - consumed) + items[at + 1 :]
    else:
        items = items + [slice(None)] * (n - consumed)
    # Advanced indices (and ints among them) and where their block goes.
    adv_pos = [j for j, i in enumerate(items) if isinstance(i, (Tensor, list)) or (advanced and isinstance(i, int))]
    if advanced and None in items:
        return []
    index_tensors = [i for i in items if isinstance(i, Tensor)]
    block = 0
    if advanced:
        try:
            block = len(torch.broadcast_shapes(*[_shape(t) for t in index_tensors]))
        except RuntimeError:
            return []
    adjacent = not adv_pos or adv_pos == list(range(adv_pos[0], adv_pos[-1] + 1))
    src_to_out: dict[int, int | None] = {}
    p = q = 0
    block_at = 0 if not adjacent else None
    if block_at == 0:
        q = block
    for j, i in enumerate(items):
        if advanced and j in adv_pos:
            src_to_out[p] = None
            p += 1
            if block_at is None:
                block_at = q
                q += block
            continue
        if i is None:
            q += 1
        elif isinstance(i, int):
            src_to_out[p] = None
            p += 1
        else:
            full = (
                i.step in (None, 1)
                and i.start in (None, 0)
                and (i.stop is None or (isinstance(i.stop, int) and i.stop >= in_shape[p]))
            )
            src_to_out[p] = q if full else None
            p += 1
            q += 1
    maps: list[tuple[Any, DimMap]] = []

    def src_map(d: int) -> int | None:
        r = src_to_out.get(d + n)
        return None if r is None else r - m

    maps.append((src, src_map))
    start = 0 if block_at is None else block_at
    for t in index_tensors:
        maps.append((t, lambda d, s=start: s + block + d - m))
    return maps
