"""The compiled step of the Jit ELBOs (``tracegraph.infer.compiled``): the same
loss and gradients as the eager estimator on the same draws, guards that catch
every value-dependent path, a fallback that is the eager step, and the compiled
(inductor) replay equal to the recorded one.

Equality is exact where the operations are the same (the recorded graph replays
torch's own kernels, random ones included); the inductor build fuses arithmetic,
so it is held to a relative 1e-5 (float32 rounding of reordered sums).
"""

from __future__ import annotations

import pytest
import torch
from baseline_state import restore_baselines, save_baselines
from enumeration import guide_params

import tracegraph
import tracegraph.distributions as dist
from tracegraph.distributions import constraints
from tracegraph.infer import (
    SVI,
    JitTrace_ELBO,
    JitTraceGraph_ELBO,
    JitTraceMeanField_ELBO,
    Trace_ELBO,
    TraceGraph_ELBO,
    TraceMeanField_ELBO,
)
from tracegraph.infer.compiled import CompiledStepError, prepare
from tracegraph.optim import Adam

PAIRS = [
    (JitTraceGraph_ELBO, TraceGraph_ELBO),
    (JitTrace_ELBO, Trace_ELBO),
    (JitTraceMeanField_ELBO, TraceMeanField_ELBO),
]


def _p(name: str, init: list[float]) -> torch.Tensor:
    return tracegraph.param(name, torch.tensor(init), constraint=constraints.unit_interval)


@pytest.fixture(autouse=True, scope="module")
def _machinery_loaded() -> None:
    # Steps stay eager until the background thread has loaded make_fx and
    # inductor; these tests look at plans recorded within a few steps.
    assert prepare(wait=True, timeout=600)


# -- programs ------------------------------------------------------------------------

X = torch.tensor([1.0, -0.5, 2.0, 0.3])


def mixture_model(x: torch.Tensor) -> None:
    locs = tracegraph.sample("locs", dist.Normal(torch.zeros(2), 3.0).to_event(1))
    with tracegraph.plate("data", len(x)):
        z = tracegraph.sample("z", dist.Bernoulli(0.5))
        loc = locs[0] * (1 - z) + locs[1] * z
        tracegraph.sample("x", dist.Normal(loc, 1.0), obs=x)


def mixture_guide(x: torch.Tensor) -> None:
    m = tracegraph.param("m", torch.tensor([-1.0, 1.0]))
    q = _p("q", [0.3, 0.6, 0.5, 0.4])
    tracegraph.sample("locs", dist.Normal(m, 0.5).to_event(1))
    with tracegraph.plate("data", len(x)):
        tracegraph.sample(
            "z", dist.Bernoulli(q), infer={"baseline": {"use_decaying_avg_baseline": True}}
        )


def branch_model(x: torch.Tensor) -> None:
    b = tracegraph.sample("b", dist.Bernoulli(0.5))
    if b.item() == 1.0:
        w = tracegraph.sample("w", dist.Normal(2.0, 1.0))
    else:
        w = tracegraph.sample("w", dist.Normal(-2.0, 1.0))
    with tracegraph.plate("data", len(x)):
        tracegraph.sample("x", dist.Normal(w, 1.0), obs=x)


def branch_guide(x: torch.Tensor) -> None:
    b = tracegraph.sample("b", dist.Bernoulli(_p("qb", [0.4])[0]))
    loc = tracegraph.param("loc", torch.tensor(0.5))
    tracegraph.sample("w", dist.Normal(loc + b, 1.0))


PROGRAMS = {"mixture": (mixture_model, mixture_guide), "branch": (branch_model, branch_guide)}


def _grads() -> dict[str, torch.Tensor]:
    return {
        name: torch.zeros_like(p) if p.grad is None else p.grad.clone()
        for name, p in tracegraph.get_param_store()._params.items()
    }


def _zero() -> None:
    for p in tracegraph.get_param_store()._params.values():
        p.grad = None


