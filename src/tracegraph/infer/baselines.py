"""Per-site baselines for score-function gradients (Mnih & Gregor 2014).

A guide site opts in with ``infer={"baseline": {...}}``:

* ``{"use_decaying_avg_baseline": True, "baseline_beta": 0.9}``: an exponential
  moving average of the site's past downstream costs;
* ``{"nn_baseline": module, "nn_baseline_input": x}``: ``module(x)``, trained by
  adding ``(downstream_cost - baseline)**2`` to the loss's gradient;
* ``{"baseline_value": b}``: a value the user computes (trained the same way when
  it requires grad);
* ``{"use_leave_one_out": True}``: with ``num_particles = K > 1``, the mean of the
  other particles' downstream costs (Kool et al. 2019), unbiased because the other
  particles are independent of this one.

Every baseline is independent of the site's current value, which keeps the
estimator unbiased.

>>> check_baseline_config("z", {"use_decaying_avg_baseline": True, "baseline_beta": 0.9})
{'use_decaying_avg_baseline': True, 'baseline_beta': 0.9}
"""

from __future__ import annotations

from typing import Any

import torch

from tracegraph.errors import SiteError

__all__ = ["BASELINE_KEYS", "DecayingAverage", "check_baseline_config"]

BASELINE_KEYS = frozenset(
    {
        "use_decaying_avg_baseline",
        "baseline_beta",
        "nn_baseline",
        "nn_baseline_input",
        "baseline_value",
        "use_leave_one_out",
    }
)


def check_baseline_config(name: str, config: Any) -> dict[str, Any]:
    """Validate a site's ``infer["baseline"]`` dict.

    :raises SiteError: unknown keys or an invalid combination, naming the site.
    """
    if not isinstance(config, dict):
        raise SiteError(
            f"site '{name}': infer['baseline'] must be a dict, got {type(config).__name__}"
        )
    unknown = sorted(set(config) - BASELINE_KEYS)
    if unknown:
        raise SiteError(
            f"site '{name}': unknown baseline option(s) {unknown}; valid options are "
            f"{sorted(BASELINE_KEYS)}"
        )
    kinds = [
        k
        for k in ("use_decaying_avg_baseline", "nn_baseline", "baseline_value", "use_leave_one_out")
        if config.get(k) is not None and config.get(k) is not False
    ]
    if len(kinds) > 1:
        raise SiteError(f"site '{name}': choose one baseline kind, got {kinds} together")
    if "baseline_beta" in config:
        if not config.get("use_decaying_avg_baseline"):
            raise SiteError(
                f"site '{name}': baseline_beta is only meaningful with "
                "use_decaying_avg_baseline=True"
            )
        beta = config["baseline_beta"]
        if not isinstance(beta, (int, float)) or not 0.0 <= beta < 1.0:
            raise SiteError(f"site '{name}': baseline_beta must be in [0, 1), got {beta!r}")
    if config.get("nn_baseline") is not None:
        if not isinstance(config["nn_baseline"], torch.nn.Module):
            raise SiteError(
                f"site '{name}': nn_baseline must be a torch.nn.Module, got "
                f"{type(config['nn_baseline']).__name__}"
            )
        if config.get("nn_baseline_input") is None:
            raise SiteError(f"site '{name}': nn_baseline needs nn_baseline_input")
    elif config.get("nn_baseline_input") is not None:
        raise SiteError(f"site '{name}': nn_baseline_input given without nn_baseline")
    return config


class DecayingAverage:
    """Exponential moving averages of downstream costs, one per site.

    The state is kept per element of the site's plates; when a plate is subsampled
    (its elements change from step to step) the element-wise state would belong to
    other data points, so the average is taken over the plate's dim instead, which
    is still independent of the current draw and so still unbiased.

    >>> avg = DecayingAverage()
    >>> avg.value("z", torch.zeros(2), beta=0.5, pooled_dims=())
    tensor([0., 0.])
    >>> avg.update("z", torch.tensor([2.0, 4.0]), beta=0.5, pooled_dims=())
    >>> avg.value("z", torch.zeros(2), beta=0.5, pooled_dims=())
    tensor([1., 2.])
    """

    def __init__(self) -> None:
        self._state: dict[str, torch.Tensor] = {}

    def value(
        self, name: str, like: torch.Tensor, beta: float, pooled_dims: tuple[int, ...]
    ) -> torch.Tensor:
        state = self._state.get(name)
        if state is None:
            return torch.zeros_like(like)
        if _broadcasts_to(state.shape, like.shape):
            return state
        # The plate changed size: its elements no longer line up with the stored
        # ones.  The mean of the past costs is still independent of this draw.
        return state.mean().expand(like.shape)

    def update(
        self, name: str, cost: torch.Tensor, beta: float, pooled_dims: tuple[int, ...]
    ) -> None:
        cost = cost.detach()
        dims = [d for d in pooled_dims if -d <= cost.dim()]
        if dims:
            cost = cost.mean(dims, keepdim=True)
        old = self._state.get(name)
        if old is None:
            old = torch.zeros_like(cost)
        elif not _broadcasts_to(old.shape, cost.shape):
            old = old.mean().expand(cost.shape)
        self._state[name] = beta * old + (1.0 - beta) * cost

    def clear(self) -> None:
        self._state.clear()


def _broadcasts_to(shape: torch.Size, target: torch.Size) -> bool:
    try:
        return torch.broadcast_shapes(shape, target) == target
    except RuntimeError:
        return False
