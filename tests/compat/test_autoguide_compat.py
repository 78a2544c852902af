"""The autoguides and PyroModule side by side with Pyro's on the same models and
seeds: the same param-store names, shapes, constraints and initial values, the
same sites in the guide's trace, the same losses; and, trained, posteriors that
agree within Monte Carlo error with each other and with the exact posterior."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

import tracegraph
import tracegraph.distributions as tg_dist
import tracegraph.infer as tg_infer
import tracegraph.infer.autoguide as tg_auto
import tracegraph.nn as tg_nn
import tracegraph.optim as tg_optim
from tracegraph import poutine as tg_poutine

pyro = pytest.importorskip("pyro")
import pyro.distributions as pyro_dist  # noqa: E402
import pyro.infer as pyro_infer  # noqa: E402
import pyro.infer.autoguide as pyro_auto  # noqa: E402
import pyro.nn as pyro_nn  # noqa: E402
import pyro.optim as pyro_optim  # noqa: E402
from pyro import poutine as pyro_poutine  # noqa: E402


class Lib:
    """One library's names, so that each program is written once."""

    def __init__(self, name: str) -> None:
        if name == "pyro":
            self.lib, self.dist, self.infer, self.auto = pyro, pyro_dist, pyro_infer, pyro_auto
            self.nn, self.optim, self.poutine = pyro_nn, pyro_optim, pyro_poutine
        else:
            self.lib, self.dist, self.infer = tracegraph, tg_dist, tg_infer
            self.auto, self.nn, self.optim, self.poutine = tg_auto, tg_nn, tg_optim, tg_poutine
        self.name = name


LIBS = [Lib("pyro"), Lib("tracegraph")]
DATA = torch.tensor([0.3, -1.2, 2.0, 0.7, 1.1])


def zoo_model(L: Lib) -> Any:
    lib, dist = L.lib, L.dist

    def model(data):
        a = lib.sample("a", dist.Normal(0.0, 1.0))
        b = lib.sample("b", dist.LogNormal(0.0, 1.0).expand([2]).to_event(1))
        s = lib.sample("s", dist.Dirichlet(torch.ones(3)))
        with lib.plate("data", len(data), subsample_size=3) as idx:
            c = lib.sample("c", dist.Beta(2.0, 2.0))
            mean = a + c + b.sum() + s[0]
            lib.sample("obs", dist.Normal(mean, 1.0), obs=data[idx])

    return model


def regression(L: Lib) -> Any:
    """Pyro's Bayesian regression tutorial model, written with PyroModule[nn.Linear]."""
    lib, dist, nn = L.lib, L.dist, L.nn

    class BayesianRegression(nn.PyroModule):
        def __init__(self, in_features: int, out_features: int) -> None:
            super().__init__()
            self.linear = nn.PyroModule[torch.nn.Linear](in_features, out_features)
            self.linear.weight = nn.PyroSample(
                dist.Normal(0.0, 1.0).expand([out_features, in_features]).to_event(2)
            )
            self.linear.bias = nn.PyroSample(
                dist.Normal(0.0, 10.0).expand([out_features]).to_event(1)
            )

        def forward(self, x, y=None):
            sigma = lib.sample("sigma", dist.Uniform(0.0, 10.0))
            mean = self.linear(x).squeeze(-1)
            with lib.plate("data", x.shape[0]):
                lib.sample("obs", dist.Normal(mean, sigma), obs=y)
            return mean

    return BayesianRegression(3, 1)


GUIDES = [
    "AutoDelta",
    "AutoNormal",
    "AutoDiagonalNormal",
    "AutoMultivariateNormal",
    "AutoLowRankMultivariateNormal",
    "AutoLaplaceApproximation",
    "AutoNormalMessenger",
    "AutoHierarchicalNormalMessenger",
    "AutoRegressiveMessenger",
    "AutoGuideList",
]


