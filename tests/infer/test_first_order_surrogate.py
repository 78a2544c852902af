"""``loss_and_grads`` differentiates a smaller first-order surrogate than
``differentiable_loss`` (the DiCE surrogate); both must give the same loss value
and the same gradient, for every estimator, model shape and baseline kind.

Each pair of calls uses fresh ELBOs of the same configuration and the same seed,
so both see the same draws and the same (initial) baseline state.  The
comparison is up to float32 rounding: the two graphs sum the same terms in a
different order (``rtol=1e-5, atol=1e-6`` on gradients of size ~1-10).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from baseline_state import restore_baselines, save_baselines
from enumeration import CONTROL_FLOW_ZOO, MIXED, ZOO, Case, guide_params
from test_tracegraph_elbo import baseline_config, with_baseline

import tracegraph
from tracegraph.infer import JitTraceGraph_ELBO, Trace_ELBO, TraceGraph_ELBO
from tracegraph.infer.elbo import ELBO
from tracegraph.infer.surrogate import FIRST_ORDER, SCORE_ONLY
from tracegraph.poutine import handlers
from tracegraph.poutine.sites import site_is_nonreparam


def _both(
    make: Callable[[], ELBO], case: Case, guide: Callable[..., Any] | None = None, seed: int = 0
) -> None:
    guide = case.guide if guide is None else guide
    params = guide_params(case.guide, *case.args)
    for _, p in tracegraph.get_param_store().named_parameters():
        p.grad = None  # also params that an earlier call created and used
    baselines = save_baselines()  # decaying averages live in the param store
    tracegraph.set_rng_seed(seed)
    loss = make().differentiable_loss(case.model, guide, *case.args)
    expected = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
    restore_baselines(baselines)
    tracegraph.set_rng_seed(seed)
    elbo = make()
    # The machinery under test: the first-order graph that keeps every term DiCE
    # has (the Rao-Blackwellized estimators drop one zero-mean term: tested below).
    elbo.first_order = FIRST_ORDER
    value = elbo.loss_and_grads(case.model, guide, *case.args)
    assert value == pytest.approx(float(loss.detach()), rel=1e-6, abs=1e-6)
    for (name, p), g in zip(params.items(), expected):
        got = torch.zeros_like(p) if p.grad is None else p.grad
        want = torch.zeros_like(p) if g is None else g
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6, msg=f"{name}: {got} vs {want}")


ESTIMATORS = {
    "trace": Trace_ELBO,
    "tracegraph": TraceGraph_ELBO,
    "jit": JitTraceGraph_ELBO,
}


# Python control flow on a latent cannot run batched: no vectorized particles there.
COMBINATIONS = [(c, p) for c in [*ZOO, MIXED] for p in ("one", "loop", "vectorized")] + [
    (c, p) for c in CONTROL_FLOW_ZOO for p in ("one", "loop")
]


@pytest.mark.parametrize(
    "case, particles", COMBINATIONS, ids=[f"{c.name}-{p}" for c, p in COMBINATIONS]
)
@pytest.mark.parametrize("name", ESTIMATORS)
def test_loss_and_grads_equals_differentiable_loss(case, particles, name):
    kwargs = {
        "one": {},
        "loop": {"num_particles": 3},
        "vectorized": {"num_particles": 3, "vectorize_particles": True},
    }[particles]
    for seed in range(3):
        _both(lambda: ESTIMATORS[name](**kwargs), case, seed=seed)


@pytest.mark.parametrize("kind", ["decaying", "nn", "value", "leave_one_out"])
@pytest.mark.parametrize("case", [c for c in ZOO if c.name in ("markov", "plate")], ids=repr)
@pytest.mark.parametrize("vectorize", [False, True], ids=["loop", "vectorized"])
def test_loss_and_grads_equals_differentiable_loss_with_baselines(kind, case, vectorize):
    guide = with_baseline(case.guide, baseline_config(kind))

    def make() -> ELBO:
        return TraceGraph_ELBO(num_particles=3, vectorize_particles=vectorize)

    for seed in range(3):
        _both(make, case, guide=guide, seed=seed)


def test_loss_and_grads_trains_learnable_baseline_like_differentiable_loss():
    case = {c.name: c for c in ZOO}["markov"]
    config = baseline_config("nn")
    net = config["nn_baseline"]
    guide = with_baseline(case.guide, config)
    guide_params(case.guide, *case.args)
    tracegraph.set_rng_seed(0)
    loss = TraceGraph_ELBO().differentiable_loss(case.model, guide, *case.args)
    expected = torch.autograd.grad(loss, list(net.parameters()))
    tracegraph.set_rng_seed(0)
    TraceGraph_ELBO().loss_and_grads(case.model, guide, *case.args)
    for p, g in zip(net.parameters(), expected):
        assert p.grad is not None and bool(g.abs().sum() > 0)
        torch.testing.assert_close(p.grad, g, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", ZOO, ids=repr)
@pytest.mark.parametrize("name", ESTIMATORS)
def test_step_drops_own_pathwise_gradient(case, name):
    # loss_and_grads leaves out grad log q_i(z_i) of each score site at its draw
    # (zero in expectation; Pyro's Trace_ELBO and TraceGraph_ELBO leave it out
    # too): its gradient is the full first-order one minus exactly that, on the
    # same draws.
    params = guide_params(case.guide, *case.args)
    assert ESTIMATORS[name]().first_order is SCORE_ONLY

    def grads(first_order: Any) -> list[torch.Tensor]:
        for _, p in tracegraph.get_param_store().named_parameters():
            p.grad = None
        tracegraph.set_rng_seed(3)
        elbo = ESTIMATORS[name]()
        elbo.first_order = first_order
        elbo.loss_and_grads(case.model, case.guide, *case.args)
        return [torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in params.values()]

    full, dropped = grads(FIRST_ORDER), grads(SCORE_ONLY)
    tracegraph.set_rng_seed(3)
    guide_trace = handlers.trace(case.guide).get_trace(*case.args)
    own = sum(
        (
            s["fn"].log_prob(s["value"]).sum()
            for s in guide_trace.nodes.values()
            if site_is_nonreparam(s)
        ),
        torch.zeros(()),
    )
    expected = torch.autograd.grad(own, list(params.values()), allow_unused=True)
    for f, d, e in zip(full, dropped, expected):
        torch.testing.assert_close(
            d, f - (torch.zeros_like(f) if e is None else e), rtol=1e-5, atol=1e-6
        )
