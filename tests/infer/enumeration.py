"""Exact references for ELBO tests: enumerate every latent assignment of a small
discrete program, and compare Monte Carlo gradient estimates against them.

The exact ELBO of a guide ``q`` whose latent sites are all discrete is

    ELBO = sum_z q(z) * (log p(x, z) - log q(z))

summed over every joint assignment ``z`` the guide can produce.  The assignments
are found by running the guide again and again with a handler that *forces* the
values of the sites already decided and stops at the first undecided one, which
then branches over its support (depth-first).  Because the guide really runs for
each path, Python control flow is handled exactly: a site that exists only on
some paths is enumerated only there, and a site whose distribution depends on an
earlier value (``.item()``, ``bool()``, list indexing, in-place writes) gets the
right distribution on each path.  The result is a differentiable function of the
param store's tensors, so ``torch.autograd.grad`` on it gives exact first and
second derivatives.

Vectorized sites are enumerated jointly over their batch elements (``K ** n``
values for ``n`` elements of a ``K``-valued site), so keep plates tiny.  Plate
subsampling is not supported (the exact value would average over subsets): use
the full-size model as the reference.

The second half holds the statistical comparison used by the tests: draw ``n``
independent gradient estimates, and require every coordinate of their mean to lie
within ``4`` standard errors of the exact gradient.

>>> import torch
>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> def model():
...     z = tracegraph.sample("z", dist.Bernoulli(0.5))
...     tracegraph.sample("x", dist.Normal(z, 1.0), obs=torch.tensor(1.0))
>>> def guide():
...     p = tracegraph.param("p", torch.tensor(0.5), constraint=dist.constraints.unit_interval)
...     tracegraph.sample("z", dist.Bernoulli(p))
>>> len(enumerate_paths(guide))
2
>>> elbo, evidence = exact_elbo(model, guide), log_evidence(model)
>>> bool(elbo <= evidence)  # the ELBO is a lower bound
True
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch

import tracegraph
from tracegraph.distributions import Bernoulli, Categorical
from tracegraph.infer import ELBO
from tracegraph.ops.provenance import detach_provenance, get_provenance, track_provenance
from tracegraph.params import get_param_store
from tracegraph.poutine import handlers
from tracegraph.poutine.messenger import Messenger
from tracegraph.poutine.runtime import Message
from tracegraph.poutine.sites import site_is_subsample
from tracegraph.poutine.trace_struct import Trace

__all__ = [
    "CONTROL_FLOW_ZOO",
    "ForceValues",
    "estimator_moments",
    "ZOO",
    "Case",
    "assert_unbiased",
    "enumerate_paths",
    "exact_elbo",
    "exact_grads",
    "exact_posterior_guide",
    "grad_estimates",
    "guide_params",
    "joint_support",
    "log_evidence",
    "one_thread",
]

Program = Callable[..., Any]


class _Undecided(Exception):
    """Raised at the first latent site whose value is not forced yet."""

    def __init__(self, name: str, fn: Any) -> None:
        super().__init__(name)
        self.name = name
        self.fn = fn


class _Force(Messenger):
    """Give latent sites the forced values; stop at the first one without."""

    def __init__(self, values: dict[str, torch.Tensor]) -> None:
        super().__init__()
        self.values = values

    def _pyro_sample(self, msg: Message) -> None:
        if msg["is_observed"]:
            return
        if site_is_subsample(msg):
            if msg["fn"].subsample_size == msg["fn"].size:
                return  # the index site of a plate that does not subsample
            raise ValueError(
                f"plate subsampling (site '{msg['name']}') is not supported by exact "
                "enumeration; use the full-size model as the reference"
            )
        name = str(msg["name"])
        if name not in self.values:
            raise _Undecided(name, msg["fn"])
        msg["value"] = self.values[name]
        msg["done"] = True


def joint_support(fn: Any) -> list[torch.Tensor]:
    """Every joint value of a discrete distribution over all its batch elements.

    >>> [v.tolist() for v in joint_support(Bernoulli(torch.full((2,), 0.5)))]
    [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
    >>> len(joint_support(Bernoulli(torch.full((3,), 0.5)).to_event(1)))
    8
    """
    while isinstance(fn, torch.distributions.Independent):
        fn = fn.base_dist  # the joint values of its elements are the same
    if not getattr(fn, "has_enumerate_support", False):
        raise ValueError(f"cannot enumerate {type(fn).__name__}: it has no finite support")
    support = fn.enumerate_support(expand=True)  # (K,) + batch + event
    k = support.shape[0]
    batch, event = tuple(fn.batch_shape), tuple(fn.event_shape)
    n = math.prod(batch)
    flat = support.reshape((k, n) + event)
    positions = torch.arange(n)
    return [
        flat[torch.tensor(choice), positions].reshape(batch + event)
        for choice in itertools.product(range(k), repeat=n)
    ]


def enumerate_paths(program: Program, *args: Any, **kwargs: Any) -> list[dict[str, torch.Tensor]]:
    """All complete assignments of the latent sites of ``program``, one dict each
    (depth-first; a site absent on a path is absent from its dict).

    The program runs once per path prefix, under ``block`` so that no outer
    handler sees these runs.
    """
    done: list[dict[str, torch.Tensor]] = []
    todo: list[dict[str, torch.Tensor]] = [{}]
    while todo:
        forced = todo.pop()
        try:
            with handlers.block():
                _Force(forced)(program)(*args, **kwargs)
        except _Undecided as branch:
            for value in reversed(joint_support(branch.fn)):
                todo.append({**forced, branch.name: value})
        else:
            done.append(forced)
    return done


def _latent_log_prob(trace: Trace) -> torch.Tensor:
    return torch.as_tensor(
        trace.log_prob_sum(lambda name, site: not site["is_observed"]), dtype=torch.float64
    )


def _path_traces(
    model: Program, guide: Program, values: dict[str, torch.Tensor], args: Any, kwargs: Any
) -> tuple[Trace, Trace]:
    guide_trace = handlers.trace(_Force(values)(guide)).get_trace(*args, **kwargs)
    model_trace = handlers.trace(handlers.replay(model, trace=guide_trace)).get_trace(
        *args, **kwargs
    )
    for name, site in model_trace.nodes.items():
        if (
            site["type"] == "sample"
            and not site["is_observed"]
            and not site_is_subsample(site)
            and name not in values
        ):
            raise ValueError(f"model latent site '{name}' is not in the guide")
    return model_trace, guide_trace


def exact_elbo(model: Program, guide: Program, *args: Any, **kwargs: Any) -> torch.Tensor:
    """``sum_z q(z) (log p(x, z) - log q(z))`` over every guide path, differentiable
    in the params (float64 accumulation, so that references are not the noisy side).
    """
    total = torch.zeros((), dtype=torch.float64)
    for values in enumerate_paths(guide, *args, **kwargs):
        model_trace, guide_trace = _path_traces(model, guide, values, args, kwargs)
        log_q = _latent_log_prob(guide_trace)
        log_p = torch.as_tensor(model_trace.log_prob_sum(), dtype=torch.float64)
        total = total + log_q.exp() * (log_p - log_q)
    return total


def log_evidence(model: Program, *args: Any, **kwargs: Any) -> torch.Tensor:
    """``log sum_z p(x, z)`` over every latent assignment of the model."""
    terms = []
    for values in enumerate_paths(model, *args, **kwargs):
        trace = handlers.trace(_Force(values)(model)).get_trace(*args, **kwargs)
        terms.append(torch.as_tensor(trace.log_prob_sum(), dtype=torch.float64))
    return torch.logsumexp(torch.stack(terms), 0)


def exact_posterior_guide(model: Program, *args: Any, **kwargs: Any) -> Program:
    """A guide that samples the model's scalar Bernoulli / Categorical latent sites
    in program order from their exact conditional posteriors given the earlier
    ones, so that ``log p(x, z) - log q(z)`` is the log evidence for every ``z``
    (a zero-variance golden value for any ELBO estimator).
    """
    table = []
    for values in enumerate_paths(model, *args, **kwargs):
        trace = handlers.trace(_Force(values)(model)).get_trace(*args, **kwargs)
        table.append((values, float(torch.as_tensor(trace.log_prob_sum()).detach())))

    def guide(*a: Any, **k: Any) -> None:
        # The guide *is* the model run with posterior conditionals in place of the
        # priors; its observed sites are hidden so that only latents are recorded.
        hidden = handlers.block(model, hide_fn=lambda msg: msg["is_observed"])
        _Posterior(table)(hidden)(*a, **k)

    return guide


class _Posterior(Messenger):
    # Draws each latent from its posterior conditional given the values drawn
    # before it, by summing the joint over the enumerated paths that agree with
    # that prefix.
    def __init__(self, table: list[tuple[dict[str, torch.Tensor], float]]) -> None:
        super().__init__()
        self.table = table
        self.prefix: dict[str, torch.Tensor] = {}

    def __enter__(self) -> _Posterior:
        self.prefix = {}
        super().__enter__()
        return self

    def _agrees(self, values: dict[str, torch.Tensor]) -> bool:
        return all(n in values and torch.equal(values[n], x) for n, x in self.prefix.items())

    def _pyro_sample(self, msg: Message) -> None:
        if msg["is_observed"] or site_is_subsample(msg):
            return
        name, fn = str(msg["name"]), msg["fn"]
        if not isinstance(fn, (Bernoulli, Categorical)) or tuple(fn.batch_shape):
            raise ValueError(f"site '{name}': only scalar Bernoulli/Categorical sites")
        weights = []
        for v in joint_support(fn):
            log_joints = [
                lp
                for values, lp in self.table
                if self._agrees(values) and name in values and torch.equal(values[name], v)
            ]
            weights.append(torch.logsumexp(torch.tensor(log_joints, dtype=torch.float64), 0))
        probs = torch.softmax(torch.stack(weights), 0).float()
        msg["fn"] = Bernoulli(probs[1]) if isinstance(fn, Bernoulli) else Categorical(probs)
        msg["value"] = msg["fn"]()
        msg["done"] = True

    def _pyro_post_sample(self, msg: Message) -> None:
        # The final value: an outer handler (replay, enumeration) may replace ours.
        if not msg["is_observed"] and not site_is_subsample(msg):
            self.prefix[str(msg["name"])] = msg["value"]


# -- statistical comparison ---------------------------------------------------


@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch single-threaded (restored on exit).  The tensors here have a
    handful of elements: intra-op threads only add synchronisation, which costs
    milliseconds per op on a loaded 2-core machine."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def guide_params(guide: Program, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
    """Run the guide once (creating its params) and return the unconstrained leaf
    tensors of the params it uses, by name."""
    trace = handlers.trace(guide).get_trace(*args, **kwargs)
    store = dict(get_param_store().named_parameters())
    return {name: store[name] for name, site in trace.nodes.items() if site["type"] == "param"}


def exact_grads(
    model: Program,
    guide: Program,
    params: Sequence[torch.Tensor],
    *args: Any,
    **kwargs: Any,
) -> torch.Tensor:
    """The exact gradient of ``-ELBO`` w.r.t. ``params``, flattened (float64)."""
    grads = torch.autograd.grad(-exact_elbo(model, guide, *args, **kwargs), list(params))
    return torch.cat([g.reshape(-1) for g in grads])


def grad_estimates(
    loss_fn: Callable[[], torch.Tensor], params: Sequence[torch.Tensor], n: int
) -> torch.Tensor:
    """``n`` independent gradient estimates of ``loss_fn()`` w.r.t. ``params``, one
    flattened row each (a param a draw did not use counts as a zero gradient)."""
    rows = []
    for _ in range(n):
        grads = torch.autograd.grad(loss_fn(), list(params), allow_unused=True)
        rows.append(
            torch.cat(
                [
                    (torch.zeros_like(p) if g is None else g).reshape(-1)
                    for g, p in zip(grads, params)
                ]
            )
        )
    return torch.stack(rows).double()


def assert_unbiased(
    samples: torch.Tensor, exact: torch.Tensor, num_se: float = 4.0, atol: float = 1e-6
) -> None:
    """Require ``|mean - exact| <= num_se * SE + atol`` per coordinate, where
    ``SE = std / sqrt(n)`` of the ``n`` independent rows of ``samples``.

    Four standard errors make a false alarm about 6e-5 likely per coordinate for a
    normal mean; ``atol`` covers coordinates whose estimate has no variance.
    """
    n = samples.shape[0]
    mean = samples.mean(0)
    se = samples.std(0) / math.sqrt(n)
    err = (mean - exact.to(mean.dtype)).abs()
    bad = err > num_se * se + atol
    if bool(bad.any()):
        raise AssertionError(
            f"estimate biased beyond {num_se} SE at coordinates {bad.nonzero().flatten().tolist()}:"
            f"\n  mean  {mean.tolist()}\n  exact {exact.tolist()}\n  SE    {se.tolist()}"
        )


# The zoo of programs lives in tests/zoo.py (shared with the handler tests).
from zoo import CONTROL_FLOW_ZOO, MIXED, ZOO, Case  # noqa: E402, F401


def elbo_by_hand(
    model: Program,
    guide: Program,
    args: tuple[Any, ...],
    num_particles: int = 1,
    vectorize_particles: bool = False,
    max_plate_nesting: int = 0,
) -> float:
    """The ELBO estimate an estimator should report, recomputed from plain traces:
    the mean over particles of ``log p(x, z) - log q(z)``.  Seeded like the
    estimator, it draws the same ``z`` (one guide run per particle, or one run in
    a particle plate at dim ``-1 - max_plate_nesting``)."""

    def one(m: Program, g: Program, k: int) -> float:
        guide_trace = handlers.trace(g).get_trace(*args)
        model_trace = handlers.trace(handlers.replay(m, trace=guide_trace)).get_trace(*args)
        return float((model_trace.log_prob_sum() - _latent_log_prob(guide_trace)).detach()) / k

    if not vectorize_particles:
        return sum(one(model, guide, num_particles) for _ in range(num_particles))

    def in_plate(fn: Program) -> Program:
        def wrapped(*a: Any) -> Any:
            with tracegraph.plate("particles", num_particles, dim=-1 - max_plate_nesting):
                return fn(*a)

        return wrapped

    return one(in_plate(model), in_plate(guide), num_particles)


# -- exact moments of an estimator ----------------------------------------------------


class ForceValues(Messenger):
    """Give every latent site the value in ``values``, as if the guide had drawn it.

    A drawn value carries the provenance of its distribution's parameters (the
    sampler computes it from them); a plain constant would not, and
    TraceGraph_ELBO would then miss that a site's costs depend on its parents.  So
    the forced value gets the provenance of its log-density under the site's
    distribution (empty in an untracked run).
    """

    def __init__(self, values: dict[str, torch.Tensor]) -> None:
        super().__init__()
        self.values = values

    def _pyro_sample(self, msg: Message) -> None:
        if msg["is_observed"] or site_is_subsample(msg):
            return
        value = self.values[str(msg["name"])]
        fn: Any = msg["fn"]
        msg["value"] = track_provenance(value, get_provenance(fn.log_prob(value)))
        msg["done"] = True


def estimator_moments(
    elbo: ELBO, model: Program, guide: Program, *args: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    """The exact mean and per-coordinate variance of ``elbo``'s gradient estimate
    (one particle) w.r.t. the guide's params, by enumerating the guide's paths."""
    params = list(guide_params(guide, *args).values())
    # One step first, so every path below gets the tracking the estimator settles
    # on (a first step that lacks tags sums its shared plates instead).
    elbo.differentiable_loss(model, guide, *args)
    mean = torch.zeros((), dtype=torch.float64)
    second = torch.zeros((), dtype=torch.float64)
    for values in enumerate_paths(guide, *args):
        forced = ForceValues(values)(guide)
        trace = handlers.trace(forced).get_trace(*args)
        log_q = trace.log_prob_sum(lambda name, site: not site["is_observed"])
        weight = detach_provenance(log_q).detach().double().exp()
        loss = elbo.differentiable_loss(model, forced, *args)
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        row = torch.cat(
            [(torch.zeros_like(p) if g is None else g).reshape(-1) for g, p in zip(grads, params)]
        ).double()
        mean = mean + weight * row
        second = second + weight * row * row
    return mean, second - mean * mean
