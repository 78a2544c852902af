"""Plate alignment claims: which dim of a tensor still lines up with a plated site.

The plate rule of the estimators (``tracegraph.infer.plates``) may multiply the
score of element ``e`` of a site ``s`` in plate ``f`` by element ``e`` of a cost
only when that cost element reads ``s`` at no other index along ``f``.  Site-level
provenance cannot see that: ``z.sum()`` or ``torch.roll(z, 1)`` between two sites
in the same plate mixes the elements.  So, in runs that need it (the estimators'
completely tracked runs, see :func:`aligned_run`), a tracked tensor's provenance
also holds *claims*:

* ``Claim(s, f, d)``: wherever the tensor depends on ``s``, its index along dim
  ``d`` (negative) is ``s``'s index along plate ``f`` (element ``j`` reads only
  element ``j`` of ``s`` along ``f``);
* ``Claim(s, f, None)``: it may read ``s`` at other indices along ``f``
  (*mixed*); ``Claim(s, None, None)``: mixed along every plate of ``s``.

A tensor is aligned with ``s`` along ``f`` only when it holds exactly one
``Claim(s, f, d)`` and no mixed claim for ``s``; a name without claims proves
nothing.  Claims live in the same frozenset as the site names, so every union of
provenance (the default rule of every elementwise op, and code outside this
package that only knows provenance as a set) carries them: an elementwise op with
broadcasting keeps right-aligned dims, so the union *is* its rule (two inputs
aligned at different dims give two claims, which reads as mixed).  Every other op
maps claims to the dims of its output or turns them mixed
(:mod:`tracegraph.ops.provenance.positions`); an op without a mapping mixes.

Claims exist only inside :func:`aligned_run` (and in the tensors made there):
other runs pay nothing for them.

>>> with aligned_run():  # (claims are made inside such a run)
...     t = frozenset({"z", Claim("z", "p", -1)})
>>> names_of(t), aligned_dim(t, "z", "p")
(frozenset({'z'}), -1)
>>> aligned_dim(t | {Claim("z", "p", -2)}, "z", "p") is None
True
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from typing import Any, NamedTuple

__all__ = [
    "STATE",
    "Claim",
    "aligned_dim",
    "aligned_run",
    "aligning",
    "blind",
    "claims_live",
    "claims_of",
    "has_claims",
    "mixed",
    "names_of",
]

_EMPTY: frozenset = frozenset()


class Claim(NamedTuple):
    """``site``'s index along ``plate`` is this tensor's index along ``dim``
    (``None``: mixed; ``plate`` ``None``: every plate of ``site``).

    >>> Claim("z", "data", -1).dim
    -1
    """

    site: Any
    plate: str | None
    dim: int | None


class _State:
    # ``live``: a claim was ever made in this process.  Read on paths that would
    # otherwise pay a scan of every provenance set (a plain attribute: ~20 ns).
    __slots__ = ("live",)

    def __init__(self) -> None:
        self.live = False


STATE = _State()
_ALIGNING: ContextVar[bool] = ContextVar("tracegraph_provenance_aligning", default=False)


class _AlignedRun:
    __slots__ = ("_token",)

    def __enter__(self) -> None:
        STATE.live = True
        self._token = _ALIGNING.set(True)

    def __exit__(self, *exc: object) -> None:
        _ALIGNING.reset(self._token)


def aligned_run() -> _AlignedRun:
    """A context in which sample sites tag their values with plate claims and
    distributions run op by op, so that the plate rule can read from provenance
    whether a cost element reads a site at another index of a plate.

    Per thread and task (a ContextVar).

    >>> with aligned_run():
    ...     aligning()
    True
    >>> aligning()
    False
    """
    return _AlignedRun()


def aligning() -> bool:
    """Whether the current thread or task is inside :func:`aligned_run`.

    >>> aligning()
    False
    """
    return _ALIGNING.get()


def claims_live() -> bool:
    """Whether any claim was made in this process (else none can be found).

    >>> with aligned_run():
    ...     pass
    >>> claims_live()
    True
    """
    return STATE.live


def has_claims(prov: Iterable[Any]) -> bool:
    """Whether ``prov`` holds a claim.

    >>> with aligned_run():
    ...     has_claims({"a"}), has_claims({"a", Claim("a", None, None)})
    (False, True)
    """
    if not STATE.live:
        return False
    for e in prov:
        if type(e) is Claim:
            return True
    return False


def names_of(prov: frozenset) -> frozenset:
    """``prov`` without its claims: the site names.

    >>> with aligned_run():
    ...     names_of(frozenset({"z", Claim("z", "p", -1)}))
    frozenset({'z'})
    """
    if not has_claims(prov):
        return prov
    return frozenset(e for e in prov if type(e) is not Claim)


def claims_of(prov: Iterable[Any]) -> Iterator[Claim]:
    """The claims in ``prov``.

    >>> list(claims_of({"z", Claim("z", "p", -1)}))
    [Claim(site='z', plate='p', dim=-1)]
    """
    for e in prov:
        if type(e) is Claim:
            yield e


def mixed(prov: frozenset) -> frozenset:
    """``prov`` with every claim turned mixed: what an op with no position mapping
    (or a write into another layout) leaves.

    >>> sorted(map(str, mixed(frozenset({"z", Claim("z", "p", -1)}))))
    ["Claim(site='z', plate='p', dim=None)", 'z']
    """
    if not has_claims(prov):
        return prov
    return frozenset(
        e if type(e) is not Claim or e.dim is None else Claim(e.site, e.plate, None) for e in prov
    )


def blind(prov: frozenset) -> frozenset:
    """Provenance attached without knowing the positions (a fast path that ran a
    computation untracked, a value tagged by hand): every claim turns mixed, and
    inside :func:`aligned_run` every name gets a mixed claim, so that a later union
    with an aligned tensor cannot look aligned.

    >>> blind(frozenset({"z"})) == frozenset({"z"})
    True
    >>> with aligned_run():
    ...     sorted(map(str, blind(frozenset({"z"}))))
    ["Claim(site='z', plate=None, dim=None)", 'z']
    """
    if _ALIGNING.get():
        out = set(mixed(prov))
        out.update(Claim(e, None, None) for e in prov if type(e) is not Claim)
        return frozenset(out)
    return mixed(prov)


def aligned_dim(prov: Iterable[Any], site: Any, plate: str) -> int | None:
    """The dim along which a tensor with provenance ``prov`` is aligned with
    ``site`` along ``plate``, or ``None`` when no claim proves it.

    >>> aligned_dim({Claim("z", "p", -2)}, "z", "p"), aligned_dim({"z"}, "z", "p")
    (-2, None)
    """
    found: int | None = None
    for e in prov:
        if type(e) is not Claim or e.site != site:
            continue
        if e.plate is None or e.dim is None:
            if e.plate is None or e.plate == plate:
                return None
            continue
        if e.plate == plate:
            if found is not None and found != e.dim:
                return None
            found = e.dim
    return found
