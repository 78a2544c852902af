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
    from torch._dynamo.utils import counters

    bypassed = counters["inductor"]["fxgraph_cache_bypass"]
    assert jit._plans[0].wait_compiled(timeout=600)
    # Inductor's on-disk cache was consulted (hit or miss), not bypassed.
    assert counters["inductor"]["fxgraph_cache_bypass"] == bypassed
    rows = side_by_side(jit, eager, mixture_model, mixture_guide, steps=6, seed0=10)
    for (le, ge, re), (lj, gj, rj) in rows:
        assert lj == pytest.approx(le, rel=1e-5)
        assert torch.equal(re, rj)
        for name in ge:
            torch.testing.assert_close(gj[name], ge[name], rtol=1e-5, atol=1e-6)


# -- loading, checks and robustness --------------------------------------------------


def onehot_model(x: torch.Tensor) -> None:
    locs = tracegraph.sample("locs", dist.Normal(torch.zeros(3), 3.0).to_event(1))
    with tracegraph.plate("data", len(x)):
        z = tracegraph.sample("z", dist.Categorical(torch.full((3,), 1.0 / 3)))
        loc = (locs * torch.nn.functional.one_hot(z, 3)).sum(-1)
        tracegraph.sample("x", dist.Normal(loc, 1.0), obs=x)


def onehot_guide(x: torch.Tensor) -> None:
    probs = tracegraph.param(
        "probs", torch.tensor([[0.6, 0.35, 0.05]] * len(x)), constraint=constraints.simplex
    )
    tracegraph.sample("locs", dist.Normal(torch.zeros(3), 1.0).to_event(1))
    with tracegraph.plate("data", len(x)):
        tracegraph.sample("z", dist.Categorical(probs))


def test_compiled_step_one_hot_guards_on_its_check_not_on_min_max():
    # one_hot(z, 3) reads z's min and max only to check the range: draws whose
    # largest class differs replay the same plan (one guard, "in range").
    guide_params(onehot_guide, X)
    jit = JitTraceGraph_ELBO(jit_options={"inductor": False})
    eager = TraceGraph_ELBO()
    rows = side_by_side(jit, eager, onehot_model, onehot_guide, steps=30)
    # Class 2 has probability 0.05 per point: P(no point draws it) = 0.95**4 = 0.81,
    # so among 30 draws both kinds occur (all-or-none has probability < 1e-20).
    assert len(jit._plans) == 1 and jit._plans[0].expected == [True]
    assert jit._plans[0].replays >= 25
    for (le, ge, re), (lj, gj, rj) in rows:
        assert torch.equal(re, rj)
        assert lj == pytest.approx(le, rel=1e-6)
        for name in ge:
            torch.testing.assert_close(gj[name], ge[name], rtol=1e-6, atol=1e-7)


def test_compiled_step_one_hot_out_of_range_falls_back_to_eager_error():
    # A value the check refuses fails the guard: the eager step runs and raises.
    def model(k: torch.Tensor) -> None:
        z = tracegraph.sample("z", dist.Categorical(torch.ones(4) / 4))
        hot = torch.nn.functional.one_hot(z + k, 4)
        tracegraph.sample("x", dist.Normal(hot.float().sum(), 1.0), obs=torch.tensor(1.0))

    def guide(k: torch.Tensor) -> None:
        tracegraph.sample("z", dist.Categorical(_p("pz", [0.25, 0.25, 0.25, 0.25])))

    jit = JitTrace_ELBO(jit_options={"inductor": False})
    tracegraph.set_rng_seed(0)
    for _ in range(3):
        jit.loss_and_grads(model, guide, torch.tensor(0))
    assert len(jit._plans) == 1
    with pytest.raises(RuntimeError, match="smaller than num_classes"):
        for _ in range(40):  # z = 3 has probability 1/4 per step
            jit.loss_and_grads(model, guide, torch.tensor(1))


def test_compiled_step_stays_eager_until_machinery_loaded(monkeypatch):
    # Before the background thread has loaded make_fx and inductor, steps run
    # eagerly (no recording on the calling thread); the next step after records.
    from tracegraph.infer import compiled

    pending = compiled.threading.Event()
    monkeypatch.setattr(compiled, "_TOOLS_READY", pending)
    guide_params(mixture_guide, X)
    jit = JitTraceGraph_ELBO(jit_options={"inductor": False})
    eager = TraceGraph_ELBO()
    rows = side_by_side(jit, eager, mixture_model, mixture_guide, steps=4)
    assert jit._plans == []
    for (le, _, re), (lj, _, rj) in rows:
        assert torch.equal(re, rj) and lj == pytest.approx(le, rel=1e-6)
    pending.set()
    jit.loss_and_grads(mixture_model, mixture_guide, X)
    assert len(jit._plans) == 1


def test_compiled_step_no_recording_attempt_without_table_of_its_completeness():
    # The mixture's first step sums its shared plate, so later steps are tracked
    # completely: its table is not theirs, and no recording is tried with it.
    guide_params(mixture_guide, X)
    jit = JitTraceGraph_ELBO(jit_options={"inductor": False})
    for _ in range(3):
        jit.loss_and_grads(mixture_model, mixture_guide, X)
        _zero()
    assert jit._traces_tried == len(jit._plans) == 1


def test_compiled_step_raising_build_falls_back_to_graph_with_warning():
    # A compiled build that raises is dropped: the same step replays the graph
    # (same draws), and no second plan of the same path is recorded.
    guide_params(mixture_guide, X)
    jit = JitTraceGraph_ELBO(jit_options={"inductor": False})
    eager = TraceGraph_ELBO()
    side_by_side(jit, eager, mixture_model, mixture_guide, steps=3)
    plan = jit._plans[0]

    def broken(*flat: torch.Tensor) -> None:
        raise RuntimeError("a broken build")

    plan.compiled = broken
    replays = plan.replays
    with pytest.warns(tracegraph.errors.TracegraphWarning, match="a broken build"):
        rows = side_by_side(jit, eager, mixture_model, mixture_guide, steps=1, seed0=7)
    (le, _, re), (lj, _, rj) = rows[0]
    assert torch.equal(re, rj) and lj == pytest.approx(le, rel=1e-6)
    assert plan.compiled is None and plan.replays == replays + 1
    assert jit._plans == [plan]


def test_compiled_step_recorded_again_replaces_same_path():
    # A plan whose replays raise is recorded again: the new plan replaces it.
    guide_params(mixture_guide, X)
    jit = JitTraceGraph_ELBO(jit_options={"inductor": False})
    eager = TraceGraph_ELBO()
    side_by_side(jit, eager, mixture_model, mixture_guide, steps=3)
    old = jit._plans[0]

    def broken(*flat: torch.Tensor) -> None:
        raise RuntimeError("a broken graph")

    old.graph = broken  # type: ignore[assignment]
    rows = side_by_side(jit, eager, mixture_model, mixture_guide, steps=2, seed0=7)
    for (le, _, re), (lj, _, rj) in rows:
        assert torch.equal(re, rj) and lj == pytest.approx(le, rel=1e-6)
    assert len(jit._plans) == 1 and jit._plans[0] is not old