def side_by_side(jit, eager, model, guide, steps, seed0=0):
    """The loss and gradient of both estimators at each of ``steps`` seeds."""
    out = []
    for seed in range(seed0, seed0 + steps):
        row = []
        averages = save_baselines()
        for elbo in (eager, jit):
            restore_baselines(averages)  # both start from the same averages
            _zero()
            tracegraph.set_rng_seed(seed)
            loss = elbo.loss_and_grads(model, guide, X)
            row.append((loss, _grads(), torch.rand(1)))
        out.append(row)
    return out


# -- equality with the eager estimator -----------------------------------------------


@pytest.mark.parametrize("program", PROGRAMS)
@pytest.mark.parametrize("jit_cls,eager_cls", PAIRS, ids=lambda c: c.__name__)
def test_compiled_step_equals_eager_on_same_draws(jit_cls, eager_cls, program):
    model, guide = PROGRAMS[program]
    guide_params(guide, X)
    jit = jit_cls(jit_options={"inductor": False})
    eager = eager_cls()
    rows = side_by_side(jit, eager, model, guide, steps=12)
    assert jit._plans, "no step was recorded"
    assert sum(p.replays for p in jit._plans) > 0, "no step was replayed"
    for (le, ge, re), (lj, gj, rj) in rows:
        # The same draws (the generator ends in the same state); the same values
        # up to the order of float32 operations (the eager estimator may track
        # provenance, which runs some sums another way).
        assert torch.equal(re, rj)
        assert lj == pytest.approx(le, rel=1e-6)
        for name in ge:
            torch.testing.assert_close(gj[name], ge[name], rtol=1e-6, atol=1e-7)


def test_compiled_step_branch_guards_record_one_plan_per_path():
    # b decides which prior w has: two paths, each a plan; a replay of the other
    # path fails its guard and the step runs eagerly (no wrong plan is ever used).
    guide_params(branch_guide, X)
    jit = JitTraceGraph_ELBO(jit_options={"inductor": False})
    for seed in range(30):
        tracegraph.set_rng_seed(seed)
        jit.loss_and_grads(branch_model, branch_guide, X)
        _zero()
    assert len(jit._plans) == 2
    assert all(len(p.expected) >= 1 for p in jit._plans)
    assert sorted(p.expected[0] for p in jit._plans) == [0.0, 1.0]


def test_compiled_step_guard_on_param_value():
    # Control flow on a param: the recorded value is a guard too.
    def model():
        a = tracegraph.param("a", torch.tensor(1.0))
        loc = 3.0 if a.item() > 0 else -3.0
        tracegraph.sample("x", dist.Normal(loc, 1.0), obs=torch.tensor(0.0))

    def guide():
        pass

    jit = JitTrace_ELBO(jit_options={"inductor": False})
    eager = Trace_ELBO()
    for _ in range(4):
        jit.loss_and_grads(model, guide)
    with torch.no_grad():
        tracegraph.get_param_store()._params["a"].fill_(-1.0)
    assert jit.loss_and_grads(model, guide) == pytest.approx(eager.loss(model, guide))


def test_compiled_step_python_state_caught_under_validation():
    # A path decided by Python state the graph cannot see: validation compares the
    # first replay with the eager step and says what happened.
    calls = [0]

    def model():
        calls[0] += 1
        loc = 3.0 if calls[0] % 2 else 1.0
        tracegraph.sample("x", dist.Normal(loc, 1.0), obs=torch.tensor(0.0))

    def guide():
        tracegraph.param("unused", torch.tensor(0.0))

    jit = JitTrace_ELBO(jit_options={"inductor": False})
    with pytest.raises(CompiledStepError, match="Python state"):
        for _ in range(4):
            jit.loss_and_grads(model, guide)


