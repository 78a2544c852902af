"""Adam with element-wise gradient clipping and learning-rate decay.

This is the ``torch.optim.Optimizer`` behind :func:`tracegraph.optim.ClippedAdam`
(the Pyro-style wrapper); it can also be used on its own like any torch optimizer.
It follows Kingma & Ba 2015 ("Adam: A Method for Stochastic Optimization",
Algorithm 1, with the bias corrections folded into the step size as in their
Section 2) and adds two things Pyro's ``ClippedAdam`` has:

* every gradient element is clamped to ``[-clip_norm, clip_norm]`` before use
  (despite its name, ``clip_norm`` bounds each element, not the vector norm);
* every call to :meth:`ClippedAdam.step` first multiplies each group's ``lr`` by
  ``lrd``, so the k-th step uses ``lr * lrd ** k``.

>>> import torch
>>> x = torch.tensor([1.0], requires_grad=True)
>>> optimizer = ClippedAdam([x], lr=0.1, lrd=0.5)
>>> x.grad = torch.tensor([100.0])  # clamped to 10: Adam's first step is lr-sized anyway
>>> _ = optimizer.step()
>>> round(optimizer.param_groups[0]["lr"], 4), round(x.item(), 4)
(0.05, 0.95)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch

__all__ = ["ClippedAdam"]


def _check_number(name: str, value: Any) -> None:
    # Only the type is checked: like Pyro's, any number goes (a negative lr ascends).
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ValueError(f"ClippedAdam: {name} must be a number, got {value!r}")


class ClippedAdam(torch.optim.Optimizer):
    """Adam that clamps gradients element-wise and decays its learning rate each step.

    :param params: tensors (or param-group dicts) to optimize.
    :param lr: learning rate before decay.
    :param betas: decay rates of the running mean and running squared mean of the
        gradient.
    :param eps: added to the square root of the running squared mean.
    :param weight_decay: L2 penalty coefficient (added to the clamped gradient).
    :param clip_norm: each gradient element is clamped to ``[-clip_norm, clip_norm]``.
    :param lrd: multiplies ``lr`` at the start of every step (``1.0``: no decay).
    :param centered_variance: track the variance of the gradient around its running
        mean, ``(g - m)^2``, instead of its raw second moment ``g^2`` (equation 2 of
        Rengaraj et al. 2023, "A Two-Step Machine Learning Method for Predicting
        the Formation Energy of Ternary Compounds").
    :raises ValueError: for a non-numeric option (values are not range-checked, as in Pyro).

    >>> import torch
    >>> x = torch.tensor([0.0], requires_grad=True)
    >>> optimizer = ClippedAdam([x], lr=0.1, clip_norm=1.0)
    >>> optimizer.defaults["clip_norm"], optimizer.defaults["lrd"]
    (1.0, 1.0)
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        clip_norm: float = 10.0,
        lrd: float = 1.0,
        centered_variance: bool = False,
    ) -> None:
        for name, value in (
            ("lr", lr),
            ("eps", eps),
            ("weight_decay", weight_decay),
            ("clip_norm", clip_norm),
            ("lrd", lrd),
        ):
            _check_number(name, value)
        if not (
            isinstance(betas, tuple | list)
            and len(betas) == 2
            and all(isinstance(b, int | float) for b in betas)
        ):
            raise ValueError(f"ClippedAdam: betas must be two numbers, got {betas!r}")
        defaults = {
            "lr": lr,
            "betas": tuple(betas),
            "eps": eps,
            "weight_decay": weight_decay,
            "clip_norm": clip_norm,
            "lrd": lrd,
            "centered_variance": centered_variance,
        }
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Decay ``lr``, then take one clipped Adam step for every param with a gradient.

        :param closure: optional; re-evaluates the model and returns the loss.
        :returns: the closure's loss, or None without a closure.
        :raises RuntimeError: for a sparse gradient.

        >>> import torch
        >>> x = torch.tensor([0.0], requires_grad=True)
        >>> optimizer = ClippedAdam([x], lr=0.1)
        >>> x.grad = torch.tensor([-2.0])
        >>> optimizer.step(); round(x.item(), 4)
        0.1
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            # Decay before the update, so lr * lrd ** k drives the k-th step (Pyro's order).
            group["lr"] *= group["lrd"]
            beta1, beta2 = group["betas"]
            clip = group["clip_norm"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("ClippedAdam does not support sparse gradients")
                # Out of place: the caller's .grad stays what backward() produced.
                grad = p.grad.clamp(-clip, clip)
                if group["weight_decay"] != 0:
                    grad = grad.add(p, alpha=group["weight_decay"])
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
                if group.get("centered_variance", False):
                    centered = grad - exp_avg
                    exp_avg_sq.mul_(beta2).addcmul_(centered, centered, value=1 - beta2)
                else:
                    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                bias_correction1 = 1 - beta1 ** state["step"]
                bias_correction2 = 1 - beta2 ** state["step"]
                step_size = group["lr"] * math.sqrt(bias_correction2) / bias_correction1
                p.addcdiv_(exp_avg, exp_avg_sq.sqrt().add_(group["eps"]), value=-step_size)
        return loss
