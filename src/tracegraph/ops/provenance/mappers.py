"""Position mappers of joining, contracting and indexing ops (see
:mod:`tracegraph.ops.provenance.positions`), and :data:`MAPPERS`, the mappers by
the names ``table.POSITIONS`` uses.

A join (``cat``, ``stack``) keeps every dim but the joined one; a contraction
(``matmul``, ``linear``) reads the contracted dims mixed; an index reads its
source at positions given by data: the indexed dim of the source is read mixed,
while the index tensor's own dims line up with the output's (``locs[z]`` is
aligned with ``z``, whatever ``locs`` is).

>>> from tracegraph.ops.provenance.claims import Claim, aligned_dim, aligned_run
>>> from tracegraph.ops.provenance.tensor import ProvenanceTensor, provenance_of
>>> with aligned_run():
...     z = ProvenanceTensor(torch.tensor([1, 0, 1]), {"z"})
...     z._provenance = frozenset({"z", Claim("z", "p", -1)})
...     picked = torch.tensor([-1.0, 2.0])[z]
>>> aligned_dim(provenance_of(picked), "z", "p")
-1
"""

from __future__ import annotations

from typing import Any

import torch

from tracegraph.ops.provenance import positions as pos
from tracegraph.ops.provenance.positions import (
    DimMap,
    arg_at,
    dims_of,
    first_arg,
    keep_dim,
    read_mixed,
    shape_of,
)
from tracegraph.ops.provenance.tensor import tensors_in

__all__ = [
    "MAPPERS",
    "cat_map",
    "gather_map",
    "getitem_map",
    "index_select_map",
    "linear_map",
    "loss_map",
    "matmul_map",
    "one_hot_map",
    "rmatmul_map",
    "stack_map",
    "take_along_dim_map",
]

Tensor = torch.Tensor


def one_hot_map(args: tuple, kwargs: dict, out: Tensor, k: int) -> list[tuple[Any, DimMap]]:
    """``F.one_hot(z, K)``: a new last dim."""
    return [(first_arg(args, kwargs), lambda d: d - 1)]


def gather_map(args: tuple, kwargs: dict, out: Tensor, k: int) -> list[tuple[Any, DimMap]]:
    """``gather(input, dim, index)``: ``out[j] = input[j with index[j] along dim]``."""
    dim = arg_at(args, kwargs, 1, None, ("dim",))
    return _along_dim(first_arg(args, kwargs), arg_at(args, kwargs, 2, None, ("index",)), dim)


def _along_dim(src: Any, index: Any, dim: Any) -> list[tuple[Any, DimMap]]:
    # ``out[j] = src[j with index[j] along dim]``: ``dim`` of src is mixed, every
    # other dim and the index's dims keep their places (no dim: all mixed).
    n = len(shape_of(src))
    dims = dims_of(dim, n)
    if dims is None:
        return [(src, read_mixed), (index, read_mixed)]
    return [(src, lambda d: None if d + n in dims else d), (index, keep_dim)]


def take_along_dim_map(args: tuple, kwargs: dict, out: Tensor, k: int) -> list[tuple[Any, DimMap]]:
    """``take_along_dim(input, indices, dim)``: :func:`gather_map` with broadcasting;
    without ``dim`` the input is flattened (mixed)."""
    index = arg_at(args, kwargs, 1, None, ("indices",))
    return _along_dim(first_arg(args, kwargs), index, arg_at(args, kwargs, 2, None, ("dim",)))


def index_select_map(args: tuple, kwargs: dict, out: Tensor, k: int) -> list[tuple[Any, DimMap]]:
    """``index_select(input, dim, index)``: the 1-d index takes the dim's place."""
    src = first_arg(args, kwargs)
    dim = arg_at(args, kwargs, 1, None, ("dim",))
    index = arg_at(args, kwargs, 2, None, ("index",))
    n = len(shape_of(src))
    dims = dims_of(dim, n)
    if dims is None:
        return [(src, read_mixed), (index, read_mixed)]
    (s,) = dims
    return [(src, lambda d: None if d + n == s else d), (index, lambda d: s - n)]


