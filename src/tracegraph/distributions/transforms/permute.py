"""``Permute``: reorder the entries along one dim (a volume-preserving bijection).

>>> import torch
>>> Permute(torch.tensor([2, 0, 1]))(torch.tensor([10.0, 20.0, 30.0]))
tensor([30., 10., 20.])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.distributions import constraints
from torch.distributions.transforms import Transform

__all__ = ["Permute", "permute"]


class Permute(Transform):
    """Reorder ``x`` along ``dim``: ``y = x.index_select(dim, permutation)``.

    Useful between autoregressive flows; ``log_abs_det_jacobian`` is 0.

    :param permutation: a permutation of ``range(x.size(dim))`` (a long tensor).
    :param dim: the (negative) dim to permute; the event has ``-dim`` dims.
    :param cache_size: as for every torch transform (default 1).

    >>> import torch
    >>> t = Permute(torch.tensor([1, 2, 0]))
    >>> t.inv(t(torch.tensor([1.0, 2.0, 3.0])))
    tensor([1., 2., 3.])
    """

    bijective = True
    volume_preserving = True

    def __init__(self, permutation: torch.Tensor, *, dim: int = -1, cache_size: int = 1) -> None:
        if not (isinstance(dim, int) and dim < 0):
            raise ValueError(
                f"Permute: dim must be a negative int (counted from the right), got {dim!r}"
            )
        self.permutation = permutation
        self.dim = dim
        super().__init__(cache_size=cache_size)

    @constraints.dependent_property(is_discrete=False)
    def domain(self) -> constraints.Constraint:
        return constraints.independent(constraints.real, -self.dim)

    @constraints.dependent_property(is_discrete=False)
    def codomain(self) -> constraints.Constraint:
        return constraints.independent(constraints.real, -self.dim)

    @property
    def inv_permutation(self) -> torch.Tensor:
        """The permutation that undoes :attr:`permutation`.

        >>> import torch
        >>> Permute(torch.tensor([2, 0, 1])).inv_permutation
        tensor([1, 2, 0])
        """
        result = torch.empty_like(self.permutation, dtype=torch.long)
        result[self.permutation] = torch.arange(
            self.permutation.size(0), dtype=torch.long, device=self.permutation.device
        )
        return result

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        return x.index_select(self.dim, self.permutation)

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        return y.index_select(self.dim, self.inv_permutation)

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.zeros(x.size()[: self.dim], dtype=x.dtype, device=x.device)

    def with_cache(self, cache_size: int = 1) -> Permute:
        if self._cache_size == cache_size:
            return self
        return Permute(self.permutation, dim=self.dim, cache_size=cache_size)


def permute(
    input_dim: int | Sequence[int], permutation: torch.Tensor | None = None, dim: int = -1
) -> Permute:
    """A :class:`Permute` of ``input_dim`` entries, random unless ``permutation`` is given.

    :param input_dim: the size of the permuted dim, or (when ``dim < -1``) the
        event shape, whose entry at ``dim`` is that size.
    :param permutation: the permutation; default ``torch.randperm``.
    :param dim: the (negative) dim to permute.
    :raises TypeError: for an int ``input_dim`` with ``dim < -1`` (as in Pyro).
    :raises ValueError: for an event shape whose length is not ``-dim``.

    >>> import torch
    >>> sorted(permute(4).permutation.tolist())
    [0, 1, 2, 3]
    """
    if isinstance(input_dim, int):
        if dim < -1:
            raise TypeError(
                f"permute(input_dim={input_dim}, dim={dim}): with dim < -1, input_dim must "
                "be the event shape (a tuple), not an int"
            )
        size = input_dim
    else:
        if len(input_dim) != -dim:
            raise ValueError(
                f"event shape {tuple(input_dim)} must have same length as event_dim {-dim}"
            )
        size = input_dim[dim]
    if permutation is None:
        permutation = torch.randperm(size)
    return Permute(permutation, dim=dim)
