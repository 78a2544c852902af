"""``TruncatedPolyaGamma``: PolyaGamma(1, 0) restricted to ``(0, 2.5)``.

The density is a truncated alternating series (accurate to about six decimal
places); the sampler is a truncated sum of Gamma variates, a rough
approximation meant for initialisation (Polson, Scott & Windle 2013).

>>> import torch
>>> d = TruncatedPolyaGamma(torch.zeros(()))
>>> d.batch_shape, d.support
(torch.Size([]), Interval(lower_bound=0.0, upper_bound=2.5))
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.distributions import constraints

from tracegraph.distributions.expansion import finish_expand
from tracegraph.distributions.torch_distribution import Shape, TorchDistribution

__all__ = ["TruncatedPolyaGamma"]


class TruncatedPolyaGamma(TorchDistribution):
    """PolyaGamma(1, 0) truncated to ``(0, truncation_point)``.

    ``log_prob(x) = log sum_{n<7} (-1)**n (2n + 1) exp(-(2n + 1)**2 / (8x))
    - log(2 pi) / 2 - 3 log(x) / 2``, summed in float64.  ``sample`` returns
    ``sum_{k=1}^{8} g_k / (2 pi**2 (k - 1/2)**2)`` with ``g_k ~ Exponential(1)``,
    clamped to the truncation point.

    :param prototype: a tensor whose dtype and device samples and log-densities take.
    :param validate_args: torch's per-instance validation switch.

    >>> d = TruncatedPolyaGamma(torch.zeros((), dtype=torch.float64))
    >>> d.log_prob(torch.tensor(1.0, dtype=torch.float64))
    tensor(-3.0969, dtype=torch.float64)
    """

    truncation_point = 2.5
    num_log_prob_terms = 7
    num_gamma_variates = 8
    arg_constraints: dict[str, constraints.Constraint] = {}
    support = constraints.interval(0.0, truncation_point)

    def __init__(self, prototype: torch.Tensor, validate_args: bool | None = None):
        self.prototype = prototype
        super().__init__(torch.Size(), validate_args=validate_args)

    def expand(self, batch_shape: Shape, _instance: Any = None) -> Any:
        """The same distribution with a new batch shape.

        >>> TruncatedPolyaGamma(torch.zeros(())).expand((2, 3)).sample().shape
        torch.Size([2, 3])
        """
        batch_shape = torch.Size(batch_shape)
        new = self._get_checked_instance(TruncatedPolyaGamma, _instance)
        new.prototype = self.prototype
        return finish_expand(self, new, batch_shape)

    def sample(self, sample_shape: Shape = ()) -> torch.Tensor:
        """A truncated Gamma-sum approximation of a PolyaGamma(1, 0) draw.

        >>> TruncatedPolyaGamma(torch.zeros(())).sample((4,)).shape
        torch.Size([4])
        """
        shape = self.shape(sample_shape)
        like = self.prototype
        with torch.no_grad():
            k = torch.arange(1, self.num_gamma_variates + 1, dtype=like.dtype, device=like.device)
            denominator = 2 * math.pi**2 * (k - 0.5).pow(2)
            gammas = torch.empty(
                shape + (self.num_gamma_variates,), dtype=like.dtype, device=like.device
            ).exponential_()
            return (gammas / denominator).sum(-1).clamp(max=self.truncation_point)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """The truncated series (see the class docstring); not renormalized.

        >>> TruncatedPolyaGamma(torch.zeros(())).log_prob(torch.tensor([0.1, 0.5]))
        tensor([ 1.2848, -0.6295])
        """
        if self._validate_args:
            self._validate_sample(value)
        x = value.double().unsqueeze(-1)
        odd = 2 * torch.arange(self.num_log_prob_terms, dtype=torch.float64, device=x.device) + 1
        signs = 1 - 2 * (torch.arange(self.num_log_prob_terms, device=x.device) % 2)
        series = (signs * odd * torch.exp(-odd.pow(2) / (8 * x))).sum(-1)
        x = x.squeeze(-1)
        result = series.log() - 0.5 * math.log(2 * math.pi) - 1.5 * x.log()
        result = result.to(self.prototype.dtype)
        return result.expand(torch.broadcast_shapes(result.shape, self.batch_shape))