def test_compiled_step_changed_argument_shape_gets_its_own_plan():
    # A data tensor of another shape is another graph: the recorded one is not
    # replayed with it; the eager step runs and a plan for the new shape follows.
    guide_params(branch_guide, X)
    jit = JitTrace_ELBO(jit_options={"inductor": False})
    eager = Trace_ELBO()
    for _ in range(3):
        jit.loss_and_grads(branch_model, branch_guide, X)
    plans = list(jit._plans)
    y = torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5])
    for seed in range(6):
        tracegraph.set_rng_seed(seed)
        want = eager.loss(branch_model, branch_guide, y)
        tracegraph.set_rng_seed(seed)
        assert jit.loss_and_grads(branch_model, branch_guide, y) == pytest.approx(want, rel=1e-6)
    new = [p for p in jit._plans if all(p is not q for q in plans)]
    assert new and all(p.spec.metas[0][0] == (5,) for p in new)


def test_compiled_step_svi_updates_params_like_eager():
    res = []
    for cls in (TraceGraph_ELBO, JitTraceGraph_ELBO):
        tracegraph.clear_param_store()
        tracegraph.set_rng_seed(0)
        kwargs = {} if cls is TraceGraph_ELBO else {"jit_options": {"inductor": False}}
        svi = SVI(mixture_model, mixture_guide, Adam({"lr": 0.05}), cls(**kwargs))
        losses = [svi.step(X) for _ in range(25)]
        res.append(
            (losses, {k: v.detach().clone() for k, v in tracegraph.get_param_store().items()})
        )
    assert res[0][0] == res[1][0]
    for k in res[0][1]:
        assert torch.equal(res[0][1][k], res[1][1][k]), k


def test_compiled_step_state_bounded_over_many_steps():
    # No growth: one plan, one table, one average, whatever the number of steps.
    guide_params(mixture_guide, X)
    jit = JitTraceGraph_ELBO(jit_options={"inductor": False})
    sizes = []
    for step in range(200):
        jit.loss_and_grads(mixture_model, mixture_guide, X)
        _zero()
        if step in (50, 199):
            sizes.append(
                (
                    len(jit._plans),
                    sum(len(e.tables) for e in jit._deps_cache.values()),
                    len(tracegraph.get_param_store()._params),
                )
            )
    assert sizes[0] == sizes[1] == (1, 1, 3)


def test_compiled_step_not_used_for_module_outside_param_store():
    net = torch.nn.Linear(1, 1)

    def model():
        loc = net(torch.ones(1)).squeeze()
        tracegraph.sample("x", dist.Normal(loc, 1.0), obs=torch.tensor(0.5))

    def guide():
        tracegraph.param("unused", torch.tensor(0.0))

    jit = JitTrace_ELBO(jit_options={"inductor": False})
    for _ in range(3):
        jit.loss_and_grads(model, guide)
    assert jit._not_compilable is not None and "tracegraph.module" in jit._not_compilable
    assert net.weight.grad is not None  # the eager steps trained it


# -- the inductor build ------------------------------------------------------------------


@pytest.mark.slow
def test_compiled_step_inductor_equals_recorded_graph():
    # The background compilation: once done, replays use fused kernels with
    # torch's own random draws, equal to the eager step to float32 rounding.
    guide_params(mixture_guide, X)
    jit = JitTraceGraph_ELBO(jit_options={"compile_after": 0})
    eager = TraceGraph_ELBO()
    eager.loss(mixture_model, mixture_guide, X)  # settled (a first step sums plates)
    for seed in range(3):
        tracegraph.set_rng_seed(seed)
        jit.loss_and_grads(mixture_model, mixture_guide, X)
        _zero()
    assert jit._plans[0].wait_compiled(timeout=600)
    rows = side_by_side(jit, eager, mixture_model, mixture_guide, steps=6, seed0=10)
    for (le, ge, re), (lj, gj, rj) in rows:
        assert lj == pytest.approx(le, rel=1e-5)
        assert torch.equal(re, rj)
        for name in ge:
            torch.testing.assert_close(gj[name], ge[name], rtol=1e-5, atol=1e-6)
