"""Per-site baselines for score-function gradients (Mnih & Gregor 2014): every
baseline option, its state, and the baseline value each site gets in a step.

A guide site opts in with ``infer={"baseline": {...}}`` (Pyro's options, plus
leave-one-out):

* ``{"use_decaying_avg_baseline": True, "baseline_beta": 0.9}``: an exponential
  moving average of the site's past downstream costs;
* ``{"nn_baseline": module, "nn_baseline_input": x}``: ``module(x)``, trained by
  adding ``(downstream_cost - baseline)**2`` to the loss's gradient;
* ``{"baseline_value": b}``: a value the user computes (trained the same way when
  it requires grad);
* ``{"use_leave_one_out": True}``: with ``num_particles = K > 1``, the mean of the
  other particles' downstream costs (Kool et al. 2019), unbiased because the other
  particles are independent of this one.

As in Pyro, the decaying average combines with a network or a value: the baseline
is their sum, and the learnable part is trained against what the average leaves.
Every baseline is independent of the site's current value, which keeps the
estimator unbiased.  :class:`Baselines` computes the values; the surrogate
(:mod:`tracegraph.infer.surrogate`) turns them into terms.

>>> check_baseline_config("z", {"use_decaying_avg_baseline": True, "baseline_beta": 0.9})
{'use_decaying_avg_baseline': True, 'baseline_beta': 0.9}
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import torch

from tracegraph.errors import SiteError
from tracegraph.infer.terms import ParticleTerms
from tracegraph.ops.provenance import detach_provenance
from tracegraph.params import get_param_store
from tracegraph.poutine.trace_struct import Trace

__all__ = [
    "BASELINE_KEYS",
    "BaselineConfigError",
    "BaselineInputError",
    "BaselineValue",
    "Baselines",
    "DecayingAverage",
    "check_baseline_config",
    "redirected_averages",
]

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


class BaselineConfigError(SiteError, AssertionError):
    """Two baseline kinds that cannot be combined (Pyro asserts here)."""


class BaselineInputError(SiteError, AttributeError):
    """An ``nn_baseline`` without its ``nn_baseline_input`` (Pyro fails calling the
    network on ``None`` with an ``AttributeError``)."""


def check_baseline_config(name: str, config: Any) -> dict[str, Any]:
    """Validate a site's ``infer["baseline"]`` dict, as permissive as Pyro.

    :raises SiteError: unknown keys, a ``baseline_beta`` outside ``[0, 1]``, an
        ``nn_baseline`` that is not callable, or one without its input, naming the
        site.
    :raises BaselineConfigError: ``nn_baseline`` together with ``baseline_value``,
        or leave-one-out together with another kind.

    >>> check_baseline_config("z", {"nn_baseline": None, "baseline_value": 1.0})
    {'nn_baseline': None, 'baseline_value': 1.0}
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
    learnable = [k for k in ("nn_baseline", "baseline_value") if config.get(k) is not None]
    if len(learnable) > 1:
        raise BaselineConfigError(
            f"site '{name}': use either nn_baseline or baseline_value, not both"
        )
    if config.get("use_leave_one_out") and (learnable or config.get("use_decaying_avg_baseline")):
        other = learnable or ["use_decaying_avg_baseline"]
        raise BaselineConfigError(
            f"site '{name}': the leave-one-out baseline does not combine with {other}"
        )
    if config.get("use_decaying_avg_baseline") and "baseline_beta" in config:
        beta = config["baseline_beta"]
        if not isinstance(beta, (int, float)) or not 0.0 <= beta <= 1.0:
            raise SiteError(f"site '{name}': baseline_beta must be in [0, 1], got {beta!r}")
    nn = config.get("nn_baseline")
    if nn is not None:
        if not callable(nn):
            raise SiteError(
                f"site '{name}': nn_baseline must be callable (a torch.nn.Module), got "
                f"{type(nn).__name__}"
            )
        if config.get("nn_baseline_input") is None:
            raise BaselineInputError(f"site '{name}': nn_baseline needs nn_baseline_input")
    return config


#: While set, decaying averages are read from and written to this dict instead of
#: the param store (a compiled step takes them as inputs and returns them).
_REDIRECT: ContextVar[dict[str, torch.Tensor] | None] = ContextVar(
    "tracegraph_baseline_redirect", default=None
)


