"""``LowerCholeskyAffine``: ``y = L x + loc`` with a lower-triangular ``L``.

>>> import torch
>>> t = LowerCholeskyAffine(torch.zeros(2), torch.tensor([[2.0, 0.0], [1.0, 1.0]]))
>>> t(torch.tensor([1.0, 1.0]))
tensor([2., 2.])
"""

from __future__ import annotations

import torch
from torch.distributions import constraints
from torch.distributions.transforms import Transform

__all__ = ["LowerCholeskyAffine"]


class LowerCholeskyAffine(Transform):
    """The affine bijection ``y = scale_tril @ x + loc`` on vectors.

    :param loc: the shift, a ``D``-vector.
    :param scale_tril: a ``D x D`` lower-triangular matrix with positive diagonal.
    :param cache_size: as for every torch transform.
    :raises AssertionError: if the sizes do not match (as in Pyro).

    >>> import torch
    >>> t = LowerCholeskyAffine(torch.ones(2), torch.eye(2) * 2)
    >>> t.inv(torch.tensor([3.0, 5.0])), t.log_abs_det_jacobian(torch.zeros(2), torch.zeros(2))
    (tensor([1., 2.]), tensor(1.3863))
    """

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True
    volume_preserving = False

    def __init__(self, loc: torch.Tensor, scale_tril: torch.Tensor, cache_size: int = 0) -> None:
        super().__init__(cache_size=cache_size)
        self.loc = loc
        self.scale_tril = scale_tril
        if loc.size(-1) != scale_tril.size(-1) or scale_tril.size(-2) != scale_tril.size(-1):
            raise AssertionError(
                "loc and scale_tril must be of size D and D x D, respectively (instead: "
                f"{loc.shape}, {scale_tril.shape})"
            )

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        return torch.matmul(self.scale_tril, x.unsqueeze(-1)).squeeze(-1) + self.loc

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        rhs = (y - self.loc).unsqueeze(-1)
        return torch.linalg.solve_triangular(self.scale_tril, rhs, upper=False).squeeze(-1)

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        log_det = self.scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)
        return log_det * torch.ones(x.size()[:-1], dtype=x.dtype, device=x.device)

    def with_cache(self, cache_size: int = 1) -> LowerCholeskyAffine:
        if cache_size == self._cache_size:
            return self
        return LowerCholeskyAffine(self.loc, self.scale_tril, cache_size=cache_size)