def make_guide(L: Lib, name: str, model: Any) -> Any:
    if name == "AutoGuideList":
        guide = L.auto.AutoGuideList(model)
        guide.append(L.auto.AutoNormal(L.poutine.block(model, hide=["c"])))
        guide.append(L.auto.AutoDelta(L.poutine.block(model, expose=["c"])))
        guide.append(lambda *args, **kwargs: None)  # AutoCallable
        return guide
    return getattr(L.auto, name)(model)


def store_summary(L: Lib) -> list[tuple[str, tuple[int, ...], str]]:
    store = L.lib.get_param_store()
    return [
        (name, tuple(store[name].shape), type(store._constraints[name]).__name__)
        for name in store.keys()
    ]


def run_guide(L: Lib, name: str, which: str = "zoo") -> dict[str, Any]:
    L.lib.clear_param_store()
    L.lib.set_rng_seed(0)
    if which == "zoo":
        model, args = zoo_model(L), (DATA,)
    else:
        model, args = regression(L), (torch.randn(6, 3), torch.randn(6))
    guide = make_guide(L, name, model)
    svi = L.infer.SVI(model, guide, L.optim.Adam({"lr": 0.01}), L.infer.Trace_ELBO())
    first = svi.step(*args)
    summary = store_summary(L)
    values = {k: v.detach().clone() for k, v in L.lib.get_param_store().items()}
    tr = L.poutine.trace(guide).get_trace(*args)
    sample_sites = [
        n for n, s in tr.nodes.items() if s["type"] == "sample" and not is_plate_index(s)
    ]
    return {"store": summary, "values": values, "sites": sample_sites, "loss": first}


def is_plate_index(site: dict[str, Any]) -> bool:
    return type(site.get("fn")).__name__ in ("_Subsample", "SubsampleDistribution")


def constraint_name(name: str) -> str:
    # tracegraph's constraints are torch's where Pyro's are torch's too; name both.
    return name.lstrip("_")


# The guide list's parts name the zoo's sites: it runs on the zoo only.
CASES = [(name, "zoo") for name in GUIDES] + [
    (name, "regression") for name in GUIDES if name != "AutoGuideList"
]


@pytest.mark.parametrize("name,which", CASES)
def test_autoguide_param_store_names_shapes_and_values_match_pyro(name, which):
    theirs, ours = (run_guide(L, name, which) for L in LIBS)
    assert [(n, s) for n, s, _ in ours["store"]] == [(n, s) for n, s, _ in theirs["store"]]
    assert [constraint_name(c) for *_, c in ours["store"]] == [
        constraint_name(c) for *_, c in theirs["store"]
    ]
    # The same seed draws the same initial values and the same first step.
    for key, value in theirs["values"].items():
        assert torch.allclose(ours["values"][key], value, atol=1e-5), key
    assert ours["sites"] == theirs["sites"]
    assert ours["loss"] == pytest.approx(theirs["loss"], rel=1e-4)


@pytest.mark.parametrize("name", ["AutoNormal", "AutoDiagonalNormal", "AutoDelta"])
def test_autoguide_median_and_quantiles_match_pyro(name):
    out = []
    for L in LIBS:
        L.lib.clear_param_store()
        L.lib.set_rng_seed(0)
        model = zoo_model(L)
        guide = getattr(L.auto, name)(model)
        guide(DATA)
        L.lib.set_rng_seed(1)
        median = guide.median(DATA)
        quantiles = guide.quantiles([0.1, 0.9], DATA) if name != "AutoDelta" else {}
        out.append((median, quantiles))
    (m_t, q_t), (m_o, q_o) = out
    assert sorted(m_o) == sorted(m_t) and sorted(q_o) == sorted(q_t)
    for k in m_t:
        assert torch.allclose(m_o[k], m_t[k], atol=1e-5), k
    for k in q_t:
        assert torch.allclose(q_o[k], q_t[k], atol=1e-5), k


