"""Posterior predictive samples, from a guide or from posterior samples.

>>> import torch
>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> def model(n):
...     z = tracegraph.sample("z", dist.Normal(0.0, 1.0))
...     with tracegraph.plate("data", n):
...         return tracegraph.sample("x", dist.Normal(z, 1.0))
>>> samples = Predictive(model, posterior_samples={"z": torch.zeros(5)})(3)
>>> samples["x"].shape
torch.Size([5, 3])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from tracegraph.poutine import handlers

__all__ = ["Predictive"]


class Predictive:
    """Run ``model`` with latent values from ``posterior_samples`` (a dict of
    stacked samples, leading dim = sample) or from ``guide``, and collect sites.

    :param model: the model; pass ``None`` for its data to predict observations.
    :param posterior_samples: ``{site: tensor}`` with a leading sample dim.
    :param guide: draw latents from this guide instead.
    :param num_samples: how many draws (inferred from ``posterior_samples``).
    :param return_sites: sites to return (``"_RETURN"`` for the return value);
        default: every sample site not given in ``posterior_samples``.
    """

    def __init__(
        self,
        model: Callable[..., Any],
        posterior_samples: dict[str, torch.Tensor] | None = None,
        guide: Callable[..., Any] | None = None,
        num_samples: int | None = None,
        return_sites: Sequence[str] | None = None,
    ) -> None:
        posterior_samples = {} if posterior_samples is None else dict(posterior_samples)
        sizes = {name: len(v) for name, v in posterior_samples.items()}
        if len(set(sizes.values())) > 1:
            raise ValueError(f"posterior_samples have different leading sizes: {sizes}")
        if sizes:
            n = next(iter(sizes.values()))
            if num_samples is not None and num_samples != n:
                raise ValueError(
                    f"num_samples={num_samples} disagrees with the posterior samples' "
                    f"leading size {n}"
                )
            num_samples = n
        if num_samples is None:
            if guide is None:
                raise ValueError("give posterior_samples, a guide, or num_samples")
            num_samples = 1
        if guide is not None and posterior_samples:
            raise ValueError("give either posterior_samples or a guide, not both")
        self.model = model
        self.posterior_samples = posterior_samples
        self.guide = guide
        self.num_samples = num_samples
        self.return_sites = None if return_sites is None else list(return_sites)

    def __call__(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """Draw the predictive samples.

        :returns: ``{site: tensor}`` with a leading dim of size ``num_samples``.
        """
        collected: dict[str, list[Any]] = {}
        with torch.no_grad():
            for i in range(self.num_samples):
                if self.guide is not None:
                    guide_trace = handlers.trace(self.guide).get_trace(*args, **kwargs)
                    fn = handlers.replay(self.model, trace=guide_trace)
                else:
                    data = {k: v[i] for k, v in self.posterior_samples.items()}
                    fn = handlers.condition(self.model, data=data)
                tr = handlers.trace(fn).get_trace(*args, **kwargs)
                for name in self._sites(tr):
                    node = tr.nodes.get(name)
                    if node is None:
                        raise KeyError(f"return site '{name}' is not in the model's trace")
                    collected.setdefault(name, []).append(node["value"])
        return {
            name: torch.stack([torch.as_tensor(v) for v in vs]) for name, vs in collected.items()
        }

    def _sites(self, tr: Any) -> list[str]:
        if self.return_sites is not None:
            return self.return_sites
        return [
            name
            for name, site in tr.nodes.items()
            if site["type"] == "sample"
            and name not in self.posterior_samples
            and not site["infer"].get("_subsample")
        ]
