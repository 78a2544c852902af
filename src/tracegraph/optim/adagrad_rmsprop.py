"""The Adagrad/RMSProp mash-up step-size rule of ADVI (Kucukelbir et al. 2017).

With gradient ``g_k`` at step ``k``, a running average of its square,
``s_1 = g_1^2`` and ``s_k = t g_k^2 + (1 - t) s_(k-1)``, sets the step
``rho_k = eta k^(-1/2 + delta) / (1 + sqrt(s_k))`` (equations 10 and 11 of
"Automatic Differentiation Variational Inference", JMLR 2017), and the param
moves by ``-rho_k g_k``.

>>> import torch
>>> x = torch.tensor([1.0], requires_grad=True)
>>> optimizer = AdagradRMSProp([x], eta=0.5)
>>> x.grad = torch.tensor([1.0]); _ = optimizer.step()
>>> round(x.item(), 4)
0.75
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

__all__ = ["AdagradRMSProp"]


class AdagradRMSProp(torch.optim.Optimizer):
    """ADVI's step-size sequence as a ``torch.optim.Optimizer`` (Pyro's ``AdagradRMSProp``).

    :param params: tensors (or param-group dicts) to optimize.
    :param eta: scale of the step size.
    :param delta: the exponent of ``k`` is ``-1/2 + delta``.
    :param t: weight of the newest squared gradient in the running average.

    >>> import torch
    >>> x = torch.zeros(2, requires_grad=True)
    >>> AdagradRMSProp([x]).state[x]["step"]
    0
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        eta: float = 1.0,
        delta: float = 1.0e-16,
        t: float = 0.1,
    ) -> None:
        super().__init__(params, {"eta": eta, "delta": delta, "t": t})
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                state["step"] = 0
                state["sum"] = torch.zeros_like(p)

    def share_memory(self) -> None:
        """Move the running averages to shared memory (for multiprocess training)."""
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p]["sum"].share_memory_()

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Take one step for every param with a gradient.

        :param closure: optional; re-evaluates the model and returns the loss.
        :returns: the closure's loss, or None without a closure.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                state = self.state[p]
                state["step"] += 1
                k = state["step"]
                if k == 1:
                    state["sum"] = grad * grad
                else:
                    state["sum"].mul_(1.0 - group["t"]).add_(group["t"] * grad * grad)
                step_size = group["eta"] * k ** (-0.5 + group["delta"])
                p.addcdiv_(grad, state["sum"].sqrt().add_(1.0), value=-step_size)
        return loss