def test_pyro_module_trace_matches_pyro():
    names = []
    for L in LIBS:
        L.lib.clear_param_store()
        L.lib.set_rng_seed(0)
        model = regression(L)
        tr = L.poutine.trace(model).get_trace(torch.ones(4, 3))
        names.append([(n, s["type"]) for n, s in tr.nodes.items() if not is_plate_index(s)])
    assert names[1] == names[0]


# -- posteriors ------------------------------------------------------------------------


def fit(
    L: Lib,
    model: Any,
    guide: Any,
    args: tuple[Any, ...],
    steps: int,
    particles: int,
    vectorize: bool = True,
) -> None:
    # Many particles and a step size decaying 1000-fold: the final iterate sits
    # within about 1e-3 posterior sds of the optimum, well inside the Monte Carlo
    # error allowed below.
    L.lib.set_rng_seed(0)
    optim = L.optim.ClippedAdam({"lr": 0.05, "lrd": 0.001 ** (1 / steps)})
    elbo = L.infer.Trace_ELBO(num_particles=particles, vectorize_particles=vectorize)
    svi = L.infer.SVI(model, guide, optim, elbo)
    for _ in range(steps):
        svi.step(*args)


def guide_draws(L: Lib, guide: Any, args: tuple[Any, ...], sites: list[str], m: int) -> Any:
    L.lib.set_rng_seed(1)
    predictive = L.infer.Predictive(guide, num_samples=m, return_sites=sites)
    with torch.no_grad():
        out = predictive(*args)
    return {k: out[k].reshape(m, -1) for k in sites}


def within_mc_error(x: torch.Tensor, mean: torch.Tensor, sd: torch.Tensor, m: int) -> bool:
    # Sample mean and sd of m draws against a target: 4 standard errors each
    # (sd / sqrt(m) for the mean, sd / sqrt(2 m) for the sd).
    ok_mean = (x.mean(0) - mean).abs() < 4 * sd / math.sqrt(m)
    ok_sd = (x.std(0) - sd).abs() < 4 * sd / math.sqrt(2 * m)
    return bool(ok_mean.all() and ok_sd.all())


def normal_normal(L: Lib) -> Any:
    data = torch.tensor([0.5, 1.5, 2.0, 1.0])

    def model():
        loc = L.lib.sample("loc", L.dist.Normal(0.0, 2.0))
        with L.lib.plate("data", 4):
            L.lib.sample("x", L.dist.Normal(loc, 1.0), obs=data)

    # Prior N(0, 4), unit noise: posterior precision 1/4 + 4, mean sum(x) / precision.
    precision = 0.25 + 4
    return model, float(data.sum()) / precision, precision**-0.5


@pytest.mark.slow
@pytest.mark.parametrize("name", ["AutoNormal", "AutoDiagonalNormal", "AutoMultivariateNormal"])
def test_autoguide_normal_normal_posterior_is_exact(name):
    m = 4000
    draws = []
    for L in LIBS:
        L.lib.clear_param_store()
        model, mean, sd = normal_normal(L)
        guide = getattr(L.auto, name)(model)
        fit(L, model, guide, (), steps=1500, particles=32)
        draws.append(guide_draws(L, guide, (), ["loc"], m)["loc"])
    for x in draws:
        assert within_mc_error(x, torch.tensor(mean), torch.tensor(sd), m)
    # Ours against Pyro's: two samples, so sqrt(2) times the standard error.
    assert (draws[0].mean() - draws[1].mean()).abs() < 4 * math.sqrt(2) * sd / math.sqrt(m)