@contextmanager
def redirected_averages(state: dict[str, torch.Tensor]) -> Iterator[dict[str, torch.Tensor]]:
    """Read and write decaying averages in ``state`` (keyed by param-store name)
    instead of the param store while the block runs.

    >>> state = {}
    >>> with redirected_averages(state):
    ...     DecayingAverage().update("z", torch.tensor([2.0]), beta=0.5, pooled_dims=())
    >>> state
    {'__baseline_avg_downstream_cost_z': tensor([1.])}
    """
    token = _REDIRECT.set(state)
    try:
        yield state
    finally:
        _REDIRECT.reset(token)


class DecayingAverage:
    """Exponential moving averages of downstream costs, one per site, kept in the
    param store under Pyro's name ``__baseline_avg_downstream_cost_<site>`` (so it
    is saved, loaded and cleared with the params, and two estimators of one model
    share it, as in Pyro).  It is read and written directly, not through
    ``param``: no trace sees it, and no optimizer steps it.

    The state is kept per element of the site's plates; when a plate is subsampled
    (its elements change from step to step) the element-wise state would belong to
    other data points, so the average is taken over the plate's dim instead, which
    is still independent of the current draw and so still unbiased.

    >>> avg = DecayingAverage()
    >>> avg.value("z", torch.zeros(2))
    tensor([0., 0.])
    >>> avg.update("z", torch.tensor([2.0, 4.0]), beta=0.5, pooled_dims=())
    >>> avg.value("z", torch.zeros(2))
    tensor([1., 2.])
    """

    #: The param-store name of a site's average is this prefix and the site's name.
    prefix = "__baseline_avg_downstream_cost_"

    def get(self, name: str) -> torch.Tensor | None:
        """The current average of site ``name`` (``None`` before its first update)."""
        key = self.prefix + name
        redirected = _REDIRECT.get()
        if redirected is not None and key in redirected:
            return redirected[key]
        store = get_param_store()
        return store[key].detach() if key in store else None

    def value(self, name: str, like: torch.Tensor) -> torch.Tensor:
        """The baseline for site ``name`` now, shaped like ``like``."""
        state = self.get(name)
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
        """Fold this step's downstream cost into the average."""
        cost = detach_provenance(cost).detach()
        dims = [d for d in pooled_dims if -d <= cost.dim()]
        if dims:
            cost = cost.mean(dims, keepdim=True)
        old = self.get(name)
        if old is None:
            old = torch.zeros_like(cost)
        elif not _broadcasts_to(old.shape, cost.shape):
            old = old.mean().expand(cost.shape)
        new = beta * old + (1.0 - beta) * cost
        redirected = _REDIRECT.get()
        if redirected is not None:
            redirected[self.prefix + name] = new.detach()
            return
        with torch.no_grad():
            get_param_store()[self.prefix + name] = new


@dataclass
class BaselineValue:
    """What one site of one particle gets: its plain score (plate form), the
    baseline (a constant for the estimator) and, for a learnable baseline, its
    training loss ``sum (downstream cost - baseline)**2``."""

    site: str
    score: torch.Tensor
    value: torch.Tensor
    training_loss: torch.Tensor | None = None


#: One run of a step: its cost terms and its guide trace (for the sites' configs).
Run = tuple[ParticleTerms, Trace]


class Baselines:
    """The baselines of one estimator: options, state across steps, and values.

    :param leave_one_out: give every non-reparameterized site without a baseline
        option the leave-one-out baseline.
    """

    def __init__(self, leave_one_out: bool = False) -> None:
        self.leave_one_out = leave_one_out
        self.decaying = DecayingAverage()

    def values(
        self, runs: Sequence[Run], num_particles: int, particle_dim: int | None
    ) -> list[BaselineValue]:
        """Every site's baseline in this step's runs.

        :param runs: the step's runs (one per particle, or one vectorized run).
        :param num_particles: particles per step.
        :param particle_dim: the dim of the vectorized particle plate, if any.
        """
        configs = _configs(runs)
        sites = set().union(*(p.scores for p, _ in runs)) if runs else set()
        loo = {
            name
            for name in sites
            if configs.get(name, {}).get("use_leave_one_out")
            or (self.leave_one_out and not configs.get(name))
        }
        out: list[BaselineValue] = []
        for name in sorted(loo):
            out += _leave_one_out(name, runs, num_particles, particle_dim)
        for name in sorted(sites - loo):
            if configs.get(name):
                out += self._explicit(name, configs[name], runs, particle_dim)
        return out

    def _explicit(
        self, name: str, config: dict[str, Any], runs: Sequence[Run], particle_dim: int | None
    ) -> list[BaselineValue]:
        present = [(p, g) for p, g in runs if name in p.scores]
        use_avg = bool(config.get("use_decaying_avg_baseline"))
        beta = float(config.get("baseline_beta", 0.90))
        out = []
        costs = []
        for p, g in present:
            score = p.plain_score(name)
            d = p.downstream_cost(name)
            b: torch.Tensor | None = None
            if config.get("nn_baseline") is not None:
                b = torch.as_tensor(config["nn_baseline"](config["nn_baseline_input"]))
            elif config.get("baseline_value") is not None:
                b = torch.as_tensor(config["baseline_value"])
            if b is not None:
                _check_baseline_shape(name, b, d)
            if use_avg:
                avg = self.decaying.value(name, score)
                b = avg if b is None else b + avg
                if not p.incomplete:
                    # An incomplete run's costs are summed over the shared plates
                    # (runs.py): folding them in would skew the per-element
                    # average for the next hundred steps.
                    costs.append((d, _pooled_dims(g.nodes[name], particle_dim)))
            if b is None:
                continue  # only baseline_beta or an input given: no baseline (as Pyro)
            loss = ((d - b) ** 2).sum() if b.requires_grad else None
            out.append(BaselineValue(name, score, b, loss))
        # Update only after use: the baseline must not see this step's draw.
        # loss() (no gradient: an evaluation, not a step) leaves it alone.
        if use_avg and torch.is_grad_enabled():
            for d, pooled in costs:
                self.decaying.update(name, d, beta, pooled)
        return out


