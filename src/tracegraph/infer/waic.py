"""The widely applicable information criterion (WAIC) of a sampled posterior.

Vehtari, Gelman & Gabry 2017, "Practical Bayesian model evaluation using
leave-one-out cross-validation and WAIC"; Watanabe 2010.

>>> import torch
>>> loglik = torch.tensor([[-1.0, -2.0], [-1.0, -2.0]])  # 2 samples x 2 data points
>>> waic(loglik)  # no spread over samples: p_waic is 0, waic is -2 * lppd
(tensor(6.), tensor(0.))
"""

from __future__ import annotations

import torch

__all__ = ["waic"]


def waic(
    input: torch.Tensor,
    log_weights: torch.Tensor | None = None,
    pointwise: bool = False,
    dim: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """WAIC and its effective number of parameters from log-likelihoods of samples.

    With normalized weights ``w_s`` over the ``S`` samples along ``dim``:
    ``lppd = log sum_s w_s p(y | theta_s)``, ``p_waic`` is the weighted variance
    of ``log p(y | theta_s)`` times ``S / (S - 1)``, and
    ``waic = -2 (lppd - p_waic)``; both per data point (``pointwise``) or summed.

    :param input: log-likelihoods, samples along ``dim``.
    :param log_weights: unnormalized log weights of the samples (default: equal).
    :param pointwise: return per-point values instead of their sums.
    :param dim: the sample dim of ``input``.
    :returns: ``(waic, p_waic)``.

    >>> w, p = waic(torch.randn(100, 3), pointwise=True)
    >>> w.shape, p.shape
    (torch.Size([3]), torch.Size([3]))
    """
    x = input.movedim(dim, 0)
    n = x.size(0)
    if log_weights is None:
        log_weights = torch.zeros(n, dtype=x.dtype, device=x.device)
    log_w = log_weights - log_weights.logsumexp(0)
    log_w = log_w.reshape((n,) + (1,) * (x.dim() - 1))
    lppd = (x + log_w).logsumexp(0)
    w = log_w.exp()
    mean = (w * x).sum(0)
    p_waic = (w * (x - mean) ** 2).sum(0) * (n / (n - 1))
    elpd = -2 * (lppd - p_waic)
    if pointwise:
        return elpd, p_waic
    return elpd.sum(), p_waic.sum()
