"""The shared zoo of small programs the handler and inference tests run.

* :data:`PROGRAMS`: models alone (no guide), each with a latent site to condition
  or intervene on and a value for it; the handler laws run over them.
* :data:`ZOO`, :data:`CONTROL_FLOW_ZOO`, :data:`MIXED`: model/guide pairs
  (:class:`Case`) whose latents are all discrete, so that exact enumeration
  (``tests/infer/enumeration.py``) is their reference; the inference tests run
  over them, and the handler laws over their models too.

>>> sorted(PROGRAMS)[:2]
['case_markov', 'case_mixed']
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph.distributions import constraints

Program = Callable[..., Any]


# -- a zoo of small discrete programs -------------------------------------------
#
# Every model below has a guide with learnable params; all latents are discrete
# so ``exact_elbo`` is the reference.  Params start away from the optimum so that
# the gradients are far from zero.  ``vectorizable`` is False for programs whose
# Python control flow needs one particle per run (``.item()`` on a batch fails).


@dataclass(frozen=True)
class Case:
    """A model/guide pair with its arguments."""

    name: str
    model: Program
    guide: Program
    args: tuple[Any, ...] = ()
    vectorizable: bool = True

    def __repr__(self) -> str:
        return self.name


def _prob(name: str, init: Any) -> torch.Tensor:
    return tracegraph.param(name, torch.tensor(init), constraint=constraints.unit_interval)


def _simplex(name: str, init: Any) -> torch.Tensor:
    return tracegraph.param(name, torch.tensor(init), constraint=constraints.simplex)


def _observe(name: str, loc: Any, value: float) -> None:
    tracegraph.sample(name, dist.Normal(loc, 1.0), obs=torch.tensor(value))


def independent_model() -> None:
    z1 = tracegraph.sample("z1", dist.Bernoulli(0.3))
    z2 = tracegraph.sample("z2", dist.Categorical(torch.tensor([0.5, 0.3, 0.2])))
    z3 = tracegraph.sample("z3", dist.Bernoulli(0.6))
    _observe("x1", 2.0 * z1, 1.5)
    _observe("x2", z2.float() - 1.0, 0.7)
    _observe("x3", -z3, -0.2)


def independent_guide() -> None:
    tracegraph.sample("z1", dist.Bernoulli(_prob("q1", 0.7)))
    tracegraph.sample("z2", dist.Categorical(_simplex("q2", [0.2, 0.5, 0.3])))
    tracegraph.sample("z3", dist.Bernoulli(_prob("q3", 0.25)))


def markov_model() -> None:
    z: Any = torch.tensor(0.0)
    for t, x in enumerate([1.0, -0.5, 0.8, 1.2]):
        z = tracegraph.sample(f"z{t}", dist.Bernoulli(0.2 + 0.6 * z))
        _observe(f"x{t}", 2.0 * z - 1.0, x)


def markov_guide() -> None:
    a = _prob("a", [0.3, 0.6, 0.4, 0.7])
    b = _prob("b", [0.8, 0.2, 0.6, 0.3])
    z: Any = torch.tensor(0.0)
    for t in range(4):
        z = tracegraph.sample(f"z{t}", dist.Bernoulli(a[t] + (b[t] - a[t]) * z))


def plate_model(data: torch.Tensor) -> None:
    g = tracegraph.sample("g", dist.Bernoulli(0.4))
    with tracegraph.plate("data", len(data)):
        z = tracegraph.sample("z", dist.Bernoulli(0.25 + 0.5 * g))
        tracegraph.sample("x", dist.Normal(2.0 * z - 1.0, 1.0), obs=data)


def plate_guide(data: torch.Tensor) -> None:
    g = tracegraph.sample("g", dist.Bernoulli(_prob("pg", 0.6)))
    qa = _prob("qa", [0.3, 0.6, 0.8])
    qb = _prob("qb", [0.7, 0.4, 0.2])
    with tracegraph.plate("data", len(data)):
        tracegraph.sample("z", dist.Bernoulli(qa + (qb - qa) * g))


def nested_plates_model(data: torch.Tensor) -> None:
    # x[i] sees the column sum over plate "b": each of its costs depends on two
    # latents, and y depends on all four (scores summed over both plates).
    with tracegraph.plate("a", 2, dim=-1):
        with tracegraph.plate("b", 2, dim=-2):
            z = tracegraph.sample("z", dist.Bernoulli(0.3))
        # keepdim: with batched particles (a plate left of "a" and "b") the sums
        # must stay per particle; a plain sum would move the particle dim into a
        # plate's dim and broadcast x and y across particles.
        tracegraph.sample("x", dist.Normal(z.sum(-2, keepdim=True), 1.0), obs=data)
    _observe("y", 0.5 * z.sum((-2, -1), keepdim=True), 1.0)


def nested_plates_guide(data: torch.Tensor) -> None:
    q = _prob("q", [[0.6, 0.2], [0.4, 0.7]])
    with tracegraph.plate("a", 2, dim=-1):
        with tracegraph.plate("b", 2, dim=-2):
            tracegraph.sample("z", dist.Bernoulli(q))


def sequential_model(data: torch.Tensor) -> None:
    g = tracegraph.sample("g", dist.Bernoulli(0.5))
    for i in tracegraph.plate("seq", len(data)):
        z = tracegraph.sample(f"z_{i}", dist.Bernoulli(0.2 + 0.6 * g))
        tracegraph.sample(f"x_{i}", dist.Normal(z - 0.5 * g, 1.0), obs=data[i])


def sequential_guide(data: torch.Tensor) -> None:
    g = tracegraph.sample("g", dist.Bernoulli(_prob("pg", 0.3)))
    q = _prob("q", [0.6, 0.3, 0.5])
    for i in tracegraph.plate("seq", len(data)):
        tracegraph.sample(f"z_{i}", dist.Bernoulli(q[i] * (0.5 + 0.5 * g)))


ZOO = [
    Case("independent", independent_model, independent_guide),
    Case("markov", markov_model, markov_guide),
    Case("plate", plate_model, plate_guide, (torch.tensor([1.2, -0.3, 0.4]),)),
    Case("nested_plates", nested_plates_model, nested_plates_guide, (torch.tensor([1.0, 0.3]),)),
    Case("sequential", sequential_model, sequential_guide, (torch.tensor([0.9, -0.4, 0.2]),)),
]


# Control flow: a latent's value decides, through Python, which distribution a
# later site has or whether it exists.  The dependence is invisible to data-flow
# provenance, so an estimator that misses it drops a score term whose expectation
# is far from zero (Pyro's TraceGraph_ELBO returns 0 for it).


def mean_field_ab_guide() -> None:
    tracegraph.sample("a", dist.Bernoulli(_prob("qa", 0.3)))
    tracegraph.sample("b", dist.Bernoulli(_prob("qb", 0.8)))


def cf_item_model() -> None:
    a = tracegraph.sample("a", dist.Bernoulli(0.5))
    if a.item() == 1.0:
        b = tracegraph.sample("b", dist.Bernoulli(0.95))
    else:
        b = tracegraph.sample("b", dist.Bernoulli(0.02))
    _observe("x", b, 1.0)


def cf_bool_model() -> None:
    a = tracegraph.sample("a", dist.Bernoulli(0.4))
    if a:  # bool(): "c" exists only when a == 1
        c = tracegraph.sample("c", dist.Bernoulli(0.5))
        _observe("x", 2.0 * c, 1.5)
    else:
        _observe("x", -1.0, 1.5)


def cf_bool_guide() -> None:
    a = tracegraph.sample("a", dist.Bernoulli(_prob("qa", 0.3)))
    if a:
        tracegraph.sample("c", dist.Bernoulli(_prob("qc", 0.2)))


def cf_list_index_model() -> None:
    c = tracegraph.sample("c", dist.Categorical(torch.tensor([0.2, 0.5, 0.3])))
    locs = [-2.0, 0.0, 3.0]
    _observe("x", locs[c], 1.0)  # list indexing calls c.__index__()


def cf_list_index_guide() -> None:
    tracegraph.sample("c", dist.Categorical(_simplex("qc", [0.5, 0.3, 0.2])))


def cf_inplace_model() -> None:
    a = tracegraph.sample("a", dist.Bernoulli(0.5))
    buf = torch.zeros(2)
    buf[0] = a  # an in-place write: buf now depends on "a"
    b = tracegraph.sample("b", dist.Bernoulli(0.02 + 0.93 * buf[0]))
    _observe("x", b, 1.0)


def cf_guide_item_model() -> None:
    a = tracegraph.sample("a", dist.Bernoulli(0.5))
    b = tracegraph.sample("b", dist.Bernoulli(0.97))
    _observe("x", a + 2.0 * b, 2.5)


def cf_guide_item_guide() -> None:
    a = tracegraph.sample("a", dist.Bernoulli(_prob("qa", 0.3)))
    qb = _prob("qb", [0.5, 0.01])
    # The guide's own control flow: which param "b" uses depends on "a".
    tracegraph.sample("b", dist.Bernoulli(qb[1] if a.item() else qb[0]))


def cf_branch_model() -> None:
    a = tracegraph.sample("a", dist.Bernoulli(0.5))
    z1 = tracegraph.sample("z1", dist.Bernoulli(0.5))
    z2 = tracegraph.sample("z2", dist.Bernoulli(0.5))
    # Which latent the observation reads depends on "a": same sites and shapes on
    # both branches, different data flow.
    _observe("x", 3.0 * (z1 if a.item() else z2), 3.0)


def cf_branch_guide() -> None:
    tracegraph.sample("a", dist.Bernoulli(_prob("qa", 0.4)))
    tracegraph.sample("z1", dist.Bernoulli(_prob("q1", 0.7)))
    tracegraph.sample("z2", dist.Bernoulli(_prob("q2", 0.2)))


CONTROL_FLOW_ZOO = [
    Case("cf_item", cf_item_model, mean_field_ab_guide, vectorizable=False),
    Case("cf_bool", cf_bool_model, cf_bool_guide, vectorizable=False),
    Case("cf_list_index", cf_list_index_model, cf_list_index_guide, vectorizable=False),
    Case("cf_inplace", cf_inplace_model, mean_field_ab_guide, vectorizable=False),
    Case("cf_guide_item", cf_guide_item_model, cf_guide_item_guide, vectorizable=False),
    Case("cf_branch", cf_branch_model, cf_branch_guide, vectorizable=False),
]


# Not enumerable (a Normal latent), for checks of values rather than of means:
# a global discrete site, a reparameterized site and a plate of discrete sites.


def mixed_model(data: torch.Tensor) -> None:
    g = tracegraph.sample("g", dist.Bernoulli(0.4))
    w = tracegraph.sample("w", dist.Normal(0.0, 1.0))
    with tracegraph.plate("data", len(data)):
        z = tracegraph.sample("z", dist.Bernoulli(0.25 + 0.5 * g))
        tracegraph.sample("x", dist.Normal(w + 2.0 * z - 1.0, 1.0), obs=data)


def mixed_guide(data: torch.Tensor) -> None:
    g = tracegraph.sample("g", dist.Bernoulli(_prob("pg", 0.6)))
    loc = tracegraph.param("loc", torch.tensor(0.3))
    tracegraph.sample("w", dist.Normal(loc, 0.5))
    qa = _prob("qa", [0.3, 0.6, 0.8])
    with tracegraph.plate("data", len(data)):
        tracegraph.sample("z", dist.Bernoulli(qa * (0.5 + 0.5 * g)))


MIXED = Case("mixed", mixed_model, mixed_guide, (torch.tensor([1.2, -0.3, 0.4]),))


# -- models alone, for the handler laws --------------------------------------------


def program_latent_chain():
    z0 = tracegraph.sample("z0", dist.Normal(0.0, 1.0))
    z1 = tracegraph.sample("z1", dist.Normal(z0, 1.0))
    return tracegraph.sample("z2", dist.Normal(z1, 1.0))


def program_plate():
    mu = tracegraph.sample("mu", dist.Normal(0.0, 1.0))
    with tracegraph.plate("data", 3):
        z = tracegraph.sample("z", dist.Normal(mu, 1.0))
        tracegraph.sample("x", dist.Normal(z, 0.5), obs=torch.tensor([0.1, -0.2, 0.3]))
    return z


def program_sequential_plate():
    prev = tracegraph.sample("init", dist.Normal(0.0, 1.0))
    for i in tracegraph.plate("steps", 3):
        prev = tracegraph.sample(f"h_{i}", dist.Normal(prev, 1.0))
        tracegraph.sample(f"y_{i}", dist.Normal(prev, 1.0), obs=torch.tensor(float(i)))
    return prev


def program_param():
    loc = tracegraph.param("loc", torch.tensor(0.3))
    scale = tracegraph.param("scale", torch.tensor(1.5), constraint=dist.constraints.positive)
    z = tracegraph.sample("z", dist.Normal(loc, scale))
    tracegraph.sample("x", dist.Normal(z, 1.0), obs=torch.tensor(1.0))
    return z


def program_observed():
    p = tracegraph.sample("p", dist.Beta(2.0, 2.0))
    with tracegraph.plate("flips", 4):
        tracegraph.sample("flip", dist.Bernoulli(p), obs=torch.tensor([1.0, 0.0, 1.0, 1.0]))
    tracegraph.deterministic("p2", p * p)
    tracegraph.factor("prefer_half", -((p - 0.5) ** 2))
    return p


def program_subsampled():
    mu = tracegraph.sample("mu", dist.Normal(0.0, 1.0))
    with tracegraph.plate("data", 20, subsample_size=5):
        tracegraph.sample("x", dist.Normal(mu, 1.0))
    return mu


# Each model with a latent site to condition/intervene on and its value.
PROGRAMS: dict[str, tuple[Callable[[], Any], str, torch.Tensor]] = {
    "program_latent_chain": (program_latent_chain, "z1", torch.tensor(2.0)),
    "plate": (program_plate, "z", torch.tensor([1.0, 2.0, 3.0])),
    "sequential_plate": (program_sequential_plate, "h_1", torch.tensor(-1.0)),
    "params": (program_param, "z", torch.tensor(0.7)),
    "observed": (program_observed, "p", torch.tensor(0.25)),
    "subsampled": (program_subsampled, "mu", torch.tensor(0.5)),
}


def _case_program(case: Case) -> Callable[[], Any]:
    return functools.partial(case.model, *case.args)


# The inference pairs' models join the handler laws' zoo.
PROGRAMS.update(
    {
        "case_markov": (
            _case_program(next(c for c in ZOO if c.name == "markov")),
            "z2",
            torch.tensor(1.0),
        ),
        "case_nested_plates": (
            _case_program(next(c for c in ZOO if c.name == "nested_plates")),
            "z",
            torch.ones(2, 2),
        ),
        "case_mixed": (_case_program(MIXED), "g", torch.tensor(1.0)),
    }
)
