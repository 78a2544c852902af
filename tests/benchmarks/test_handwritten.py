"""The hand-written steps of ``benchmarks/handwritten.py`` compute tracegraph's
estimator: with the same seed they draw the same values and give the loss and
gradients of ``TraceGraph_ELBO.loss_and_grads``.

Tolerance: both sides are float32 sums of the same terms in different orders
(and vectorized kernels where tracegraph runs one op per scalar site), so they
agree to a few ulps of the largest partial sum: ``rtol=1e-5`` with an ``atol`` of
1e-5 times the scale of the gradient (the gradient entries of the score-function
terms are sums of products of order-10 costs).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch.distributions import transform_to

import tracegraph
import tracegraph.distributions as dist
from tracegraph.infer import TraceGraph_ELBO

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from bench_models import MODEL_NAMES, make_models  # noqa: E402
from handwritten import HANDWRITTEN  # noqa: E402

SEEDS = (0, 1, 2)


def _ours(name: str, seeds: tuple[int, ...]) -> tuple[dict[str, torch.Tensor], list]:
    # Initial params (constrained) and, per seed, (loss, {name: grad}) of our
    # eager TraceGraph_ELBO.
    model, guide, args = make_models(tracegraph, dist)[name]
    elbo = TraceGraph_ELBO()
    # A first step settles the estimator (a plated score's first run may be
    # tracked incompletely; later runs are tracked completely).
    elbo.loss_and_grads(model, guide, *args)
    store = tracegraph.get_param_store()
    leaves = dict(store.named_parameters())
    initial = {n: store[n].detach().clone() for n in leaves}
    out = []
    for seed in seeds:
        for leaf in leaves.values():
            leaf.grad = None
        torch.manual_seed(seed)
        loss = elbo.loss_and_grads(model, guide, *args)
        out.append((loss, {n: leaf.grad.clone() for n, leaf in leaves.items()}))
    return initial, out


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_handwritten_step_equals_tracegraph_elbo_on_same_draws(name: str) -> None:
    tracegraph.enable_validation(False)
    initial, ours = _ours(name, SEEDS)
    _, _, args = make_models(tracegraph, dist)[name]
    step = HANDWRITTEN[name](*args)
    assert sorted(step.params) == sorted(initial)
    for seed, (loss, grads) in zip(SEEDS, ours):
        step.zero_grad()
        torch.manual_seed(seed)
        got = step.loss_and_grads()
        assert got == pytest.approx(loss, rel=1e-5, abs=1e-5)
        for param, want in grads.items():
            leaf = step.params[param]
            assert leaf.grad is not None, param
            scale = max(1.0, float(want.abs().max()))
            torch.testing.assert_close(leaf.grad, want, rtol=1e-5, atol=1e-5 * scale)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_handwritten_params_start_at_the_guides_inits(name: str) -> None:
    initial, _ = _ours(name, ())
    _, _, args = make_models(tracegraph, dist)[name]
    step = HANDWRITTEN[name](*args)
    store = tracegraph.get_param_store()
    for param, leaf in step.params.items():
        constrained = transform_to(store._constraints[param])(leaf)
        torch.testing.assert_close(constrained, initial[param], rtol=1e-6, atol=1e-7)