def getitem_map(args: tuple, kwargs: dict, out: Tensor, k: int) -> list[tuple[Any, DimMap]]:
    """``t[index]``: ints remove a dim (one element of it: mixed), full slices keep
    it, other slices mix it, ``None`` and ``...`` shift; integer index tensors
    (advanced indexing) read the indexed dim mixed and put their own dims where
    PyTorch puts the result's (in place when adjacent, else first)."""
    src, index = args[0], args[1]
    items = list(index) if type(index) is tuple else [index]
    in_shape = shape_of(src)
    n, m = len(in_shape), len(shape_of(out))
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
    adv_pos = [
        j
        for j, i in enumerate(items)
        if isinstance(i, (Tensor, list)) or (advanced and isinstance(i, int))
    ]
    if advanced and None in items:
        return []
    index_tensors = [i for i in items if isinstance(i, Tensor)]
    block = 0
    if advanced:
        try:
            block = len(torch.broadcast_shapes(*[shape_of(t) for t in index_tensors]))
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
    shift = start + block - m

    def index_map(d: int) -> int | None:
        return d + shift

    maps.extend((t, index_map) for t in index_tensors)
    return maps


def stack_map(args: tuple, kwargs: dict, out: Tensor, k: int) -> list[tuple[Any, DimMap]]:
    """``torch.stack(tensors, dim)``: a new dim at ``dim``; the others keep theirs."""
    tensors = first_arg(args, kwargs) if args else kwargs.get("tensors", ())
    dim = arg_at(args, kwargs, 1, 0, ("dim",))
    m = len(shape_of(out))
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
    dim = arg_at(args, kwargs, 1, 0, ("dim", "axis"))
    m = len(shape_of(out))
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
    a = first_arg(args, kwargs)
    b = arg_at(args, kwargs, 1, None, ("other", "mat2", "vec"))
    na, nb = len(shape_of(a)), len(shape_of(b))
    if na == 1 and nb == 1:
        return [(a, read_mixed), (b, read_mixed)]
    if na == 1:
        return [(a, read_mixed), (b, lambda d: d if d == -1 else (None if d == -2 else d + 1))]
    if nb == 1:
        return [(a, lambda d: None if d == -1 else (-1 if d == -2 else d + 1)), (b, read_mixed)]
    return [(a, lambda d: None if d == -1 else d), (b, lambda d: None if d == -2 else d)]


def linear_map(args: tuple, kwargs: dict, out: Tensor, k: int) -> list[tuple[Any, DimMap]]:
    """``F.linear(x, W, b)``: ``x @ W.T + b``."""
    x = first_arg(args, kwargs)
    w = arg_at(args, kwargs, 1, None, ("weight",))
    bias = arg_at(args, kwargs, 2, None, ("bias",))
    maps: list[tuple[Any, DimMap]] = [(x, lambda d: None if d == -1 else d)]
    if isinstance(w, Tensor):
        if len(shape_of(w)) == 2:
            maps.append((w, lambda d: -1 if d == -2 else None))
        else:
            maps.append((w, read_mixed))
    if isinstance(bias, Tensor):
        maps.append((bias, keep_dim))
    return maps


def loss_map(args: tuple, kwargs: dict, out: Tensor, k: int) -> list[tuple[Any, DimMap]]:
    """Losses of ``nn.functional``: elementwise with ``reduction="none"``, a full
    reduction otherwise."""
    elementwise = kwargs.get("reduction", "mean") == "none"
    return [(t, keep_dim if elementwise else read_mixed) for t in tensors_in((args, kwargs))]


#: The position mappers named in ``table.POSITIONS``.
MAPPERS: dict[str, pos.Mapper] = {
    "dim": pos.along(1),
    "dim_kw": pos.along(10**6),
    "dim_last": pos.along(1, -1),
    "dim_first": pos.along(1, 0),
    "dim_at_2": pos.along(2),
    "dim_last_at_2": pos.along(2, -1),
    "flip": pos.along(1, names=("dims",)),
    "roll": pos.along(2, names=("dims",)),
    "first": pos.fixed(0),
    "second": pos.fixed(1),
    "gumbel_softmax": pos.along(4, -1),
    "normalize": pos.along(2, 1),
    "matmul": matmul_map,
    "rmatmul": rmatmul_map,
    "reshape": pos.reshape_map,
    "same": pos.same,
    "permute": pos.permute_map,
    "transpose": pos.transpose_map,
    "movedim": pos.movedim_map,
    "reverse": pos.reverse_map,
    "swap_last": pos.swap_last_map,
    "cat": cat_map,
    "stack": stack_map,
    "gather": gather_map,
    "take_along_dim": take_along_dim_map,
    "index_select": index_select_map,
    "linear": linear_map,
    "loss": loss_map,
}
