"""The multivariate Student's t-distribution, with reparameterized samples.

>>> import torch
>>> d = MultivariateStudentT(torch.tensor(3.0), torch.zeros(2), torch.eye(2))
>>> d.variance
tensor([3., 3.])
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.distributions import Chi2, constraints
from torch.distributions.utils import lazy_property

from tracegraph.distributions.argument_errors import ShapeAssertionError
from tracegraph.distributions.expansion import finish_expand
from tracegraph.distributions.torch_distribution import Shape, TorchDistribution
from tracegraph.distributions.util import broadcast_shape

__all__ = ["MultivariateStudentT"]


class MultivariateStudentT(TorchDistribution):
    """``loc + scale_tril @ x * sqrt(df / g)`` with ``x ~ Normal(0, I)`` and
    ``g ~ Chi2(df)``.

    :param df: the degrees of freedom, positive.
    :param loc: the location vector (the mean when ``df > 1``).
    :param scale_tril: the lower-triangular scale, positive diagonal.
    :param validate_args: torch's per-instance validation switch.

    ``covariance_matrix`` is ``scale_tril @ scale_tril.T`` (the scale matrix;
    the covariance of the distribution is ``df / (df - 2)`` times it).

    >>> d = MultivariateStudentT(torch.tensor(4.0), torch.zeros(2), torch.eye(2))
    >>> d.log_prob(torch.zeros(2))
    tensor(-1.8379)
    """

    arg_constraints = {
        "df": constraints.positive,
        "loc": constraints.real_vector,
        "scale_tril": constraints.lower_cholesky,
    }
    support = constraints.real_vector

    def __init__(
        self,
        df: torch.Tensor | float,
        loc: torch.Tensor,
        scale_tril: torch.Tensor,
        validate_args: bool | None = None,
    ):
        dim = loc.size(-1)
        if scale_tril.shape[-2:] != (dim, dim):
            raise ShapeAssertionError(
                f"scale_tril must be of shape batch_shape + ({dim}, {dim}) to match loc; got "
                f"{tuple(scale_tril.shape)}"
            )
        df = torch.as_tensor(df, dtype=loc.dtype, device=loc.device)
        batch_shape = broadcast_shape(df.shape, loc.shape[:-1], scale_tril.shape[:-2])
        self.df = df.expand(batch_shape)
        self.loc = loc.expand(batch_shape + (dim,))
        self._unbroadcasted_scale_tril = scale_tril
        self._chi2 = Chi2(self.df, validate_args=False)
        super().__init__(batch_shape, (dim,), validate_args=validate_args)

    def _native_has_rsample(self) -> bool:
        return True

    @lazy_property
    def scale_tril(self) -> torch.Tensor:
        """The lower-triangular scale, broadcast to the batch shape."""
        return self._unbroadcasted_scale_tril.expand(self.batch_shape + self.event_shape * 2)

    @lazy_property
    def covariance_matrix(self) -> torch.Tensor:
        """``scale_tril @ scale_tril.T`` (the scale matrix)."""
        tril = self._unbroadcasted_scale_tril
        return (tril @ tril.mT).expand(self.batch_shape + self.event_shape * 2)

    @lazy_property
    def precision_matrix(self) -> torch.Tensor:
        """The inverse of :attr:`covariance_matrix`."""
        return torch.cholesky_inverse(self._unbroadcasted_scale_tril).expand(
            self.batch_shape + self.event_shape * 2
        )

    @staticmethod
    def infer_shapes(  # type: ignore[override]  # Pyro's subclasses name their args
        df: tuple[int, ...], loc: tuple[int, ...], scale_tril: tuple[int, ...]
    ) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """``(batch_shape, event_shape)`` from the parameters' shapes.

        >>> MultivariateStudentT.infer_shapes((3,), (2,), (2, 2))
        ((3,), (2,))
        """
        event_shape = tuple(loc[-1:])
        batch_shape = tuple(broadcast_shape(df, loc[:-1], scale_tril[:-2]))
        return batch_shape, event_shape

    def expand(self, batch_shape: Shape, _instance: Any = None) -> Any:
        """Broadcast the parameters to ``batch_shape``.

        >>> MultivariateStudentT(3.0, torch.zeros(2), torch.eye(2)).expand((4,)).loc.shape
        torch.Size([4, 2])
        """
        batch_shape = torch.Size(batch_shape)
        new = self._get_checked_instance(MultivariateStudentT, _instance)
        new.df = self.df.expand(batch_shape)
        new.loc = self.loc.expand(batch_shape + self.event_shape)
        new._unbroadcasted_scale_tril = self._unbroadcasted_scale_tril
        for name in ("scale_tril", "covariance_matrix", "precision_matrix"):
            if name in self.__dict__:
                setattr(new, name, self.__dict__[name].expand(batch_shape + self.event_shape * 2))
        new._chi2 = self._chi2.expand(batch_shape)
        return finish_expand(self, new, batch_shape)

    def rsample(self, sample_shape: Shape = torch.Size()) -> torch.Tensor:
        """``loc + scale_tril @ x * rsqrt(g / df)``, differentiable in every parameter.

        >>> MultivariateStudentT(3.0, torch.zeros(2), torch.eye(2)).rsample((5,)).shape
        torch.Size([5, 2])
        """
        shape = self.shape(sample_shape)
        x = torch.randn(shape, dtype=self.loc.dtype, device=self.loc.device)
        g = self._chi2.rsample(torch.Size(sample_shape))
        y = x * torch.rsqrt(g / self.df).unsqueeze(-1)
        return self.loc + (self._unbroadcasted_scale_tril @ y.unsqueeze(-1)).squeeze(-1)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """The Student's t log-density.

        >>> MultivariateStudentT(1.0, torch.zeros(1), torch.eye(1)).log_prob(torch.zeros(1))
        tensor(-1.1447)
        """
        if self._validate_args:
            self._validate_sample(value)
        n = self.loc.size(-1)
        diff = (value - self.loc).unsqueeze(-1)
        tril = self._unbroadcasted_scale_tril
        tril = tril.expand(broadcast_shape(tril.shape[:-2], diff.shape[:-2]) + tril.shape[-2:])
        y = torch.linalg.solve_triangular(tril, diff, upper=False).squeeze(-1)
        half_log_det = self._unbroadcasted_scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)
        df = self.df
        log_normalizer = (
            half_log_det
            + 0.5 * n * df.log()
            + 0.5 * n * math.log(math.pi)
            + torch.lgamma(0.5 * df)
            - torch.lgamma(0.5 * (df + n))
        )
        return -0.5 * (df + n) * torch.log1p(y.pow(2).sum(-1) / df) - log_normalizer

    @property
    def mean(self) -> torch.Tensor:
        """``loc`` where ``df > 1``, else ``nan``."""
        defined = (self.df > 1).unsqueeze(-1)
        return torch.where(defined, self.loc, self.loc.new_full((), math.nan))

    @property
    def variance(self) -> torch.Tensor:
        """``diag(covariance_matrix) * df / (df - 2)`` where ``df > 2``; ``inf`` for
        ``1 < df <= 2``; ``nan`` for ``df <= 1``."""
        tril = self._unbroadcasted_scale_tril
        scale2 = tril.pow(2).sum(-1).expand(self.batch_shape + self.event_shape)
        df = self.df.unsqueeze(-1)
        finite = scale2 * df / (df - 2)
        result = torch.where(df > 2, finite, finite.new_full((), math.inf))
        return torch.where(df > 1, result, result.new_full((), math.nan))
