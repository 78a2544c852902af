"""TraceGraph_ELBO, its baselines and JitTraceGraph_ELBO against exact references.

Unbiasedness: ``n`` independent gradient estimates (each the mean over a batch of
particles, or one particle where Python control flow forbids batching) must have
a mean within 4 standard errors (sample std / sqrt(n)) of the gradient of the
enumerated ELBO, per coordinate (:func:`enumeration.assert_unbiased`).  Seeds are
fixed, so every test is deterministic.  The control-flow zoo is where a
provenance that sees only data flow (Pyro's) returns a biased gradient: with
control-flow recording switched off, the estimates land 7 to 40 standard errors
from the exact gradient at these sample sizes (``cf_inplace`` instead needs
provenance that survives mutation; its model is ``cf_item``'s, written with a
buffer).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
from baseline_state import restore_baselines
from enumeration import (
    CONTROL_FLOW_ZOO,
    MIXED,
    ZOO,
    Case,
    assert_unbiased,
    elbo_by_hand,
    exact_elbo,
    exact_grads,
    exact_posterior_guide,
    grad_estimates,
    guide_params,
    log_evidence,
)

import tracegraph
import tracegraph.distributions as dist
from tracegraph.distributions import constraints
from tracegraph.errors import SiteError
from tracegraph.infer import JitTraceGraph_ELBO, Trace_ELBO, TraceGraph_ELBO, TrackNonReparam
from tracegraph.infer.surrogate import FIRST_ORDER
from tracegraph.ops.provenance import get_provenance
from tracegraph.params import get_param_store
from tracegraph.poutine import handlers


class ScalarNet(torch.nn.Module):
    """A linear baseline with a scalar output (weights fixed, far from the optimum)."""

    def __init__(self, bias: float = -3.0) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(1, 1)
        with torch.no_grad():
            self.lin.weight.fill_(0.5)
            self.lin.bias.fill_(bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x).squeeze(-1)


def with_baseline(guide: Callable[..., Any], config: dict[str, Any]) -> Callable[..., Any]:
    """``guide`` with ``infer={"baseline": config}`` on every latent sample site."""

    def config_fn(msg: Any) -> dict[str, Any]:
        if msg["type"] == "sample" and not msg["is_observed"]:
            return {"baseline": dict(config)}
        return {}

    return handlers.infer_config(guide, config_fn=config_fn)


def baseline_config(kind: str) -> dict[str, Any]:
    if kind == "decaying":
        return {"use_decaying_avg_baseline": True, "baseline_beta": 0.9}
    if kind == "nn":
        return {"nn_baseline": ScalarNet(), "nn_baseline_input": torch.ones(1)}
    if kind == "value":
        return {"baseline_value": torch.tensor(-3.0)}
    if kind == "leave_one_out":
        return {"use_leave_one_out": True}
    raise ValueError(kind)


def _check_unbiased(case: Case, elbo: Any, n: int, guide: Callable[..., Any] | None = None) -> None:
    guide = case.guide if guide is None else guide
    params = list(guide_params(case.guide, *case.args).values())
    exact = exact_grads(case.model, case.guide, params, *case.args)
    samples = grad_estimates(
        lambda: elbo.differentiable_loss(case.model, guide, *case.args), params, n
    )
    assert_unbiased(samples, exact)


CASES = {c.name: c for c in ZOO + CONTROL_FLOW_ZOO}


# -- unbiasedness: no baseline ---------------------------------------------------------


@pytest.mark.parametrize("case", ZOO, ids=repr)
@pytest.mark.parametrize("estimator", [TraceGraph_ELBO, JitTraceGraph_ELBO])
def test_tracegraph_elbo_vectorized_gradient_matches_enumeration(case, estimator):
    _check_unbiased(case, estimator(num_particles=100, vectorize_particles=True), n=40)


@pytest.mark.parametrize("case", CONTROL_FLOW_ZOO, ids=repr)
def test_tracegraph_elbo_control_flow_gradient_matches_enumeration(case):
    # Pyro's TraceGraph_ELBO drops the score terms that reach a cost only through
    # Python control flow (or an in-place write), and is biased on every case.
    with tracegraph.validation_enabled(False):
        _check_unbiased(case, TraceGraph_ELBO(), n=500)


def _cf_reparam_model():
    tracegraph.sample("a", dist.Bernoulli(0.5))
    w = tracegraph.sample("w", dist.Normal(0.0, 1.0))
    tracegraph.sample("x", dist.Normal(w, 1.0), obs=torch.tensor(2.0))


def _cf_reparam_guide():
    qa = tracegraph.param("qa", torch.tensor(0.3), constraint=constraints.unit_interval)
    m = tracegraph.param("m", torch.tensor([-1.0, 1.5]))
    a = tracegraph.sample("a", dist.Bernoulli(qa))
    # A reparameterized site whose distribution the guide picks with .item().
    tracegraph.sample("w", dist.Normal(m[1] if a.item() else m[0], 1.0))


def _cf_reparam_exact_elbo() -> torch.Tensor:
    # Per branch, with w ~ N(m, 1):  E[log N(w; 0, 1)] = -log(2 pi)/2 - (m^2 + 1)/2,
    # E[log N(2; w, 1)] = -log(2 pi)/2 - ((2 - m)^2 + 1)/2, entropy log(2 pi e)/2.
    qa, m = tracegraph.param("qa"), tracegraph.param("m")
    half_log_2pi = 0.5 * math.log(2 * math.pi)
    f = -2 * half_log_2pi - 0.5 * (m**2 + 1) - 0.5 * ((2.0 - m) ** 2 + 1) + half_log_2pi + 0.5
    q = torch.stack([1 - qa, qa])
    return (q * (math.log(0.5) - q.log() + f)).sum()


def test_tracegraph_elbo_guide_control_flow_over_reparameterized_site_matches_analytic():
    # The score of "a" must reach the costs computed from "w" (log p(w), log p(x|w)):
    # "w"'s distribution was chosen by "a", although no tensor flows from a to w.
    params = list(guide_params(_cf_reparam_guide).values())
    exact = torch.cat(
        [g.reshape(-1) for g in torch.autograd.grad(-_cf_reparam_exact_elbo(), params)]
    )
    elbo = TraceGraph_ELBO()
    with tracegraph.validation_enabled(False):
        samples = grad_estimates(
            lambda: elbo.differentiable_loss(_cf_reparam_model, _cf_reparam_guide), params, 400
        )
    assert_unbiased(samples, exact)


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(c, marks=[] if c.name in ("cf_bool", "cf_branch") else [pytest.mark.slow])
        for c in CONTROL_FLOW_ZOO
    ],
    ids=repr,
)
def test_jit_tracegraph_elbo_control_flow_gradient_matches_enumeration(case):
    # cf_bool: two structures (a site exists on one branch only); cf_branch: one
    # structure whose data flow depends on the branch taken.
    with tracegraph.validation_enabled(False):
        _check_unbiased(case, JitTraceGraph_ELBO(), n=500)


@pytest.mark.slow
@pytest.mark.parametrize("case", ZOO, ids=repr)
def test_tracegraph_elbo_single_particle_gradient_matches_enumeration(case):
    with tracegraph.validation_enabled(False):
        _check_unbiased(case, TraceGraph_ELBO(), n=2000)


# -- unbiasedness: baselines ---------------------------------------------------------------


@pytest.mark.parametrize("case", [CASES["plate"], CASES["markov"]], ids=repr)
@pytest.mark.parametrize("kind", ["decaying", "nn", "value"])
def test_tracegraph_elbo_baseline_gradient_matches_enumeration(case, kind):
    guide = with_baseline(case.guide, baseline_config(kind))
    elbo = TraceGraph_ELBO(num_particles=100, vectorize_particles=True)
    _check_unbiased(case, elbo, n=40, guide=guide)


@pytest.mark.slow
@pytest.mark.parametrize("case", [CASES["sequential"], CASES["nested_plates"]], ids=repr)
@pytest.mark.parametrize("kind", ["decaying", "nn", "value"])
def test_tracegraph_elbo_baseline_single_particle_gradient_matches_enumeration(case, kind):
    guide = with_baseline(case.guide, baseline_config(kind))
    with tracegraph.validation_enabled(False):
        _check_unbiased(case, TraceGraph_ELBO(), n=2000, guide=guide)


@pytest.mark.parametrize(
    "case,vectorize,n",
    [
        pytest.param(CASES["markov"], False, 300, marks=pytest.mark.slow),
        (CASES["markov"], True, 250),
        (CASES["plate"], True, 250),
        pytest.param(CASES["plate"], False, 500, marks=pytest.mark.slow),
        pytest.param(CASES["nested_plates"], True, 1000, marks=pytest.mark.slow),
    ],
    ids=["markov-loop", "markov-vectorized", "plate-vectorized", "plate-loop", "nested-vectorized"],
)
def test_tracegraph_elbo_leave_one_out_gradient_matches_enumeration(case, vectorize, n):
    with tracegraph.validation_enabled(False):
        elbo = TraceGraph_ELBO(num_particles=4, vectorize_particles=vectorize, leave_one_out=True)
        _check_unbiased(case, elbo, n=n)


@pytest.mark.parametrize("vectorize", [False, True], ids=["loop", "vectorized"])
def test_tracegraph_elbo_site_leave_one_out_gradient_matches_enumeration(vectorize):
    case = CASES["plate"]
    guide = with_baseline(case.guide, baseline_config("leave_one_out"))
    with tracegraph.validation_enabled(False):
        elbo = TraceGraph_ELBO(num_particles=4, vectorize_particles=vectorize)
        _check_unbiased(case, elbo, n=150 if not vectorize else 250, guide=guide)


def test_tracegraph_elbo_rao_blackwellization_reduces_variance():
    # Independent sites: each score multiplies only its own site's costs, so the
    # other sites' noise is gone (measured tr(Cov) ratio about 0.2; 0.5 is loose).
    case = CASES["independent"]
    params = list(guide_params(case.guide).values())
    variances = []
    for elbo in (
        Trace_ELBO(num_particles=50, vectorize_particles=True),
        TraceGraph_ELBO(num_particles=50, vectorize_particles=True),
    ):

        def loss(elbo: Any = elbo) -> torch.Tensor:
            return elbo.differentiable_loss(case.model, case.guide)

        variances.append(float(grad_estimates(loss, params, 40).var(0).sum()))
    assert variances[1] < 0.5 * variances[0]


def test_tracegraph_elbo_single_particle_gradient_is_rao_blackwellized():
    # The gradient of one particle, rebuilt by hand from the same draw: each site's
    # score times the costs of that site and of its own observation only.
    case = CASES["independent"]
    params = guide_params(case.guide)
    tracegraph.set_rng_seed(11)
    loss = TraceGraph_ELBO().differentiable_loss(case.model, case.guide)
    got = torch.autograd.grad(loss, list(params.values()))
    tracegraph.set_rng_seed(11)
    guide_trace = handlers.trace(case.guide).get_trace()
    model_trace = handlers.trace(handlers.replay(case.model, trace=guide_trace)).get_trace()
    surrogate = torch.zeros(())
    for z, x in (("z1", "x1"), ("z2", "x2"), ("z3", "x3")):
        log_q = guide_trace.nodes[z]["fn"].log_prob(guide_trace.nodes[z]["value"])
        cost = (
            model_trace.nodes[z]["fn"].log_prob(model_trace.nodes[z]["value"])
            + model_trace.nodes[x]["fn"].log_prob(model_trace.nodes[x]["value"])
            - log_q
        )
        surrogate = surrogate + cost + log_q * cost.detach()
    expected = torch.autograd.grad(-surrogate, list(params.values()))
    for name, g, e in zip(params, got, expected):
        assert torch.allclose(g, e, atol=1e-6), name


# -- second derivatives ------------------------------------------------------------------


def _one_bernoulli_model():
    z = tracegraph.sample("z", dist.Bernoulli(0.3))
    tracegraph.sample("x", dist.Normal(3.0 * z, 1.0), obs=torch.tensor(2.0))


def _one_bernoulli_guide():
    p = tracegraph.param("p", torch.tensor(0.6), constraint=constraints.unit_interval)
    tracegraph.sample("z", dist.Bernoulli(p))


@pytest.mark.parametrize(
    "make",
    [
        lambda: (TraceGraph_ELBO(num_particles=100, vectorize_particles=True), None),
        lambda: (TraceGraph_ELBO(num_particles=100, vectorize_particles=True), "decaying"),
        lambda: (
            TraceGraph_ELBO(num_particles=4, vectorize_particles=True, leave_one_out=True),
            None,
        ),
        lambda: (JitTraceGraph_ELBO(num_particles=100, vectorize_particles=True), None),
    ],
    ids=["plain", "decaying", "leave_one_out", "jit"],
)
def test_tracegraph_elbo_second_derivative_matches_enumeration(make):
    elbo, kind = make()
    guide = (
        _one_bernoulli_guide
        if kind is None
        else with_baseline(_one_bernoulli_guide, baseline_config(kind))
    )
    (u,) = guide_params(_one_bernoulli_guide).values()
    (g_exact,) = torch.autograd.grad(
        -exact_elbo(_one_bernoulli_model, _one_bernoulli_guide), [u], create_graph=True
    )
    (h_exact,) = torch.autograd.grad(g_exact, [u])
    n = 40 if elbo.num_particles > 4 else 250
    rows = []
    for _ in range(n):
        loss = elbo.differentiable_loss(_one_bernoulli_model, guide)
        (g,) = torch.autograd.grad(loss, [u], create_graph=True)
        (h,) = torch.autograd.grad(g, [u])
        rows.append(torch.stack([g.detach(), h]))
    assert_unbiased(torch.stack(rows).double(), torch.stack([g_exact.detach(), h_exact]))


def test_tracegraph_elbo_create_graph_leaves_first_derivative_unchanged():
    (u,) = guide_params(_one_bernoulli_guide).values()
    elbo = TraceGraph_ELBO(num_particles=10, vectorize_particles=True, max_plate_nesting=0)
    tracegraph.set_rng_seed(3)
    (plain,) = torch.autograd.grad(
        elbo.differentiable_loss(_one_bernoulli_model, _one_bernoulli_guide), [u]
    )
    tracegraph.set_rng_seed(3)
    loss = elbo.differentiable_loss(_one_bernoulli_model, _one_bernoulli_guide)
    (graphed,) = torch.autograd.grad(loss, [u], create_graph=True)
    assert torch.equal(graphed.detach(), plain)


# -- values: the loss is -ELBO for every estimator, the three entry points agree --------------

# name -> (estimator factory, baseline kind or None)
ESTIMATORS = {
    "tracegraph": (lambda: TraceGraph_ELBO(), None),
    "tracegraph-loop3": (lambda: TraceGraph_ELBO(num_particles=3), None),
    "tracegraph-vectorized": (
        lambda: TraceGraph_ELBO(num_particles=4, vectorize_particles=True, max_plate_nesting=1),
        None,
    ),
    "decaying": (lambda: TraceGraph_ELBO(num_particles=2), "decaying"),
    "decaying-vectorized": (
        lambda: TraceGraph_ELBO(num_particles=4, vectorize_particles=True, max_plate_nesting=1),
        "decaying",
    ),
    "nn": (lambda: TraceGraph_ELBO(), "nn"),
    "value": (lambda: TraceGraph_ELBO(), "value"),
    "leave_one_out-loop": (lambda: TraceGraph_ELBO(num_particles=4, leave_one_out=True), None),
    "leave_one_out-vectorized": (
        lambda: TraceGraph_ELBO(
            num_particles=4, vectorize_particles=True, max_plate_nesting=1, leave_one_out=True
        ),
        None,
    ),
    "jit": (lambda: JitTraceGraph_ELBO(num_particles=2), None),
    "jit-vectorized": (
        lambda: JitTraceGraph_ELBO(num_particles=4, vectorize_particles=True, max_plate_nesting=1),
        None,
    ),
}


def _prepared(name: str) -> tuple[Any, Callable[..., Any]]:
    """A fresh estimator, warmed up by one step (Jit learns the structure, the
    decaying average gets a state), and the guide to use with it."""
    make, kind = ESTIMATORS[name]
    elbo = make()
    guide = MIXED.guide if kind is None else with_baseline(MIXED.guide, baseline_config(kind))
    restore_baselines({})  # the averages live in the param store: start from none
    tracegraph.set_rng_seed(100)
    elbo.differentiable_loss(MIXED.model, guide, *MIXED.args)
    return elbo, guide


@pytest.mark.parametrize("name", ESTIMATORS)
def test_tracegraph_elbo_differentiable_loss_value_is_negative_elbo(name):
    elbo, guide = _prepared(name)
    tracegraph.set_rng_seed(7)
    loss = elbo.differentiable_loss(MIXED.model, guide, *MIXED.args)
    tracegraph.set_rng_seed(7)
    expected = elbo_by_hand(
        MIXED.model,
        MIXED.guide,
        MIXED.args,
        elbo.num_particles,
        elbo.vectorize_particles,
        max_plate_nesting=1,
    )
    # Baseline terms have value exactly 0: only the ELBO is left.
    assert float(loss.detach()) == pytest.approx(-expected, rel=1e-5, abs=1e-5)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_tracegraph_elbo_loss_equals_differentiable_loss_value(name):
    elbo, guide = _prepared(name)
    tracegraph.set_rng_seed(1)
    value = float(elbo.differentiable_loss(MIXED.model, guide, *MIXED.args).detach())
    elbo, guide = _prepared(name)
    tracegraph.set_rng_seed(1)
    loss = elbo.loss(MIXED.model, guide, *MIXED.args)
    assert isinstance(loss, float)
    assert loss == pytest.approx(value, rel=1e-6, abs=1e-6)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_tracegraph_elbo_loss_and_grads_match_autograd_of_differentiable_loss(name):
    params = guide_params(MIXED.guide, *MIXED.args)
    elbo, guide = _prepared(name)
    tracegraph.set_rng_seed(2)
    loss = elbo.differentiable_loss(MIXED.model, guide, *MIXED.args)
    expected = torch.autograd.grad(loss, list(params.values()), retain_graph=True)
    elbo, guide = _prepared(name)  # the same state again (decaying average)
    # With every term DiCE has (the step itself drops one of zero mean: see
    # test_first_order_surrogate.py).
    elbo.first_order = FIRST_ORDER
    tracegraph.set_rng_seed(2)
    value = elbo.loss_and_grads(MIXED.model, guide, *MIXED.args)
    assert value == pytest.approx(float(loss.detach()), rel=1e-6, abs=1e-6)
    for (pname, p), g in zip(params.items(), expected):
        assert p.grad is not None, pname
        assert torch.allclose(p.grad, g, atol=1e-6), pname


@pytest.mark.parametrize("case", [CASES["independent"], CASES["markov"]], ids=repr)
@pytest.mark.parametrize("estimator", [TraceGraph_ELBO, JitTraceGraph_ELBO])
def test_tracegraph_elbo_exact_posterior_guide_gives_log_evidence(case, estimator):
    guide = exact_posterior_guide(case.model)
    evidence = float(log_evidence(case.model).detach())
    elbo = estimator()
    for _ in range(4):
        assert -elbo.loss(case.model, guide) == pytest.approx(evidence, abs=1e-5)


def test_tracegraph_elbo_beta_bernoulli_posterior_guide_gives_analytic_evidence():
    data = torch.tensor([1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0])
    evidence = math.lgamma(7) + math.lgamma(5) - math.lgamma(12)  # log B(7, 5) - log B(1, 1)

    def model(data):
        p = tracegraph.sample("p", dist.Beta(1.0, 1.0))
        with tracegraph.plate("data", len(data)):
            tracegraph.sample("obs", dist.Bernoulli(p), obs=data)

    def guide(data):
        tracegraph.sample("p", dist.Beta(7.0, 5.0))

    elbo = TraceGraph_ELBO(num_particles=20, vectorize_particles=True)
    for _ in range(3):
        assert -elbo.loss(model, guide, data) == pytest.approx(evidence, abs=2e-4)


# -- JitTraceGraph_ELBO ---------------------------------------------------------------------


@pytest.mark.parametrize("vectorize", [False, True], ids=["loop", "vectorized"])
def test_jit_tracegraph_elbo_equals_eager_after_warmup(vectorize):
    params = guide_params(MIXED.guide, *MIXED.args)
    kwargs = {"num_particles": 3, "vectorize_particles": vectorize, "max_plate_nesting": 1}
    jit = JitTraceGraph_ELBO(**kwargs)
    jit.differentiable_loss(MIXED.model, MIXED.guide, *MIXED.args)
    eager = TraceGraph_ELBO(**kwargs)
    # Both settled: a first step that lacks tags sums its shared plates.
    eager.differentiable_loss(MIXED.model, MIXED.guide, *MIXED.args)
    results = []
    for elbo in (eager, jit):
        tracegraph.set_rng_seed(5)
        loss = elbo.differentiable_loss(MIXED.model, MIXED.guide, *MIXED.args)
        results.append((loss.detach(), torch.autograd.grad(loss, list(params.values()))))
    assert torch.equal(results[0][0], results[1][0])
    for g_eager, g_jit in zip(results[0][1], results[1][1]):
        assert torch.allclose(g_eager, g_jit, atol=1e-6)


# -- baseline configuration errors --------------------------------------------------------

BAD_CONFIGS = {
    "unknown key": ({"use_decaying_avg_baselines": True}, "unknown baseline option"),
    "nn and value": (
        {"nn_baseline": ScalarNet(), "nn_baseline_input": torch.ones(1), "baseline_value": 0.0},
        "either nn_baseline or baseline_value",
    ),
    "leave-one-out and decaying": (
        {"use_leave_one_out": True, "use_decaying_avg_baseline": True},
        "leave-one-out baseline does not combine",
    ),
    "nn without input": ({"nn_baseline": ScalarNet()}, "nn_baseline_input"),
    "nn not callable": ({"nn_baseline": 3.0, "nn_baseline_input": torch.ones(1)}, "callable"),
    "beta negative": ({"use_decaying_avg_baseline": True, "baseline_beta": -0.1}, r"\[0, 1\]"),
    "beta above 1": ({"use_decaying_avg_baseline": True, "baseline_beta": 1.5}, r"\[0, 1\]"),
    "not a dict": (0.9, "must be a dict"),
}

# Configurations Pyro accepts and so must we: options without effect alone, a
# callable that is not a module, beta at the end of its range, and the decaying
# average added to a learned or given baseline.
ACCEPTED_CONFIGS = {
    "beta without decaying": {"baseline_beta": 0.9},
    "input without nn": {"nn_baseline_input": torch.ones(1)},
    "nn a plain callable": {"nn_baseline": lambda x: x.sum(), "nn_baseline_input": torch.ones(1)},
    "beta is 1": {"use_decaying_avg_baseline": True, "baseline_beta": 1.0},
    "decaying and value": {"use_decaying_avg_baseline": True, "baseline_value": torch.tensor(0.5)},
    "decaying and nn": {
        "use_decaying_avg_baseline": True,
        "nn_baseline": ScalarNet(),
        "nn_baseline_input": torch.ones(1),
    },
}


@pytest.mark.parametrize("accepted", ACCEPTED_CONFIGS, ids=str)
def test_tracegraph_elbo_pyro_accepted_baseline_config_runs(accepted):
    config = ACCEPTED_CONFIGS[accepted]
    guide = with_baseline(_one_bernoulli_guide, config)
    elbo = TraceGraph_ELBO()
    for _ in range(2):
        loss = elbo.differentiable_loss(_one_bernoulli_model, guide)
        assert torch.isfinite(loss)


def test_tracegraph_elbo_decaying_average_adds_to_baseline_value():
    # As in Pyro: with both, the baseline is the average plus the value.  After one
    # step the average is (1 - beta) * d1; the second step's gradient with value v
    # must equal the gradient of a plain value baseline v + (1 - beta) * d1.
    (p,) = guide_params(_one_bernoulli_guide).values()
    both = with_baseline(
        _one_bernoulli_guide,
        {"use_decaying_avg_baseline": True, "baseline_beta": 0.5, "baseline_value": 0.25},
    )
    elbo = TraceGraph_ELBO()
    tracegraph.set_rng_seed(1)
    first = elbo.differentiable_loss(_one_bernoulli_model, both)
    d1 = float(get_param_store()["__baseline_avg_downstream_cost_z"].detach().reshape(()))
    (g_first,) = torch.autograd.grad(first, [p])
    tracegraph.set_rng_seed(2)
    (g_both,) = torch.autograd.grad(elbo.differentiable_loss(_one_bernoulli_model, both), [p])
    plain = with_baseline(_one_bernoulli_guide, {"baseline_value": 0.25 + d1})
    tracegraph.set_rng_seed(2)
    (g_plain,) = torch.autograd.grad(
        TraceGraph_ELBO().differentiable_loss(_one_bernoulli_model, plain), [p]
    )
    assert d1 != 0.0 and torch.isfinite(g_first)
    torch.testing.assert_close(g_both, g_plain)


@pytest.mark.parametrize("reparameterized", [False, True], ids=["bernoulli", "normal"])
@pytest.mark.parametrize("bad", BAD_CONFIGS, ids=str)
def test_tracegraph_elbo_bad_baseline_config_raises_naming_site(bad, reparameterized):
    config, message = BAD_CONFIGS[bad]
    fn = dist.Normal(0.0, 1.0) if reparameterized else dist.Bernoulli(0.5)

    def model():
        tracegraph.sample("my_site", fn)

    def guide():
        tracegraph.sample("my_site", fn, infer={"baseline": config})

    with pytest.raises(SiteError, match="my_site") as info:
        TraceGraph_ELBO().differentiable_loss(model, guide)
    assert info.match(message)


def test_tracegraph_elbo_leave_one_out_needs_particles():
    with pytest.raises(ValueError, match="num_particles"):
        TraceGraph_ELBO(leave_one_out=True)
    guide = with_baseline(_one_bernoulli_guide, {"use_leave_one_out": True})
    with pytest.raises(SiteError, match="'z'.*num_particles"):
        TraceGraph_ELBO().differentiable_loss(_one_bernoulli_model, guide)


def test_tracegraph_elbo_per_element_baseline_value_accepted():
    # A baseline per plate element, as a tensor (a common case).
    case = CASES["plate"]
    per_element = {"baseline": {"baseline_value": torch.tensor([-1.0, -2.0, -3.0])}}
    guide = handlers.infer_config(
        case.guide, config_fn=lambda msg: per_element if msg["name"] == "z" else {}
    )
    tracegraph.set_rng_seed(4)
    with_b = TraceGraph_ELBO().differentiable_loss(case.model, guide, *case.args)
    tracegraph.set_rng_seed(4)
    without = TraceGraph_ELBO().differentiable_loss(case.model, case.guide, *case.args)
    assert float(with_b.detach()) == pytest.approx(float(without.detach()))


def test_tracegraph_elbo_per_element_baseline_value_is_unbiased():
    case = CASES["plate"]
    per_element = {"baseline": {"baseline_value": torch.tensor([-1.0, -2.0, -3.0])}}
    guide = handlers.infer_config(
        case.guide, config_fn=lambda msg: per_element if msg["name"] == "z" else {}
    )
    _check_unbiased(
        case, TraceGraph_ELBO(num_particles=100, vectorize_particles=True), n=40, guide=guide
    )


def test_tracegraph_elbo_baseline_with_extra_elements_raises_naming_site():
    # A per-element baseline on a site outside the plate: more elements than costs.
    case = CASES["plate"]
    per_element = {"baseline": {"baseline_value": torch.tensor([-1.0, -2.0, -3.0])}}
    guide = handlers.infer_config(
        case.guide, config_fn=lambda msg: per_element if msg["name"] == "g" else {}
    )
    with pytest.raises(SiteError, match="'g'.*shape"):
        TraceGraph_ELBO().differentiable_loss(case.model, guide, *case.args)


def test_tracegraph_elbo_size_one_nn_baseline_accepted_on_scalar_site():
    # nn.Linear(k, 1) returns shape (1,); Pyro subtracts it from a scalar
    # downstream cost by broadcasting, so ported guides rely on it.
    net = torch.nn.Linear(1, 1)
    guide = with_baseline(
        _one_bernoulli_guide, {"nn_baseline": net, "nn_baseline_input": torch.ones(1)}
    )
    loss = TraceGraph_ELBO().differentiable_loss(_one_bernoulli_model, guide)
    (g,) = torch.autograd.grad(loss, [net.bias])
    assert float(g) != 0.0


def test_tracegraph_elbo_learnable_baseline_gets_squared_error_gradient():
    # loss += (d - b)**2 - its value: the gradient w.r.t. b is -2 (d - b), where d
    # is the downstream cost of "z" (the whole ELBO of this one-site model).
    b = torch.tensor(-1.5, requires_grad=True)
    guide = with_baseline(_one_bernoulli_guide, {"baseline_value": b})
    tracegraph.set_rng_seed(9)
    loss = TraceGraph_ELBO().differentiable_loss(_one_bernoulli_model, guide)
    (g,) = torch.autograd.grad(loss, [b])
    tracegraph.set_rng_seed(9)
    d = elbo_by_hand(_one_bernoulli_model, _one_bernoulli_guide, ())
    assert float(g) == pytest.approx(-2.0 * (d - float(b.detach())), rel=1e-5)
    tracegraph.set_rng_seed(9)
    plain = TraceGraph_ELBO().differentiable_loss(_one_bernoulli_model, _one_bernoulli_guide)
    assert float(loss.detach()) == float(plain.detach())  # the value is untouched


def test_tracegraph_elbo_nn_baseline_gets_gradient():
    net = ScalarNet()
    guide = with_baseline(
        _one_bernoulli_guide, {"nn_baseline": net, "nn_baseline_input": torch.ones(1)}
    )
    loss = TraceGraph_ELBO().differentiable_loss(_one_bernoulli_model, guide)
    grads = torch.autograd.grad(loss, list(net.parameters()))
    assert all(float(g.abs().sum()) > 0 for g in grads)


# -- the decaying average ------------------------------------------------------------------


def test_decaying_average_baseline_is_moving_average_of_past_costs():
    # Guide Bernoulli(p), p = sigmoid(u): d log q / du = z - p and the cost of the
    # only site is c = log p(z, x) - log q(z), so the loss's gradient is
    # (z - p) (1 - c + b) with b the average *before* this step: 0, then (1 - beta) c1.
    beta = 0.5
    guide = with_baseline(
        _one_bernoulli_guide, {"use_decaying_avg_baseline": True, "baseline_beta": beta}
    )
    (u,) = guide_params(_one_bernoulli_guide).values()
    p = float(torch.sigmoid(u.detach()))
    elbo = TraceGraph_ELBO()
    b = 0.0
    for seed in (1, 2, 3):
        tracegraph.set_rng_seed(seed)
        (g,) = torch.autograd.grad(elbo.differentiable_loss(_one_bernoulli_model, guide), [u])
        tracegraph.set_rng_seed(seed)
        z = float(handlers.trace(_one_bernoulli_guide).get_trace().nodes["z"]["value"].detach())
        tracegraph.set_rng_seed(seed)
        c = elbo_by_hand(_one_bernoulli_model, _one_bernoulli_guide, ())
        assert float(g) == pytest.approx((z - p) * (1.0 - c + b), rel=1e-5, abs=1e-6)
        b = beta * b + (1.0 - beta) * c


def test_decaying_average_baseline_creates_no_optimizer(monkeypatch):
    created = []
    original = torch.optim.Optimizer.__init__

    def counting_init(self, *args, **kwargs):
        created.append(type(self).__name__)
        original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Optimizer, "__init__", counting_init)
    case = CASES["plate"]
    guide = with_baseline(case.guide, baseline_config("decaying"))
    params_before = set(tracegraph.get_param_store().keys())
    elbo = TraceGraph_ELBO()
    for _ in range(5):
        elbo.loss_and_grads(case.model, guide, *case.args)
    assert created == []
    # The guide's params and, as in Pyro, the averages (stored, never optimized).
    new = set(tracegraph.get_param_store().keys()) - params_before
    assert {n for n in new if not n.startswith("__baseline_avg_")} == {"pg", "qa", "qb"}
    assert {n for n in new if n.startswith("__baseline_avg_downstream_cost_")}


def test_decaying_average_baseline_survives_plate_size_change():
    # Minibatches of different sizes in a full-size plate change the shape of the
    # site's cost between steps; the average must not crash on the old shape.
    def model(data):
        with tracegraph.plate("data", len(data)):
            z = tracegraph.sample("z", dist.Bernoulli(0.5))
            tracegraph.sample("x", dist.Normal(z, 1.0), obs=data)

    def guide(data):
        p = tracegraph.param("p", torch.tensor(0.3), constraint=constraints.unit_interval)
        with tracegraph.plate("data", len(data)):
            tracegraph.sample(
                "z", dist.Bernoulli(p), infer={"baseline": baseline_config("decaying")}
            )

    elbo = TraceGraph_ELBO()
    for size in (3, 5, 2, 3):
        loss = elbo.differentiable_loss(model, guide, torch.zeros(size))
        assert torch.isfinite(loss)


def _subsampled_model(data, subsample_size=None):
    g = tracegraph.sample("g", dist.Bernoulli(0.4))
    with tracegraph.plate("data", len(data), subsample_size=subsample_size) as idx:
        z = tracegraph.sample("z", dist.Bernoulli(0.25 + 0.5 * g))
        tracegraph.sample("x", dist.Normal(2.0 * z - 1.0, 1.0), obs=data[idx])


def _subsampled_guide(data, subsample_size=None):
    g = tracegraph.sample("g", dist.Bernoulli(_prob_param("pg", 0.6)))
    q = _prob_param("q", [0.3, 0.6, 0.8, 0.5])
    with tracegraph.plate("data", len(data), subsample_size=subsample_size) as idx:
        tracegraph.sample(
            "z",
            dist.Bernoulli(q[idx] * (0.6 + 0.4 * g)),
            infer={"baseline": {"use_decaying_avg_baseline": True, "baseline_beta": 0.8}},
        )


def _prob_param(name, init):
    return tracegraph.param(name, torch.tensor(init), constraint=constraints.unit_interval)


@pytest.mark.parametrize(
    "vectorize", [pytest.param(False, marks=pytest.mark.slow), True], ids=["loop", "vectorized"]
)
def test_decaying_average_baseline_unbiased_with_subsampled_plate(vectorize):
    # The subsampled, rescaled ELBO is unbiased for the full one, so the reference
    # is the enumerated full-size model; subsets of 2 and 3 alternate so that
    # the state's shape changes from step to step.
    data = torch.tensor([1.2, -0.3, 0.4, 0.9])
    params = list(guide_params(_subsampled_guide, data).values())
    exact = exact_grads(_subsampled_model, _subsampled_guide, params, data)
    elbo = TraceGraph_ELBO(num_particles=50 if vectorize else 1, vectorize_particles=vectorize)
    sizes = iter([2, 3] * 1000)
    samples = grad_estimates(
        lambda: elbo.differentiable_loss(_subsampled_model, _subsampled_guide, data, next(sizes)),
        params,
        60 if vectorize else 1000,
    )
    assert_unbiased(samples, exact)


def test_decaying_average_baseline_unchanged_by_loss_evaluation():
    # loss() (SVI.evaluate_loss, e.g. on held-out data) must not move the
    # baseline: the next step's gradient is the same with or without it.
    guide = with_baseline(_one_bernoulli_guide, baseline_config("decaying"))
    (u,) = guide_params(_one_bernoulli_guide).values()
    grads = []
    for evaluate in (False, True):
        elbo = TraceGraph_ELBO()
        restore_baselines({})
        tracegraph.set_rng_seed(1)
        elbo.loss_and_grads(_one_bernoulli_model, guide)
        if evaluate:
            tracegraph.set_rng_seed(50)
            elbo.loss(_one_bernoulli_model, guide)
        tracegraph.set_rng_seed(2)
        grads.append(
            torch.autograd.grad(elbo.differentiable_loss(_one_bernoulli_model, guide), [u])[0]
        )
    assert torch.equal(grads[0], grads[1])


# -- provenance tagging -----------------------------------------------------------------------


def test_track_nonreparam_tags_only_nonreparameterized_latents():
    def program():
        b = tracegraph.sample("b", dist.Bernoulli(0.5))
        n = tracegraph.sample("n", dist.Normal(0.0, 1.0))
        o = tracegraph.sample("o", dist.Bernoulli(0.5), obs=torch.tensor(1.0))
        return b, n, o

    with TrackNonReparam():
        b, n, o = program()
        both = b + n + o
    assert get_provenance(b) == {"b"}
    assert get_provenance(n) == frozenset()
    assert get_provenance(o) == frozenset()
    assert get_provenance(both) == {"b"}


def _continuous_branch_model():
    x = tracegraph.sample("x", dist.Normal(0.0, 1.0))
    if x.item() > 0:
        tracegraph.sample("y", dist.Normal(x, 1.0), obs=torch.tensor(1.0))
    else:
        tracegraph.sample("y", dist.Normal(-x, 2.0), obs=torch.tensor(1.0))


def _continuous_branch_guide():
    loc = tracegraph.param("loc", torch.tensor(0.1))
    tracegraph.sample("x", dist.Normal(loc, 1.0).has_rsample_(False))


def test_jit_tracegraph_elbo_continuous_control_flow_cache_stays_bounded():
    # A continuous latent decides control flow: no cache key ever repeats, so the
    # JIT variant must stop caching (it once stored one table per step) and give
    # the eager estimator's gradient on the same draws.
    jit, eager = JitTraceGraph_ELBO(), TraceGraph_ELBO()
    (loc,) = guide_params(_continuous_branch_guide).values()
    for step in range(30):
        tracegraph.set_rng_seed(step)
        (g_jit,) = torch.autograd.grad(
            jit.differentiable_loss(_continuous_branch_model, _continuous_branch_guide), [loc]
        )
        tracegraph.set_rng_seed(step)
        (g_eager,) = torch.autograd.grad(
            eager.differentiable_loss(_continuous_branch_model, _continuous_branch_guide), [loc]
        )
        assert torch.allclose(g_jit, g_eager)
    assert sum(len(e.tables) for e in jit._deps_cache.values()) <= 2


# -- leave-one-out when a latent decides a plate's size ------------------------------------


def _sized_model() -> None:
    n = tracegraph.sample("n", dist.Categorical(torch.tensor([0.3, 0.3, 0.4])))
    size = int(n.item()) + 1
    with tracegraph.plate("p", size):
        z = tracegraph.sample("z", dist.Bernoulli(0.4))
        tracegraph.sample("x", dist.Normal(2.0 * z - 1.0, 1.0), obs=torch.ones(size))


def _sized_guide() -> None:
    w = tracegraph.param("sized_w", torch.tensor([0.2, 0.3, 0.5]), constraint=constraints.simplex)
    n = tracegraph.sample("n", dist.Categorical(w))
    size = int(n.item()) + 1
    q = tracegraph.param("sized_q", torch.tensor(0.3), constraint=constraints.unit_interval)
    with tracegraph.plate("p", size):
        tracegraph.sample("z", dist.Bernoulli(q))


def test_leave_one_out_with_latent_plate_size_unbiased():
    # Particles with different plate sizes: elements do not line up, so the site's
    # baseline is the others' mean per-element cost.  300 estimates of K=4
    # particles; mean within 4 standard errors of the exact gradient.
    params = list(guide_params(_sized_guide).values())
    exact = exact_grads(_sized_model, _sized_guide, params)
    elbo = TraceGraph_ELBO(num_particles=4, leave_one_out=True)
    tracegraph.set_rng_seed(0)
    samples = grad_estimates(
        lambda: elbo.differentiable_loss(_sized_model, _sized_guide), params, 300
    )
    assert_unbiased(samples, exact)
