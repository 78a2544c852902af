"""Plates in score-function estimators: plate form, reductions and the plate rule.

A *cost term* is one site's contribution to the ELBO: ``log p`` of a model sample
site or ``-log q`` of a guide latent site, as a tensor whose batch dims belong to
the site's plates.  A *non-reparameterized site* ``i`` multiplies its score
``grad log q_i`` by its *downstream cost*: the cost terms that depend on it.  Inside
a vectorized plate the multiplication is per element, so each tensor is reduced to
the plate dims it shares with the other (Schulman et al. 2015; plate-wise
Rao-Blackwellization as in Pyro).

Every tensor handled here is first brought to *plate form*: dims that belong to
none of its site's vectorized plates are summed out (keeping them as size 1), so
that only plate dims can be larger than one.

>>> import torch
>>> from tracegraph.poutine.runtime import CondIndepStackFrame as F
>>> x = torch.ones(2, 3)          # dim -1 is plate "a"; dim -2 is no plate
>>> to_plate_form(x, {-1}).shape
torch.Size([1, 3])
>>> reduce_to_dims(torch.ones(4, 3), {-2: "b", -1: "a"}, {-1: "a"}).shape
torch.Size([1, 3])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import torch

from tracegraph.ops.provenance import aligned_dim, batch_claims, claims_live
from tracegraph.poutine.runtime import CondIndepStackFrame

__all__ = [
    "PARTICLE_PLATE",
    "PerElement",
    "PlateRule",
    "per_element",
    "plate_dims",
    "reduce_to_dims",
    "to_plate_form",
]

# The plate ``vectorize_particles`` runs model and guide in.  Its elements are
# independent runs, so no path can leave it.
from tracegraph.poutine.trace_checks import PARTICLE_PLATE  # noqa: E402


def plate_dims(cond_indep_stack: Iterable[CondIndepStackFrame]) -> dict[int, str]:
    """The vectorized plates of a site as ``{dim: plate name}``.

    >>> plate_dims([CondIndepStackFrame("data", -1, 5, 0), CondIndepStackFrame("t", None, 3, 1)])
    {-1: 'data'}
    """
    return {f.dim: f.name for f in cond_indep_stack if f.dim is not None}


def to_plate_form(x: torch.Tensor, dims: Iterable[int]) -> torch.Tensor:
    """Sum out (keeping size 1) every dim of ``x`` that is not one of ``dims``.

    :param dims: negative dims that belong to plates.
    """
    if x.dim() == 0:
        return x
    keep = set(dims)
    reduce = [d for d in range(-x.dim(), 0) if d not in keep and x.shape[d] != 1]
    if reduce:
        x = x.sum(reduce, keepdim=True)
    return x


def reduce_to_dims(
    x: torch.Tensor, own: Mapping[int, str], target: Mapping[int, str]
) -> torch.Tensor:
    """Sum out the plate dims of ``x`` (``own``: ``{dim: plate}``, ``x`` in plate form
    already) that the receiver (``target``) lacks.  Plates are compared by name: two
    plates entered one after the other can use the same dim.
    """
    reduce = [
        d for d, name in own.items() if target.get(d) != name and -d <= x.dim() and x.shape[d] != 1
    ]
    if reduce:
        x = x.sum(reduce, keepdim=True)
    return x


class PerElement(NamedTuple):
    """In a cost's dependency set: element ``e`` of the cost along ``plate`` reads
    ``site`` only at element ``e`` along ``plate`` (proven by plate claims, see
    :mod:`tracegraph.ops.provenance.claims`)."""

    site: str
    plate: str


def per_element(site: Any, *inputs: Any) -> frozenset[PerElement]:
    """The :class:`PerElement` markers of a sample site's cost: for every plated site
    ``s`` and plate ``f`` of this site, whether the claims of the site's
    distribution, value, mask and scale (and of ``inputs``, more distributions the
    cost reads) align ``s`` along ``f`` with this site's own dim of ``f``.  Empty
    when no claims were made (a run that is not tracked completely).

    >>> import tracegraph, tracegraph.distributions as dist
    >>> from tracegraph.infer.runs import Tracking, trace_run
    >>> def guide():
    ...     with tracegraph.plate("p", 3):
    ...         z = tracegraph.sample("z", dist.Bernoulli(0.5))
    ...     return z
    >>> def model():
    ...     with tracegraph.plate("p", 3):
    ...         z = tracegraph.sample("z", dist.Bernoulli(0.5))
    ...         tracegraph.sample("x", dist.Normal(z, 1.0), obs=torch.zeros(3))
    ...         tracegraph.sample("y", dist.Normal(z.sum(), 1.0), obs=torch.zeros(3))
    >>> model_trace, _ = trace_run(model, guide, (), {}, Tracking.COMPLETE)
    >>> per_element(model_trace.nodes["x"]), per_element(model_trace.nodes["y"])
    (frozenset({PerElement(site='z', plate='p')}), frozenset())
    """
    if not claims_live():
        return frozenset()
    stack = site.get("cond_indep_stack") or ()
    dims = plate_dims(stack)
    if not dims or site.get("type") != "sample":
        return frozenset()
    sources = [site.get("mask"), site.get("scale")]
    sets = [batch_claims(site["fn"], site["value"], *sources)]
    sets += [batch_claims(fn) for fn in inputs]
    candidates = {(c.site, c.plate) for claims in sets for c in claims if c.plate is not None}
    out = set()
    for s, f in candidates:
        want = next((d for d, name in dims.items() if name == f), None)
        if want is None:
            continue
        if all(_aligned_or_absent(claims, s, f, want) for claims in sets):
            out.add(PerElement(str(s), f))
    return frozenset(out)


def _aligned_or_absent(claims: frozenset, s: Any, f: str, want: int) -> bool:
    if not any(c.site == s for c in claims):
        return True
    return aligned_dim(claims, s, f) == want


class PlateRule:
    """Along which shared plates a site's score may multiply a cost per element.

    Per-element Rao-Blackwellization inside a vectorized plate ``f`` drops, for
    element ``e`` of a non-reparameterized site ``i``, every cost element ``e' != e``.
    That is valid only if ``i[e]`` cannot reach those elements.  The cost's plate
    claims (a :class:`PerElement` marker in its dependency set) prove it for the
    computations on every path, sites or not; a path through another site ``k``
    outside ``f`` or through Python control flow (a global decision) rules it out
    as well.  Otherwise the cost is summed over ``f`` before it multiplies ``i``'s
    score.  See ``docs/design/plate-soundness.md``.

    :param info: for every guide latent site ``k``: ``(plates(k), ancestors(k),
        control(k))`` — its vectorized plate names, the sites its log-density
        depends on (itself excluded), and the sites that decided control flow
        before it.

    >>> rule = PlateRule({
    ...     "z1": (frozenset({"units1"}), frozenset(), frozenset()),
    ...     "z2": (frozenset({"units2"}), frozenset({"z1"}), frozenset()),
    ... })
    >>> sorted(rule.elementwise("z1", frozenset({"z1", "z2"}), frozenset(), frozenset({"units1"})))
    []
    >>> marker = PerElement("z1", "units1")  # the cost's claims prove it per element
    >>> deps = frozenset({"z1", marker})
    >>> sorted(rule.elementwise("z1", deps, frozenset(), frozenset({"units1"})))
    ['units1']
    >>> sorted(rule.elementwise("z1", frozenset({"z1"}), frozenset(), frozenset({"units1"})))
    []
    """

    def __init__(
        self, info: Mapping[str, tuple[frozenset[str], frozenset[str], frozenset[str]]]
    ) -> None:
        self.info = info

    def plates(self, site: str) -> frozenset[str]:
        return self.info[site][0]

    def elementwise(
        self,
        i: str,
        cost_deps: frozenset[str],
        cost_control: frozenset[str],
        shared: frozenset[str],
    ) -> frozenset[str]:
        """The plates of ``shared`` along which ``i``'s influence on the cost stays
        element-wise.

        :param cost_deps: every site the cost depends on (provenance and control).
        :param cost_control: the sites that decided control flow before the cost.
        """
        if i in cost_control:
            return frozenset()
        keep = shared
        if i in cost_deps:
            # Per element only along the plates where the cost's claims prove that
            # its element e reads i only at element e (no mixing computation on
            # any path, through sites or not).  The particle plate of
            # vectorize_particles needs no proof: its elements are independent runs
            # by construction (as for an incomplete run, terms.py), while a write or
            # an op without a position mapper (scatter_, einsum, conv1d) along
            # another dim mixes its claim too.  Summing a cost over the particles
            # would put a particle's own cost into its leave-one-out baseline.
            keep = frozenset(
                f for f in shared if f == PARTICLE_PLATE or PerElement(i, f) in cost_deps
            )
        for k in cost_deps:
            if k == i:
                continue
            entry = self.info.get(k)
            if entry is None:
                continue
            plates, ancestors, control = entry
            if i not in ancestors:
                continue
            if i in control:
                return frozenset()
            keep = keep & plates
            if not keep:
                break
        return keep
