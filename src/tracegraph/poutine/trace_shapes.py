"""Shape checks, shape tables and packed tensors for the sites of a trace.

:func:`check_log_prob_shape` validates a site's log_prob shape.
:func:`format_shapes` prints every site's batch and event shapes (the table that
error messages attach).  :func:`symbolize_dims` and :func:`pack_site` name the
batch dims of a site's tensors after the plates that own them and squeeze out
the size-1 dims, so that log-probs of different sites can later be combined by
named dims (einsum-style) instead of by position.

The functions work on a trace's ``nodes`` mapping;
:class:`~tracegraph.poutine.trace_struct.Trace` exposes them as methods.

>>> import torch
>>> t = torch.zeros(3, 1)
>>> packed, dims = pack_with_dims(t, {-2: "a"})
>>> packed.shape, dims
(torch.Size([3]), 'a')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from tracegraph.errors import ShapeError
from tracegraph.poutine.subsample_messenger import SubsampleDistribution

__all__ = [
    "check_log_prob_shape",
    "format_shapes",
    "pack",
    "pack_site",
    "pack_with_dims",
    "symbolize_dims",
]

Site = dict[str, Any]
# label, the batch cells and the bar (right-aligned as a group), the event cells
_Row = tuple[str, list[str], list[str]]

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _symbol(i: int) -> str:
    # torch.einsum accepts only letters, so the first 52 symbols are letters.
    return _LETTERS[i] if i < len(_LETTERS) else chr(0x100 + i)


def _cells(shape: Any) -> list[str]:
    return [str(int(d)) for d in shape]


def _render(rows: list[_Row]) -> str:
    # Pyro's layout: three groups of columns (the label; the batch cells and the
    # bar, right-aligned as a group; the event cells, left-aligned as a group),
    # every cell right-justified in its column, every line as wide as the widest.
    n_left = max(len(r[1]) for r in rows)
    n_right = max(len(r[2]) for r in rows)
    grid = [[r[0]] + [""] * (n_left - len(r[1])) + r[1] + r[2] + [""] * (n_right - len(r[2]))
            for r in rows]
    widths = [max(len(row[j]) for row in grid) for j in range(len(grid[0]))]
    return "\n".join(" ".join(c.rjust(w) for c, w in zip(row, widths)) for row in grid)


def format_shapes(
    nodes: Mapping[str, Site], title: str = "Trace Shapes:", last_site: str | None = None
) -> str:
    """A table of the shapes at every param and sample site, laid out as Pyro's:
    each param's shape, and for each sample site its distribution's
    ``batch_shape | event_shape``, its value's shape split the same way and, once
    computed, its log_prob's shape.

    :param nodes: a trace's nodes.
    :param title: the first line.
    :param last_site: stop after this site (the one an error happened at).
    :returns: the table, one line per row, every line padded to the same width.

    >>> import torch
    >>> from tracegraph.poutine.runtime import CondIndepStackFrame
    >>> d = torch.distributions
    >>> frame = CondIndepStackFrame("data", -1, 3, 0, 100)
    >>> nodes = {
    ...     "s": {"type": "param", "value": torch.ones(2, 3)},
    ...     "z": {"type": "sample", "fn": d.Independent(d.Normal(torch.zeros(3, 2), 1.0), 1),
    ...           "value": torch.zeros(3, 2), "cond_indep_stack": (frame,)},
    ... }
    >>> print(format_shapes(nodes).replace(" ", "."))
    Trace.Shapes:......
    .Param.Sites:......
    ............s.2.3..
    Sample.Sites:......
    .......z.dist...3.|.2
    ........value...3.|.2
    """
    if not nodes:
        return title
    params: list[_Row] = []
    samples: list[_Row] = []
    for name, site in nodes.items():
        kind = site.get("type")
        if kind == "param":
            params.append((str(name), _cells(getattr(site.get("value"), "shape", ())), []))
        elif kind == "sample":
            fn = site.get("fn")
            # (A class recorded where an instance belongs has no shapes to show.)
            batch = () if isinstance(fn, type) else tuple(getattr(fn, "batch_shape", ()))
            event = () if isinstance(fn, type) else tuple(getattr(fn, "event_shape", ()))
            samples.append((f"{name} dist", _cells(batch) + ["|"], _cells(event)))
            shape = tuple(getattr(site.get("value"), "shape", ()))
            cut = max(len(shape) - len(event), 0)
            samples.append(("value", _cells(shape[:cut]) + ["|"], _cells(shape[cut:])))
            if "log_prob" in site:
                lp_shape = getattr(site["log_prob"], "shape", ())
                samples.append(("log_prob", _cells(lp_shape) + ["|"], []))
        if name == last_site:
            break
    rows: list[_Row] = [(title, [], []), ("Param Sites:", [], [])]
    rows += params
    rows.append(("Sample Sites:", [], []))
    rows += samples
    return _render(rows)


def check_log_prob_shape(name: str, site: Site, log_prob: Any) -> None:
    """Check that a sample site's log_prob has the shape its distribution
    promises: the value's batch shape (its shape less the event dims, which may
    carry extra leading sample or enumeration dims) broadcast with ``batch_shape``.
    Sites whose ``fn`` has no ``batch_shape``/``event_shape``, and a plate's
    subsample-index sites, are not checked.

    :param name: the site's name (for the error).
    :param site: the sample site.
    :param log_prob: what ``site["fn"].log_prob`` returned.
    :raises ShapeError: naming the site, the expected and the actual shape.

    >>> import torch
    >>> site = {"fn": torch.distributions.Normal(torch.zeros(3), 1.0), "value": torch.zeros(3)}
    >>> check_log_prob_shape("z", site, torch.zeros(3))
    >>> check_log_prob_shape("z", site, torch.zeros(2))
    Traceback (most recent call last):
    ...
    tracegraph.errors.ShapeError: site 'z': log_prob has shape (2,), expected (3,) ...
    """
    fn = site["fn"]
    batch_shape = getattr(fn, "batch_shape", None)
    event_shape = getattr(fn, "event_shape", None)
    if batch_shape is None or event_shape is None or not isinstance(log_prob, torch.Tensor):
        return
    if type(fn) is SubsampleDistribution:
        return  # a plate's subsample indices: auxiliary, with a constant log_prob
    # This runs for every site of every step under validation, so the common
    # case (shapes already equal) must not pay for a general broadcast.
    got = log_prob.shape
    if got == batch_shape and getattr(site["value"], "shape", None) == batch_shape + event_shape:
        return
    expected = tuple(batch_shape)
    value_shape = getattr(site["value"], "shape", None)
    if value_shape is not None and len(value_shape) >= len(event_shape):
        value_batch = tuple(value_shape[: len(value_shape) - len(event_shape)])
        broadcast = _broadcast(value_batch, expected)
        if broadcast is None:
            raise ShapeError(
                f"site '{name}': value batch shape {value_batch} does not broadcast "
                f"with the distribution's batch_shape {expected}"
            )
        expected = broadcast
    if tuple(got) != expected:
        raise ShapeError(
            f"site '{name}': log_prob has shape {tuple(got)}, expected {expected} (value "
            f"batch shape broadcast with batch_shape {tuple(batch_shape)}); hint: a custom "
            "distribution's log_prob must sum out exactly its event dims"
        )


def _broadcast(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...] | None:
    # torch.broadcast_shapes costs ~20 us; two short tuples need far less.
    if a == b:
        return a
    if len(a) < len(b):
        a, b = b, a
    b = (1,) * (len(a) - len(b)) + b
    out = []
    for x, y in zip(a, b):
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        else:
            return None
    return tuple(out)


def symbolize_dims(
    nodes: Mapping[str, Site], plate_to_symbol: dict[str, str] | None = None
) -> tuple[dict[str, str], dict[str, int]]:
    """Give each vectorized plate a symbol (``a``, ``c``, ``e``, ...) and each
    enumeration dim (``infer["_dim_to_id"]``, id ``i`` -> the ``2i+1``-th letter) a
    symbol, and store the site's ``{dim: symbol}`` map as a new
    ``site["packed"] = {"dim_to_symbol": ...}`` at each sample site.

    :param nodes: a trace's nodes.
    :param plate_to_symbol: symbols already chosen (e.g. by the model trace, so that
        the guide trace agrees); extended in place.
    :returns: ``(plate_to_symbol, symbol_to_dim)``.

    >>> from tracegraph.poutine.runtime import CondIndepStackFrame as F
    >>> nodes = {"x": {"type": "sample", "cond_indep_stack": (F("i", -2, 2, 0), F("j", -1, 3, 0))}}
    >>> symbolize_dims(nodes)
    ({'i': 'a', 'j': 'c'}, {'a': -2, 'c': -1})
    >>> nodes["x"]["packed"]
    {'dim_to_symbol': {-2: 'a', -1: 'c'}}
    """
    plate_to_symbol = {} if plate_to_symbol is None else plate_to_symbol
    used = set(plate_to_symbol.values())
    next_even = 0
    symbol_to_dim: dict[str, int] = {}
    for site in nodes.values():
        if site.get("type") != "sample":
            continue
        dim_to_symbol: dict[int, str] = {}
        for frame in site.get("cond_indep_stack", ()):
            if frame.dim is None:
                continue
            sym = plate_to_symbol.get(frame.name)
            if sym is None:
                while _symbol(next_even) in used:
                    next_even += 2
                sym = _symbol(next_even)
                used.add(sym)
                plate_to_symbol[frame.name] = sym
            symbol_to_dim[sym] = frame.dim
            dim_to_symbol[frame.dim] = sym
        infer = site.get("infer") or {}
        for dim, id_ in (infer.get("_dim_to_id") or {}).items():
            sym = _symbol(2 * id_ + 1)
            symbol_to_dim[sym] = dim
            dim_to_symbol[dim] = sym
        # A new dict, never an update: a copied trace shares its nodes' values.
        site["packed"] = {"dim_to_symbol": dim_to_symbol}
    return plate_to_symbol, symbol_to_dim


def pack(value: Any, dim_to_symbol: Mapping[int, str]) -> Any:
    """Pyro's ``pack``: the packed tensor of :func:`pack_with_dims` (its dims
    string is its ``_pyro_dims`` attribute); numbers come back unchanged.

    :raises ShapeError: (a ``ValueError``) if a dim larger than 1 has no symbol.

    >>> import torch
    >>> p = pack(torch.zeros(2, 1, 3), {-1: "a", -3: "b"})
    >>> tuple(p.shape), p._pyro_dims
    ((2, 3), 'ba')
    """
    return pack_with_dims(value, dim_to_symbol)[0]


def pack_with_dims(
    value: Any, dim_to_symbol: Mapping[int, str], site: str = "?", what: str = "tensor"
) -> tuple[Any, str]:
    """Squeeze the size-1 dims out of ``value`` and name the others.

    Dims count from the right (``-1`` is the last).  The packed tensor also gets
    the dims string as its ``_pyro_dims`` attribute, as Pyro's packed tensors do.
    Non-tensors (``None``, numbers, bools) come back unchanged with dims ``""``.

    :param value: a batch-shaped tensor (log_prob, mask or scale).
    :param dim_to_symbol: the symbol of each dim that may be larger than 1.
    :returns: ``(packed, dims)``, with ``dims[k]`` naming ``packed``'s dim ``k``.
    :raises ShapeError: if a dim larger than 1 has no symbol (no plate owns it).

    >>> import torch
    >>> packed, dims = pack_with_dims(torch.ones(4, 1, 3), {-3: "a", -1: "c"})
    >>> tuple(packed.shape), dims, packed._pyro_dims
    ((4, 3), 'ac', 'ac')
    """
    if not isinstance(value, torch.Tensor):
        return value, ""
    shape = value.shape
    n = len(shape)
    kept: list[int] = []
    dims: list[str] = []
    for i, size in enumerate(shape):
        if size == 1:
            continue
        sym = dim_to_symbol.get(i - n)
        if sym is None:
            owned = ", ".join(f"{d}" for d in sorted(dim_to_symbol)) or "none"
            raise ShapeError(
                f"site '{site}': {what} has shape {tuple(shape)}, and its dim {i - n} (size "
                f"{size}) belongs to no plate (plate dims here: {owned}); hint: wrap the "
                f"site in a plate with dim={i - n}, or move the dim into the event shape "
                "with .to_event()"
            )
        kept.append(size)
        dims.append(sym)
    packed = value.reshape(kept)
    packed._pyro_dims = "".join(dims)  # type: ignore[attr-defined]
    return packed, packed._pyro_dims  # type: ignore[attr-defined]


def pack_site(name: str, site: Site) -> None:
    """Store packed versions of a sample site's tensors in ``site["packed"]``
    (which :func:`symbolize_dims` created): ``unscaled_log_prob``, ``log_prob``,
    ``scale``, ``mask`` and, if computed, ``score_parts``; ``site["packed"]["dims"]``
    maps each of those keys (not ``score_parts``) to its dims string.

    The contract: a packed tensor has only the dims larger than 1, each owned by a
    vectorized plate (or an enumeration dim), in their original order.

    :param name: the site's name (for errors).
    :param site: a sample site whose log_prob was computed.
    :raises ShapeError: if a tensor has a dim larger than 1 that no plate owns.

    >>> import torch
    >>> from tracegraph.poutine.runtime import CondIndepStackFrame as F
    >>> site = {"type": "sample", "cond_indep_stack": (F("i", -2, 2, 0),),
    ...         "log_prob": torch.zeros(2, 1), "unscaled_log_prob": torch.zeros(2, 1),
    ...         "scale": 1.0, "mask": None}
    >>> _ = symbolize_dims({"x": site}); pack_site("x", site)
    >>> site["packed"]["log_prob"].shape, site["packed"]["dims"]["log_prob"]
    (torch.Size([2]), 'a')
    """
    packed = site["packed"]
    dim_to_symbol = packed["dim_to_symbol"]
    dims: dict[str, str] = {}
    for key in ("unscaled_log_prob", "log_prob", "scale", "mask"):
        packed[key], dims[key] = pack_with_dims(site.get(key), dim_to_symbol, name, key)
    parts = site.get("score_parts")
    if parts is not None:
        packed["score_parts"] = type(parts)(
            *(
                pack_with_dims(p, dim_to_symbol, name, f"score_parts.{field}")[0]
                for field, p in zip(parts._fields, parts)
            )
        )
    packed["dims"] = dims