def _configs(runs: Sequence[Run]) -> dict[str, dict[str, Any]]:
    # Each site's options, from the first run that has the site.
    configs: dict[str, dict[str, Any]] = {}
    for _, guide_trace in runs:
        for name, site in guide_trace.nodes.items():
            if site["type"] != "sample" or name in configs:
                continue
            config = site["infer"].get("baseline")
            if config is not None:
                configs[name] = check_baseline_config(name, config)
    return configs


def _leave_one_out(
    name: str, runs: Sequence[Run], num_particles: int, particle_dim: int | None
) -> list[BaselineValue]:
    if num_particles < 2:
        raise SiteError(
            f"site '{name}': the leave-one-out baseline needs num_particles >= 2, "
            f"got {num_particles}"
        )
    if particle_dim is not None:
        ((p, _),) = runs
        d = p.downstream_cost(name)
        if -particle_dim > d.dim() or d.shape[particle_dim] != num_particles:
            raise SiteError(
                f"site '{name}': leave-one-out needs the site inside the particle plate"
            )
        b = (d.sum(particle_dim, keepdim=True) - d) / (num_particles - 1)
        return [BaselineValue(name, p.plain_score(name), b)]
    present = [(p, p.downstream_cost(name)) for p, _ in runs if name in p.scores]
    if len(present) < 2:
        return []
    k = len(present)
    if any(d.shape != present[0][1].shape for _, d in present):
        # The site's plates have other sizes in other particles (a latent chose
        # them): elements do not line up, so each element gets the mean per-element
        # cost of the other particles, still independent of its own draw.
        means = [d.mean() for _, d in present]
        total_mean = sum(means, torch.zeros(()))
        return [
            BaselineValue(name, p.plain_score(name), (total_mean - m) / (k - 1))
            for (p, _), m in zip(present, means)
        ]
    total = sum((d for _, d in present), torch.zeros(()))
    return [BaselineValue(name, p.plain_score(name), (total - d) / (k - 1)) for p, d in present]


def _check_baseline_shape(name: str, b: torch.Tensor, d: torch.Tensor) -> None:
    # The baseline may carry extra size-1 dims (a (1,) network output for a scalar
    # site) but must not add elements.
    try:
        shape = torch.broadcast_shapes(b.shape, d.shape)
    except RuntimeError:
        shape = None
    if shape is None or shape.numel() != d.numel():
        raise SiteError(
            f"site '{name}': the baseline has shape {tuple(b.shape)}, which does not "
            f"broadcast to the site's downstream cost shape {tuple(d.shape)}"
        )


def _pooled_dims(site: Any, particle_dim: int | None) -> tuple[int, ...]:
    # Dims along which the decaying average is pooled: subsampled plates (their
    # elements change between steps) and the vectorized particle plate.
    dims = [
        f.dim
        for f in site["cond_indep_stack"]
        if f.dim is not None and f.full_size is not None and f.size != f.full_size
    ]
    if particle_dim is not None:
        dims.append(particle_dim)
    return tuple(dims)


def _broadcasts_to(shape: torch.Size, target: torch.Size) -> bool:
    try:
        return torch.broadcast_shapes(shape, target) == target
    except RuntimeError:
        return False
