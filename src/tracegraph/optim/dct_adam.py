"""ClippedAdam with a second view of time-series params in the frequency domain.

A param tensor with an attribute ``_pyro_dct_dim`` (a negative dim: its time
axis) is optimized in an extended space: the time series itself joined, along
that dim, with its orthonormal DCT (zero-padded to an FFT-friendly length).
Adam's moments live in that space; the update is mapped back with the
transpose of the extension (time part plus inverse DCT of the frequency part).
Slow trends, spread over many time steps, get their own adaptive step size.

With ``subsample_aware=True``, a param with an attribute ``_pyro_subsample``
(``{negative dim: indices}``) updates its moments and its per-element step
count only at the subsampled positions.

>>> import torch
>>> x = torch.zeros(5, requires_grad=True)
>>> x._pyro_dct_dim = -1
>>> optimizer = DCTAdam([x], lr=0.1)
>>> x.grad = torch.ones(5); _ = optimizer.step()
>>> optimizer.state[x]["exp_avg"].shape
torch.Size([10])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.nn.functional as F

from tracegraph.distributions.transforms.spectral import dct, idct

__all__ = ["DCTAdam", "next_fast_len"]


def next_fast_len(size: int) -> int:
    """The smallest ``n >= size`` whose prime factors are all 2, 3 or 5.

    >>> next_fast_len(7), next_fast_len(11), next_fast_len(16)
    (8, 12, 16)
    """
    n = max(1, size)
    while True:
        rest = n
        for factor in (2, 3, 5):
            while rest % factor == 0:
                rest //= factor
        if rest == 1:
            return n
        n += 1


def _pad_along(x: torch.Tensor, dim: int, length: int) -> torch.Tensor:
    extra = length - x.size(dim)
    if extra == 0:
        return x
    moved = x.transpose(dim, -1)
    return F.pad(moved, (0, extra)).transpose(dim, -1)


def _extend(x: torch.Tensor, dim: int, duration: int) -> torch.Tensor:
    # The time series and its DCT (zero-padded to a fast length), joined along dim.
    padded = _pad_along(x, dim, next_fast_len(duration))
    return torch.cat([x, dct(padded, dim=dim)], dim=dim)


def _extend_transpose(x: torch.Tensor, dim: int, duration: int) -> torch.Tensor:
    time, freq = x.split([duration, x.size(dim) - duration], dim=dim)
    return time + idct(freq, dim=dim).narrow(dim, 0, duration)


def _subsample_mask(x: torch.Tensor, subsample: dict[int, torch.Tensor]) -> torch.Tensor:
    mask = torch.ones_like(x, dtype=torch.bool)
    for dim, indices in subsample.items():
        if dim >= 0:
            dim -= x.dim()
        hit = torch.zeros(x.size(dim), dtype=torch.bool, device=x.device)
        hit[indices] = True
        mask = mask & hit.reshape((-1,) + (1,) * (-1 - dim))
    return mask


class DCTAdam(torch.optim.Optimizer):
    """:class:`~tracegraph.optim.clipped_adam.ClippedAdam` plus a frequency-domain view
    of params that have a ``_pyro_dct_dim`` attribute (see the module docstring).

    :param params: tensors (or param-group dicts) to optimize.
    :param lr: learning rate before decay.
    :param betas: decay rates of the running gradient mean and squared mean.
    :param eps: added to the square root of the running squared mean.
    :param clip_norm: each gradient element is clamped to ``[-clip_norm, clip_norm]``.
    :param lrd: multiplies ``lr`` at the start of every step.
    :param subsample_aware: update statistics only at the positions listed in a
        param's ``_pyro_subsample`` attribute.

    >>> import torch
    >>> x = torch.zeros(3, requires_grad=True)
    >>> optimizer = DCTAdam([x], lr=0.1)
    >>> x.grad = torch.ones(3); _ = optimizer.step()
    >>> x
    tensor([-0.1000, -0.1000, -0.1000], requires_grad=True)
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        clip_norm: float = 10.0,
        lrd: float = 1.0,
        subsample_aware: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "clip_norm": clip_norm,
            "lrd": lrd,
            "subsample_aware": subsample_aware,
        }
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Decay ``lr``, then take one step for every param with a gradient.

        :param closure: optional; re-evaluates the model and returns the loss.
        :returns: the closure's loss, or None without a closure.
        :raises NotImplementedError: for a param with both ``_pyro_dct_dim`` and
            ``_pyro_subsample`` under ``subsample_aware=True``.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            group["lr"] *= group["lrd"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                subsample = getattr(p, "_pyro_subsample", None)
                if group["subsample_aware"] and subsample is not None:
                    self._step_subsample(group, p, subsample)
                else:
                    self._step_dense(group, p)
        return loss

    def _step_dense(self, group: dict[str, Any], p: torch.Tensor) -> None:
        grad = p.grad.clamp(-group["clip_norm"], group["clip_norm"])  # type: ignore[union-attr]
        time_dim = getattr(p, "_pyro_dct_dim", None)
        if time_dim is not None:
            duration = p.size(time_dim)
            grad = _extend(grad, time_dim, duration)
        state = self.state[p]
        if not state:
            state["step"] = 0
            state["exp_avg"] = torch.zeros_like(grad)
            state["exp_avg_sq"] = torch.zeros_like(grad)
        beta1, beta2 = group["betas"]
        state["step"] += 1
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        step_size = (
            group["lr"] * math.sqrt(1 - beta2 ** state["step"]) / (1 - beta1 ** state["step"])
        )
        denominator = exp_avg_sq.sqrt().add_(group["eps"])
        if time_dim is None:
            p.addcdiv_(exp_avg, denominator, value=-step_size)
        else:
            update = exp_avg / denominator * step_size
            p.sub_(_extend_transpose(update, time_dim, duration))

    def _step_subsample(
        self, group: dict[str, Any], p: torch.Tensor, subsample: dict[int, torch.Tensor]
    ) -> None:
        if getattr(p, "_pyro_dct_dim", None) is not None:
            raise NotImplementedError(
                "DCTAdam(subsample_aware=True) cannot combine _pyro_subsample with "
                "_pyro_dct_dim on one param"
            )
        grad = p.grad.clamp(-group["clip_norm"], group["clip_norm"])  # type: ignore[union-attr]
        mask = _subsample_mask(grad, subsample)
        state = self.state[p]
        if not state:
            state["step"] = torch.zeros_like(grad)
            state["exp_avg"] = torch.zeros_like(grad)
            state["exp_avg_sq"] = torch.zeros_like(grad)
        beta1, beta2 = group["betas"]
        step = state["step"].add_(mask)
        exp_avg = torch.where(mask, state["exp_avg"] * beta1 + grad * (1 - beta1), state["exp_avg"])
        exp_avg_sq = torch.where(
            mask, state["exp_avg_sq"] * beta2 + grad * grad * (1 - beta2), state["exp_avg_sq"]
        )
        state["exp_avg"], state["exp_avg_sq"] = exp_avg, exp_avg_sq
        # Positions never seen have step 0: their (0/0) step size is masked out.
        step_size = group["lr"] * (1 - beta2**step).sqrt() / (1 - beta1**step)
        update = exp_avg / (exp_avg_sq.sqrt() + group["eps"]) * step_size
        p.sub_(torch.where(mask, update, torch.zeros_like(update)))
