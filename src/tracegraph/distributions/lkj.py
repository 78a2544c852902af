"""LKJ distributions over correlation matrices and their Cholesky factors.

:class:`LKJ` is over correlation matrices ``M`` with density proportional to
``det(M)**(concentration - 1)``; it is torch's ``LKJCholesky`` pushed through
``L -> L @ L.T``.  :class:`LKJCorrCholesky` is Pyro's deprecated name for
``LKJCholesky`` with the arguments ``(d, eta)``.

>>> import torch
>>> d = LKJ(3, torch.tensor(2.0))
>>> d.sample().shape, d.support
(torch.Size([3, 3]), CorrMatrix())
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch.distributions import Transform, constraints

from tracegraph.distributions import torch as _torch_wrappers
from tracegraph.distributions.pyro_constraints import corr_matrix
from tracegraph.distributions.torch_distribution import Shape
from tracegraph.errors import SiteError, TracegraphWarning

__all__ = ["LKJ", "LKJCorrCholesky"]


class LKJDeprecationWarning(TracegraphWarning, FutureWarning):
    """``LKJCorrCholesky`` is deprecated (Pyro warns with ``FutureWarning`` too).

    >>> issubclass(LKJDeprecationWarning, FutureWarning)
    True
    """


class _CorrMatrixCholeskyTransform(Transform):
    # A correlation matrix to its Cholesky factor.  In the D(D-1)/2 free
    # coordinates, |dX/dL| = prod_i L_ii**(D - i) (i counted from 1).
    domain = corr_matrix
    codomain = constraints.corr_cholesky
    bijective = True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _CorrMatrixCholeskyTransform)

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        return torch.linalg.cholesky(x)

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        return y @ y.mT

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        dim = y.size(-1)
        powers = torch.arange(dim - 1, -1, -1, dtype=y.dtype, device=y.device)
        return -(powers * y.diagonal(dim1=-2, dim2=-1).log()).sum(-1)


class LKJ(_torch_wrappers.TransformedDistribution):  # type: ignore[misc, name-defined]
    """The LKJ distribution over ``dim x dim`` correlation matrices.

    ``concentration = 1`` is uniform over correlation matrices; larger values
    favour matrices near the identity, smaller ones strong correlations
    (Lewandowski, Kurowicka & Joe 2009).

    :param dim: the matrix size, at least 2.
    :param concentration: the shape ``eta``, positive.
    :param validate_args: torch's per-instance validation switch.
    :raises SiteError: if ``dim < 2``.

    >>> LKJ(2, 1.0).log_prob(torch.eye(2))  # uniform over [-1, 1] off the diagonal
    tensor(-0.6931)
    """

    arg_constraints = {"concentration": constraints.positive}
    support = corr_matrix

    def __init__(
        self,
        dim: int,
        concentration: torch.Tensor | float = 1.0,
        validate_args: bool | None = None,
    ):
        if dim < 2:
            raise SiteError(
                f"Expected dim to be an integer greater than or equal to 2. Found dim={dim}."
            )
        self.dim = dim
        base_dist = _torch_wrappers.LKJCholesky(dim, concentration, validate_args=False)
        self.concentration = base_dist.concentration
        super().__init__(base_dist, _CorrMatrixCholeskyTransform().inv, validate_args=validate_args)

    def expand(self, batch_shape: Shape, _instance: Any = None) -> Any:
        """Expand the concentration to ``batch_shape``.

        >>> LKJ(3, 1.0).expand((2,)).concentration.shape
        torch.Size([2])
        """
        new = self._get_checked_instance(LKJ, _instance)
        new = super().expand(batch_shape, _instance=new)
        new.dim = self.dim
        new.concentration = new.base_dist.concentration
        return new

    @property
    def mean(self) -> torch.Tensor:
        """The identity matrix (the distribution is symmetric in every correlation).

        Like Pyro's, in the default dtype.
        """
        eye = torch.eye(self.dim, device=self.concentration.device)
        return eye.expand(self.batch_shape + (self.dim, self.dim))


class LKJCorrCholesky(_torch_wrappers.LKJCholesky):  # type: ignore[misc, name-defined]
    """Deprecated: ``LKJCholesky(dim=d, concentration=eta)``.

    :param d: the matrix size.
    :param eta: the concentration, positive.
    :param validate_args: torch's per-instance validation switch.

    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", FutureWarning)
    ...     LKJCorrCholesky(3, torch.tensor(1.0)).event_shape
    torch.Size([3, 3])
    """

    def __init__(
        self, d: int, eta: torch.Tensor | float, validate_args: bool | None = None
    ) -> None:
        warnings.warn(
            "class LKJCorrCholesky(d, eta, validate_args=None) is deprecated in favor of "
            "LKJCholesky(dim, concentration, validate_args=None).",
            LKJDeprecationWarning,
            stacklevel=2,
        )
        super().__init__(d, eta, validate_args=validate_args)