def optimal_logit_normal(alpha: float, beta: float) -> tuple[float, float]:
    """The logit-normal closest (in KL(q || p)) to Beta(alpha, beta): the optimum the
    ELBO of AutoNormal reaches, found by Gauss-Hermite quadrature (64 nodes)."""
    import numpy as np

    x, w = np.polynomial.hermite_e.hermegauss(64)
    nodes = torch.tensor(x, dtype=torch.float64)
    weights = torch.tensor(w / w.sum(), dtype=torch.float64)
    params = torch.tensor([0.0, 0.0], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([params], max_iter=200, tolerance_grad=1e-12)
    target = torch.distributions.Beta(
        torch.tensor(alpha, dtype=torch.float64), torch.tensor(beta, dtype=torch.float64)
    )

    def closure():
        opt.zero_grad()
        u = params[0] + params[1].exp() * nodes
        p = torch.sigmoid(u)
        # ELBO in unconstrained space: E[log p(sigmoid(u)) + log |dp/du|] + entropy.
        log_jac = torch.nn.functional.logsigmoid(u) + torch.nn.functional.logsigmoid(-u)
        elbo = (weights * (target.log_prob(p) + log_jac)).sum() + params[1]
        (-elbo).backward()
        return -elbo

    opt.step(closure)
    return float(params[0].detach()), float(params[1].detach().exp())


@pytest.mark.slow
def test_autoguide_beta_bernoulli_posterior_is_the_best_logit_normal():
    flips = torch.tensor([1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0])
    # Exact posterior Beta(7, 5); AutoNormal's family is the logit-normal, whose
    # KL-optimal member (by quadrature) is what both libraries must reach.
    loc, scale = optimal_logit_normal(7.0, 5.0)
    m = 4000
    draws = []
    for L in LIBS:
        L.lib.clear_param_store()

        def model(L=L):
            p = L.lib.sample("p", L.dist.Beta(1.0, 1.0))
            with L.lib.plate("data", 10):
                L.lib.sample("obs", L.dist.Bernoulli(p), obs=flips)

        guide = L.auto.AutoNormal(model)
        fit(L, model, guide, (), steps=2000, particles=32)
        x = guide_draws(L, guide, (), ["p"], m)["p"]
        draws.append(torch.logit(x))
    for u in draws:
        assert within_mc_error(u, torch.tensor(loc), torch.tensor(scale), m)
    # The optimum itself is close to the exact posterior: mean 7/12 to 0.01.
    p = torch.sigmoid(loc + scale * torch.randn(100000))
    assert abs(float(p.mean()) - 7 / 12) < 0.01


@pytest.mark.slow
def test_bayesian_regression_posteriors_of_pyro_and_ours_agree():
    # Pyro's tutorial model on data it generates: y = 1 + x @ (2, -1, 0.5) + noise.
    g = torch.Generator().manual_seed(0)
    x = torch.randn(100, 3, generator=g)
    y = 1.0 + x @ torch.tensor([2.0, -1.0, 0.5]) + 0.5 * torch.randn(100, generator=g)
    m = 4000
    sites = ["linear.weight", "linear.bias", "sigma"]
    draws = []
    for L in LIBS:
        L.lib.clear_param_store()
        model = regression(L)
        guide = L.auto.AutoDiagonalNormal(model)
        # nn.Linear does not broadcast batched weights: particles one by one.
        fit(L, model, guide, (x, y), steps=1500, particles=2, vectorize=False)
        draws.append(guide_draws(L, guide, (x, y), sites, m))
    theirs, ours = draws
    for site in sites:
        a, b = theirs[site], ours[site]
        sd = torch.maximum(a.std(0), b.std(0))
        # Two samples of m draws: 4 standard errors of the difference of means.
        assert bool(((a.mean(0) - b.mean(0)).abs() < 4 * math.sqrt(2) * sd / math.sqrt(m)).all())
        assert bool(((a.std(0) - b.std(0)).abs() < 4 * sd / math.sqrt(m)).all()), site
    # And both recover the generating weights within 4 posterior sds.
    w = ours["linear.weight"]
    assert bool(((w.mean(0) - torch.tensor([2.0, -1.0, 0.5])).abs() < 4 * w.std(0) + 0.05).all())
