"""``Normalize``: project vectors onto the unit sphere of a ``p``-norm.

>>> import torch
>>> Normalize()(torch.tensor([3.0, 4.0]))
tensor([0.6000, 0.8000])
"""

from __future__ import annotations

import torch
from torch.distributions import constraints
from torch.distributions.transforms import Transform

from tracegraph.distributions.constraints import sphere

__all__ = ["Normalize"]


class Normalize(Transform):
    """``y = x / ||x||_p``, with the zero vector mapped to ``[1, 0, ..., 0]``.

    Not bijective: the inverse returns its argument (a point of the sphere is
    one of its own preimages).

    :param p: the norm's order.
    :param cache_size: as for every torch transform.

    >>> import torch
    >>> Normalize()(torch.zeros(3))
    tensor([1., 0., 0.])
    """

    domain = constraints.real_vector
    codomain = sphere
    bijective = False

    def __init__(self, p: float = 2, cache_size: int = 0) -> None:
        self.p = p
        super().__init__(cache_size=cache_size)

    def with_cache(self, cache_size: int = 1) -> Normalize:
        if cache_size == self._cache_size:
            return self
        return Normalize(self.p, cache_size=cache_size)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.p == other.p  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), self.p))

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        norm = x.norm(self.p, dim=-1, keepdim=True)
        y = x / norm.clamp(min=torch.finfo(x.dtype).tiny)
        # The zero vector has no direction: send it to the first basis vector.
        first = torch.zeros_like(x)
        first[..., 0] = 1
        return torch.where(norm == 0, first, y)

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        return y
