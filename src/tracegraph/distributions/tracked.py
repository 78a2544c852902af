"""Distributions of tracked values at the speed of plain ones.

A distribution built from tensors that carry provenance
(:mod:`tracegraph.ops.provenance`) would run every op of its constructor,
``log_prob`` and ``sample`` through provenance tracking.  None of that is needed:
everything a distribution computes is a function of its inputs, so its outputs
depend on exactly the union of its inputs' provenance.  For *leaf*
distributions, whose constructor arguments are tensors and numbers only (no
nested distribution or transform whose own parameters could be tracked), the
mixin therefore runs torch's code untracked and attaches that union to every
result and to every tensor the object stores (so a later ``d.loc`` or a cached
lazy property is still tracked).

>>> import torch
>>> from tracegraph.ops.provenance import get_provenance, track_provenance
>>> import tracegraph.distributions as dist
>>> loc = track_provenance(torch.tensor(0.5), frozenset({"z"}))
>>> d = dist.Normal(loc, 1.0)
>>> sorted(get_provenance(d.log_prob(torch.tensor(0.0)))), sorted(get_provenance(d.loc))
(['z'], ['z'])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from tracegraph.ops.provenance import (
    DynamicShapeProvenanceTensor,
    ProvenanceTensor,
    aligning,
    get_provenance,
    note_raised,
    tag_in_place,
    track_provenance,
    untracked,
)

__all__ = [
    "ProvenanceFastPath",
    "leaf_provenance",
    "retrack",
    "tag_output",
    "value_provenance",
]

_EMPTY: frozenset[str] = frozenset()
Shape = torch.Size | tuple[int, ...] | list[int]
_LEAF_TYPES = (int, float, bool, type(None), torch.Size, torch.dtype, torch.device, str)


def leaf_provenance(args: tuple[Any, ...], kwargs: dict[str, Any]) -> frozenset[str] | None:
    """The union of the provenance of a constructor's arguments, or ``None`` when an
    argument is not a tensor or a number (the distribution is not a leaf).

    >>> leaf_provenance((torch.zeros(2), 1.0), {"validate_args": None})
    frozenset()
    >>> leaf_provenance(([torch.zeros(2)],), {}) is None
    True
    """
    prov = _EMPTY
    for group in (args, kwargs.values()):
        for a in group:
            if isinstance(a, torch.Tensor):
                if isinstance(a, ProvenanceTensor):
                    if isinstance(a, DynamicShapeProvenanceTensor):
                        return None  # its shape is data: let every op record it
                    p = get_provenance(a)
                    prov = prov | p if prov else p
            elif not isinstance(a, _LEAF_TYPES):
                if isinstance(a, tuple) and all(isinstance(x, int) for x in a):
                    continue
                return None
    return prov


def value_provenance(value: Any) -> frozenset[str] | None:
    """The provenance of a value passed to ``log_prob`` (empty for plain tensors), or
    ``None`` when its shape depends on tracked values (no fast path then: reading
    that shape must be recorded as control flow, op by op)."""
    if isinstance(value, ProvenanceTensor):
        if isinstance(value, DynamicShapeProvenanceTensor):
            return None
        return get_provenance(value)
    return _EMPTY


_NESTED = (torch.distributions.Distribution, torch.distributions.transforms.Transform)


def retrack(obj: Any, prov: frozenset[str], keep: tuple[Any, ...] = (), _depth: int = 0) -> None:
    """Give every plain tensor stored on ``obj`` the provenance ``prov``, also in
    the distributions and transforms it holds.

    A leaf's constructor takes only tensors and numbers, so any nested object was
    built by the constructor from those arguments (``Beta`` keeps its parameters
    in an internal ``Dirichlet``) and depends on them too.  Tensors the object
    computed itself are tracked in place (their class is swapped: no alias, no
    extra autograd node); the objects in ``keep`` (the caller's own tensors, such
    as constructor arguments stored as they are) are replaced by tracked aliases,
    so the caller's tensors stay untracked.

    >>> class Box: pass
    >>> b = Box(); b.t = torch.zeros(1); b.arg = torch.ones(1)
    >>> retrack(b, frozenset({"a"}), keep=(b.arg,))
    >>> sorted(get_provenance(b.t)), sorted(get_provenance(b.arg))
    (['a'], ['a'])
    """
    state = obj.__dict__
    for key, v in list(state.items()):
        if type(v) is torch.Tensor:
            for k in keep:
                if v is k:
                    state[key] = track_provenance(v, prov)
                    break
            else:
                tag_in_place(v, prov)
        elif _depth < 4:
            if isinstance(v, _NESTED):
                retrack(v, prov, keep, _depth + 1)
            elif isinstance(v, list):
                for item in v:
                    if isinstance(item, _NESTED):
                        retrack(item, prov, keep, _depth + 1)


def tag_output(out: Any, prov: frozenset[str], held: tuple[Any, ...]) -> Any:
    """Attach ``prov`` to the result of a distribution method run untracked: in
    place when it is a fresh plain tensor (not one of ``held``: the arguments and
    the object's stored values), else through :func:`track_provenance`.

    >>> x = torch.ones(1)
    >>> type(tag_output(x, frozenset({"a"}), (x,))).__name__, type(x).__name__
    ('ProvenanceTensor', 'Tensor')
    """
    if type(out) is not torch.Tensor:
        return track_provenance(out, prov)
    for h in held:
        if out is h:
            return track_provenance(out, prov)
    return tag_in_place(out, prov)


_NO_PROVENANCE: frozenset[str] = frozenset()

# Only ever in front of a torch Distribution (through TorchDistributionMixin).
if TYPE_CHECKING:
    _FastPathBase = torch.distributions.Distribution
else:
    _FastPathBase = object


class ProvenanceFastPath(_FastPathBase):
    """The constructor, ``log_prob``, ``sample`` and ``rsample`` of a leaf
    distribution run untracked, their results tagged with the union of the
    arguments' provenance (see the module docstring).

    Sits between :class:`~tracegraph.distributions.TorchDistributionMixin` and the
    torch class, so a class below it (Pyro's maths for a torch class) is wrapped too.

    >>> import tracegraph.distributions as dist
    >>> issubclass(dist.Normal, ProvenanceFastPath)
    True
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        prov = leaf_provenance(args, kwargs)
        if prov is None:
            super().__init__(*args, **kwargs)
            return
        try:
            if prov and not aligning():
                with untracked():
                    super().__init__(*args, **kwargs)
                # Arguments stored as they are stay the caller's plain tensors.
                retrack(self, prov, keep=(*args, *kwargs.values()))
            else:
                # (In an estimator's completely tracked run the stored parameters
                # keep their plate claims: tracegraph.ops.provenance.claims.)
                super().__init__(*args, **kwargs)
        except ValueError as exc:
            # An argument check failed on tracked values: a program that catches
            # it decides on them (reported at the next site).
            note_raised(prov, exc)
            raise
        # A leaf distribution: its arguments carry all the provenance it has.
        self._tg_leaf_provenance = prov

    def _untracked_call(self, method: Any, value_prov: frozenset[str] | None, *args: Any) -> Any:
        # Returns NotImplemented when the fast path does not apply.
        prov: frozenset[str] | None = self.__dict__.get("_tg_leaf_provenance")
        if prov is None or value_prov is None:
            return NotImplemented
        full = prov | value_prov if value_prov else prov
        if not full:
            return NotImplemented
        state = self.__dict__
        size = len(state)
        try:
            with untracked():
                out = method(*args)
        except ValueError as exc:  # a value outside the support (validation)
            note_raised(full, exc)
            raise
        if len(state) != size:
            # Lazy properties cached during the call: computed from this leaf's
            # attributes only (the instance may have no provenance of its own).
            for key in list(state)[size:]:
                v = state[key]
                if type(v) is torch.Tensor:
                    if prov:
                        tag_in_place(v, prov)
                elif prov:
                    retrack(self, prov)
                    break
        return tag_output(out, full, (*args, *state.values()))

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        out = self._untracked_call(super().log_prob, value_provenance(value), value)
        if out is NotImplemented:
            return super().log_prob(value)  # type: ignore[misc]
        return out  # type: ignore[no-any-return]

    def sample(self, sample_shape: Shape = torch.Size()) -> torch.Tensor:
        shape = torch.Size(sample_shape)
        out = self._untracked_call(super().sample, _NO_PROVENANCE, shape)
        if out is NotImplemented:
            return super().sample(shape)  # type: ignore[misc]
        return out  # type: ignore[no-any-return]

    def rsample(self, sample_shape: Shape = torch.Size()) -> torch.Tensor:
        shape = torch.Size(sample_shape)
        out = self._untracked_call(super().rsample, _NO_PROVENANCE, shape)
        if out is NotImplemented:
            return super().rsample(shape)  # type: ignore[misc]
        return out  # type: ignore[no-any-return]

    def _validate_sample(self, value: torch.Tensor) -> None:
        # Sample validation only decides "raise or go on" and produces nothing, so
        # it runs untracked: tracked values (tracegraph.ops.provenance) would pay
        # the tracking cost on every check and record the check as control flow.
        with untracked():
            super()._validate_sample(value)  # type: ignore[misc]
