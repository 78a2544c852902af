"""``LogNormalNegativeBinomial``: a negative binomial with Normal noise on its logits.

``log_prob`` integrates the noise out with Gauss-Hermite quadrature
(Zhou, Li, Dunson & Carin 2012, "Lognormal and Gamma Mixed Negative Binomial
Regression").

>>> import torch
>>> d = LogNormalNegativeBinomial(torch.tensor(3.0), torch.tensor(0.0), torch.tensor(0.5))
>>> d.mean
tensor(3.3994)
"""

from __future__ import annotations

from typing import Any

import torch
from torch.distributions import constraints
from torch.distributions.utils import broadcast_all, lazy_property

from tracegraph.distributions import torch as _torch_wrappers
from tracegraph.distributions.expansion import finish_expand
from tracegraph.distributions.torch_distribution import Shape, TorchDistribution
from tracegraph.errors import SiteError

__all__ = ["LogNormalNegativeBinomial", "normal_quadrature"]

Number = torch.Tensor | float


def normal_quadrature(num_points: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Gauss-Hermite nodes and weights for expectations under ``Normal(0, 1)``.

    Computed by the Golub-Welsch algorithm (the eigenvalues of the Jacobi matrix
    of the probabilists' Hermite polynomials), in float64; the weights sum to one.

    :param num_points: the number of nodes, at least 1.
    :returns: ``(nodes, weights)``, ascending nodes.

    >>> nodes, weights = normal_quadrature(3)
    >>> nodes.round(decimals=4) + 0.0
    tensor([-1.7321,  0.0000,  1.7321], dtype=torch.float64)
    >>> weights.round(decimals=4)
    tensor([0.1667, 0.6667, 0.1667], dtype=torch.float64)
    """
    off_diagonal = torch.arange(1, num_points, dtype=torch.float64).sqrt()
    jacobi = torch.diag(off_diagonal, 1) + torch.diag(off_diagonal, -1)
    nodes, vectors = torch.linalg.eigh(jacobi)
    weights = vectors[0].pow(2)
    return nodes, weights / weights.sum()


class LogNormalNegativeBinomial(TorchDistribution):
    """``NegativeBinomial(total_count, logits + eps)`` with ``eps ~ Normal(0,
    multiplicative_noise_scale)`` integrated out.

    Mean ``nu exp(logits + sigma**2 / 2)``, variance
    ``mean + (exp(sigma**2) (1 + 1/nu) - 1) mean**2``.

    :param total_count: the number of failures ``nu``, non-negative.
    :param logits: the negative binomial's log-odds before the noise.
    :param multiplicative_noise_scale: the noise scale ``sigma``, positive.
    :param num_quad_points: Gauss-Hermite nodes used by ``log_prob``.
    :param validate_args: torch's per-instance validation switch.
    :raises SiteError: if ``num_quad_points < 1``.

    >>> d = LogNormalNegativeBinomial(3.0, 0.0, 0.5)
    >>> d.log_prob(torch.tensor([0.0, 4.0]))
    tensor([-1.9246, -2.3002])
    """

    arg_constraints = {
        "total_count": constraints.greater_than_eq(0),
        "logits": constraints.real,
        "multiplicative_noise_scale": constraints.positive,
    }
    support = constraints.nonnegative_integer

    def __init__(
        self,
        total_count: Number,
        logits: Number,
        multiplicative_noise_scale: Number,
        *,
        num_quad_points: int = 8,
        validate_args: bool | None = None,
    ):
        if num_quad_points < 1:
            raise SiteError(f"num_quad_points must be positive, got {num_quad_points}")
        total_count, logits, scale = broadcast_all(total_count, logits, multiplicative_noise_scale)
        nodes, weights = normal_quadrature(num_quad_points)
        self.quad_points = nodes.to(dtype=logits.dtype, device=logits.device)
        self.log_weights = weights.log().to(dtype=logits.dtype, device=logits.device)
        self.total_count = total_count
        self.logits = logits
        self.multiplicative_noise_scale = scale
        self.num_quad_points = num_quad_points
        self.nb_dist = self._quadrature_dist(total_count, logits, scale)
        super().__init__(logits.shape, validate_args=validate_args)

    def _quadrature_dist(
        self, total_count: torch.Tensor, logits: torch.Tensor, scale: torch.Tensor
    ) -> Any:
        # One negative binomial per quadrature node, in a new rightmost dim.
        noisy = logits.unsqueeze(-1) + scale.unsqueeze(-1) * self.quad_points
        return _torch_wrappers.NegativeBinomial(
            total_count=total_count.unsqueeze(-1).expand(noisy.shape),
            logits=noisy,
            validate_args=False,
        )

    def expand(self, batch_shape: Shape, _instance: Any = None) -> Any:
        """Broadcast the parameters to ``batch_shape``.

        >>> LogNormalNegativeBinomial(3.0, 0.0, 0.5).expand((2,)).nb_dist.batch_shape
        torch.Size([2, 8])
        """
        batch_shape = torch.Size(batch_shape)
        new = self._get_checked_instance(LogNormalNegativeBinomial, _instance)
        new.quad_points = self.quad_points
        new.log_weights = self.log_weights
        new.total_count = self.total_count.expand(batch_shape)
        new.logits = self.logits.expand(batch_shape)
        new.multiplicative_noise_scale = self.multiplicative_noise_scale.expand(batch_shape)
        new.num_quad_points = self.num_quad_points
        new.nb_dist = self.nb_dist.expand(batch_shape + (self.num_quad_points,))
        return finish_expand(self, new, batch_shape)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """``log sum_i w_i NB(value | nu, logits + sigma x_i)`` over the quadrature nodes."""
        if self._validate_args:
            self._validate_sample(value)
        per_node = self.nb_dist.log_prob(value.unsqueeze(-1)) + self.log_weights
        return torch.logsumexp(per_node, dim=-1)

    def sample(self, sample_shape: Shape = torch.Size()) -> torch.Tensor:
        """Draw the logit noise, then a negative binomial count (exact; Pyro's raises).

        >>> LogNormalNegativeBinomial(3.0, 0.0, 0.5).sample((4,)).shape
        torch.Size([4])
        """
        shape = self.shape(sample_shape)
        with torch.no_grad():
            noise = torch.randn(shape, dtype=self.logits.dtype, device=self.logits.device)
            logits = self.logits + self.multiplicative_noise_scale * noise
            nb = _torch_wrappers.NegativeBinomial(
                total_count=self.total_count.expand(shape), logits=logits, validate_args=False
            )
            return nb.sample()

    @lazy_property
    def mean(self) -> torch.Tensor:
        """``total_count * exp(logits + sigma**2 / 2)``."""
        return self.total_count * torch.exp(
            self.logits + 0.5 * self.multiplicative_noise_scale.pow(2)
        )

    @lazy_property
    def variance(self) -> torch.Tensor:
        """``mean + (exp(sigma**2) (1 + 1/total_count) - 1) mean**2``."""
        factor = torch.exp(self.multiplicative_noise_scale.pow(2)) * (1 + 1 / self.total_count)
        return self.mean + (factor - 1) * self.mean.pow(2)
