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

import torch

from tracegraph.poutine.runtime import CondIndepStackFrame

__all__ = ["PARTICLE_PLATE", "PlateRule", "plate_dims", "reduce_to_dims", "to_plate_form"]

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


class PlateRule:
    """Along which shared plates a site's score may multiply a cost per element.

    Per-element Rao-Blackwellization inside a vectorized plate ``f`` drops, for
    element ``e`` of a non-reparameterized site ``i``, every cost element ``e' != e``.
    That is valid only if ``i[e]`` cannot reach those elements.  Within one site's
    computation the plate's independence statement guarantees it; a path through
    another site ``k`` keeps it only if ``k`` is itself inside ``f`` (its element
    ``e`` sees only element ``e`` of ``i``).  A path through a site outside ``f``
    (it mixes the elements) or through Python control flow (a global decision)
    does not, and then the cost is summed over ``f`` before it multiplies ``i``'s
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
    >>> sorted(rule.elementwise("z1", frozenset({"z1"}), frozenset(), frozenset({"units1"})))
    ['units1']
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
