"""Sound provenance tracking: which sample sites every tensor was computed from.

Rules (Wingate et al. 2011; used for Rao-Blackwellization as in Schulman et
al. 2015): a sample site's value has provenance ``{name}``; constants and
parameters have ``{}``; an op's output has the union of its inputs'.

>>> import torch
>>> z = track_provenance(torch.tensor(1.0), frozenset({"z"}))  # a sample site's value
>>> w = track_provenance(torch.tensor(2.0), frozenset({"w"}))
>>> c = torch.tensor(3.0)                                       # a constant
>>> get_provenance(z), get_provenance(c)
(frozenset({'z'}), frozenset())
>>> y = z * w + c                                              # an op: the union
>>> sorted(get_provenance(y))
['w', 'z']

Site ``j`` depends on site ``i`` when ``i`` is in the provenance of ``j``'s
distribution parameters (and so of its log-prob):

>>> loc = z * 2
>>> lp = torch.distributions.Normal(loc, 1.0).log_prob(torch.tensor(0.5))
>>> get_provenance(lp)
frozenset({'z'})

Unlike Pyro's implementation, tracking is *sound*: it survives in-place
mutation, and values that decide Python control flow are recorded in the
active :func:`control_flow_scope` ("everything that runs afterwards depends on
it"):

>>> x = torch.zeros(2)
>>> x[0] = z                  # a plain tensor written with tracked data
>>> get_provenance(x)
frozenset({'z'})
>>> with control_flow_scope() as scope:
...     if w > 1:             # bool(w) leaks "w" into control flow
...         pass
>>> scope.provenance
frozenset({'w'})

Tracking never changes values, shapes or gradients, and detaching gives back
the very tensor that was tracked:

>>> t = torch.ones(3)
>>> detach_provenance(track_provenance(t, frozenset({"a"}))) is t
True
>>> type(track_provenance(t, frozenset({"a"})).shape)
<class 'torch.Size'>

``strict()`` turns "no rule for this op" into a
:class:`~tracegraph.errors.ProvenanceError` instead of the default union rule.

The package's modules, in the order they build on each other:
:mod:`~tracegraph.ops.provenance.control_flow` (scopes that collect what
decided Python control flow), :mod:`~tracegraph.ops.provenance.registry` (op
-> rule, strict mode), :mod:`~tracegraph.ops.provenance.tensor` (the tensor
subclass and the fast path: :data:`untracked`, :func:`tag_in_place`,
:func:`reduce_untracked`), :mod:`~tracegraph.ops.provenance.propagation` (the
default rules), :mod:`~tracegraph.ops.provenance.table` (which op is in which
category, data only) and :mod:`~tracegraph.ops.provenance.rules` (the other
categories and :func:`install_rules`).  Only this module is public API; the
fast path is for tracegraph's own hot paths (no other module names
``torch._C``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

import torch

# Pyro's names at this path: pytree helpers it imports here, from torch.
from torch.utils._pytree import tree_flatten, tree_map, tree_unflatten  # noqa: E402, F401

from tracegraph.ops.provenance.aliases import check_site_inputs, remember_storage
from tracegraph.ops.provenance.batch import batch_claims, value_claims
from tracegraph.ops.provenance.claims import (
    Claim,
    aligned_dim,
    aligned_run,
    aligning,
    blind,
    claims_live,
    claims_of,
    names_of,
)
from tracegraph.ops.provenance.control_flow import (
    ControlFlowScope,
    control_flow_scope,
    current_control_flow,
    record_control_flow,
    register_assertion,
)
from tracegraph.ops.provenance.display import plain_names, scrub_tracked_names
from tracegraph.ops.provenance.propagation import collect
from tracegraph.ops.provenance.registry import (
    is_registered,
    is_strict,
    register_rule,
    rule_for,
    set_strict,
    strict,
)
from tracegraph.ops.provenance.rules import install_rules
from tracegraph.ops.provenance.tensor import (
    UNTRACKABLE_WRITE,
    DynamicShapeProvenanceTensor,
    ProvenanceTensor,
    note_event,
    note_raised,
    plain_of,
    provenance_of,
    reduce_untracked,
    retag,
    tag_in_place,
    take_raised,
    tracking_enabled,
    untracked,
    wrap,
)
from tracegraph.ops.provenance.watch import StrictWatch, strict_watch

# The rule table is installed here, once, so a tracked tensor never meets an
# empty table whichever module of the package was imported first.
install_rules()

__all__ = [
    "ProvenanceTensor",
    "DynamicShapeProvenanceTensor",
    "track_provenance",
    "extract_provenance",
    "get_provenance",
    "detach_provenance",
    "ControlFlowScope",
    "control_flow_scope",
    "current_control_flow",
    "record_control_flow",
    "register_assertion",
    "strict",
    "set_strict",
    "is_strict",
    "register_rule",
    "rule_for",
    "is_registered",
    "install_rules",
    # The fast path for code that has read the provenance it needs already.
    "untracked",
    "tracking_enabled",
    "tag_in_place",
    "reduce_untracked",
    # Plate claims, for the plate rule of the estimators (claims.py, batch.py).
    "Claim",
    "aligned_dim",
    "aligned_run",
    "aligning",
    "batch_claims",
    "claims_live",
    "claims_of",
    "names_of",
    "raw_provenance",
    "retag",
    "value_claims",
    # Aliases no op created (aliases.py), checked where values enter sites.
    "check_site_inputs",
    "StrictWatch",
    "strict_watch",
    "UNTRACKABLE_WRITE",
    "note_event",
    "note_raised",
    "take_raised",
    "remember_storage",
    # Error messages name plain tensors (display.py).
    "plain_names",
    "scrub_tracked_names",
]

_EMPTY: frozenset = frozenset()


def _map_tensors(x: Any, fn: Callable[[torch.Tensor], Any]) -> Any:
    # Apply ``fn`` to every tensor in nested lists, tuples, dicts and sets.
    # Containers without a changed element are returned as they are.
    if isinstance(x, torch.Tensor):
        return fn(x)
    if isinstance(x, (list, tuple, set, frozenset)) and not isinstance(x, torch.Size):
        items = [_map_tensors(item, fn) for item in x]
        if all(new is old for new, old in zip(items, x)):
            return x
        if isinstance(x, tuple) and hasattr(x, "_fields"):  # a namedtuple
            return type(x)(*items)
        return type(x)(items)
    if isinstance(x, dict):
        changed = {}
        for key, value in x.items():
            new = _map_tensors(value, fn)
            if new is not value:
                changed[key] = new
        if not changed:
            return x
        out = copy.copy(x)  # keeps dict subclasses (OrderedDict, defaultdict) intact
        out.update(changed)
        return out
    return x


def track_provenance(x: Any, provenance: Iterable[Any]) -> Any:
    """Attach ``provenance`` to every tensor in ``x``.

    Tensors inside lists, tuples, dicts and sets are tracked; anything else
    (numbers, ``None``, strings) is returned unchanged.  Already tracked
    tensors keep their provenance and gain the new one.

    :param x: a tensor or a nested container of tensors.
    :param provenance: sample-site names.
    :returns: ``x`` itself if ``provenance`` is empty, else a tracked copy of
        the structure whose tensors alias the originals.

    >>> import torch
    >>> x = torch.ones(2)
    >>> track_provenance(x, frozenset()) is x
    True
    >>> pair = track_provenance((x, 3.0), frozenset({"a"}))
    >>> get_provenance(pair[0]), pair[1]
    (frozenset({'a'}), 3.0)
    """
    prov = provenance if isinstance(provenance, frozenset) else frozenset(provenance)
    if not prov:
        return x
    # Attached by hand: says nothing about plate positions (see claims.blind).
    prov = blind(prov)
    return _map_tensors(x, lambda t: wrap(t, prov, ProvenanceTensor))


def extract_provenance(x: Any) -> tuple[Any, frozenset]:
    """Split ``x`` into its plain values and the union of its provenance.

    :param x: a tensor, a non-tensor or a nested container.
    :returns: ``(detach_provenance(x), get_provenance(x))``.

    >>> import torch
    >>> x = torch.ones(2)
    >>> value, prov = extract_provenance({"k": track_provenance(x, {"a"})})
    >>> value["k"] is x, prov
    (True, frozenset({'a'}))
    >>> extract_provenance(None)
    (None, frozenset())
    """
    found: list[frozenset] = []

    def plain(t: torch.Tensor) -> torch.Tensor:
        if isinstance(t, ProvenanceTensor):
            found.append(provenance_of(t))
            return plain_of(t)
        return t

    value = _map_tensors(x, plain)
    return value, names_of(_EMPTY.union(*found)) if found else _EMPTY


def get_provenance(x: Any) -> frozenset:
    """Return the union of the provenance of every tensor in ``x``.

    :param x: a tensor, a non-tensor (empty provenance) or a nested container.
    :returns: a frozenset of sample-site names.

    >>> import torch
    >>> a = track_provenance(torch.ones(1), {"a"})
    >>> sorted(get_provenance([a, {"b": track_provenance(torch.ones(1), {"b"})}, 7]))
    ['a', 'b']
    >>> get_provenance(torch.ones(1)), get_provenance("text")
    (frozenset(), frozenset())
    """
    # One tensor is the common case (the ELBO asks once per cost term).
    if isinstance(x, ProvenanceTensor):
        return names_of(provenance_of(x))
    if isinstance(x, torch.Tensor):
        return _EMPTY
    return names_of(collect(x))


def raw_provenance(x: Any) -> frozenset:
    """:func:`get_provenance` with the plate claims kept (see
    :mod:`tracegraph.ops.provenance.claims`); for the plate rule.

    >>> import torch
    >>> raw_provenance(track_provenance(torch.ones(1), {"a"}))
    frozenset({'a'})
    """
    if isinstance(x, ProvenanceTensor):
        return provenance_of(x)
    if isinstance(x, torch.Tensor):
        return _EMPTY
    return collect(x)


def detach_provenance(x: Any) -> Any:
    """Return ``x`` with every tensor replaced by its plain (untracked) tensor.

    For a tensor tracked with :func:`track_provenance` this is the very tensor
    that was tracked; for an op's tracked result it is a plain autograd alias
    (same storage, gradients flow), the same object on every call while it is
    referenced.  Plain tensors and non-tensors come back unchanged.

    :param x: a tensor, a non-tensor or a nested container.
    :returns: the plain structure.

    >>> import torch
    >>> x = torch.ones(2, requires_grad=True)
    >>> y = track_provenance(x, {"a"}) * 3
    >>> p = detach_provenance(y)
    >>> type(p).__name__, p is detach_provenance(y), p.grad_fn is not None
    ('Tensor', True, True)
    """
    return _map_tensors(x, lambda t: plain_of(t) if isinstance(t, ProvenanceTensor) else t)
