"""Pyro's own distributions against Pyro 1.9.2: the same arguments through both libraries.

Each case builds one distribution from one parameter set, once with
``pyro.distributions`` and once with ``tracegraph.distributions``, and compares
shapes, supports, ``log_prob`` at common points (1e-6 relative, and 1e-6
absolute for values near zero; float64),
means and variances, sample laws, and reparameterized gradients.

Statistical tolerances.  Sample laws are compared through the empirical CDF at
the pooled quartiles of every coordinate: with ``N`` draws per library each
fraction has standard error ``sqrt(p (1 - p) / N)``, so the difference of the two
has ``sqrt(2 p (1 - p) / N)``, and we allow 5 of those (a false alarm has
probability below 1e-6 per comparison).  Means (for laws with finite variance)
get 5 standard errors ``sqrt((var_ours + var_pyro) / N)``.  Gradients of
``E[tanh(x / 2)]`` are estimated on ``B`` independent batches per library; the
standard error of each library's estimate is the batch standard deviation over
``sqrt(B)``, and we allow 5 combined standard errors.  Seeds are fixed.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch

import tracegraph.distributions as td
from tracegraph.distributions.log_normal_negative_binomial import normal_quadrature

pd = pytest.importorskip("pyro.distributions")

D = torch.float64
N = 20000


def t(*values: Any) -> torch.Tensor:
    return torch.tensor(values if len(values) > 1 else values[0], dtype=D)


@dataclass
class Case:
    """One distribution with one parameter set, buildable from either library."""

    name: str
    params: dict[str, torch.Tensor]
    build: Callable[..., Any]
    points: Callable[[Any], torch.Tensor] | None = None  # default: Pyro's samples
    moments: tuple[str, ...] = ()
    sample: bool = True  # compare sample laws
    finite_mean: bool = True
    reparameterized: bool = False
    log_prob: bool = True
    # "pyro": compare draws with Pyro's draws; "grid": with Pyro's density on a grid
    # (Pyro 1.9.2's sampler of SineBivariateVonMises does not follow its own density).
    law: str = "pyro"
    # "pyro": compare rsample gradients with Pyro's; a callable: with this exact value
    # of d/dparams E[tanh(x / 2)] (Pyro's mixture-logit gradients are biased).
    gradient: Any = "pyro"
    extra: dict[str, Any] = field(default_factory=dict)

    def make(self, lib: Any, params: dict[str, torch.Tensor] | None = None) -> Any:
        return self.build(lib, **(self.params if params is None else params))


def _sphere_points(dim: int, n: int = 7) -> torch.Tensor:
    g = torch.Generator().manual_seed(5)
    x = torch.randn(n, dim, generator=g, dtype=D)
    return x / x.norm(dim=-1, keepdim=True)


def _counts(low: int, high: int, batch: tuple[int, ...] = ()) -> Callable[[Any], torch.Tensor]:
    def points(d: Any) -> torch.Tensor:
        values = torch.arange(low, high + 1, dtype=D)
        return values.reshape((-1,) + (1,) * len(batch)).expand((-1,) + batch)

    return points


def _quiet_lkj_cholesky(lib: Any, d: int, eta: torch.Tensor) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return lib.LKJCorrCholesky(d, eta)


def _rejector(lib: Any, rate: torch.Tensor, extra_rate: torch.Tensor) -> Any:
    # Exponential(rate) thinned by exp(-extra_rate x) is Exponential(rate + extra_rate).
    log_scale = torch.log(rate / (rate + extra_rate))
    return lib.Rejector(lib.Exponential(rate), lambda x: -extra_rate * x, log_scale)


NAN = float("nan")


def _mixture_expectation(
    locs: torch.Tensor, scales: torch.Tensor, logits: torch.Tensor
) -> torch.Tensor:
    # E[sum_d tanh(x_d / 2)] under a diagonal-Normal mixture, by 80-node Gauss-Hermite
    # quadrature per component and coordinate (exact to float64 rounding here).
    nodes, weights = normal_quadrature(80)
    x = locs.unsqueeze(-1) + scales.unsqueeze(-1) * nodes
    per_component = (torch.tanh(x / 2) * weights).sum(-1).sum(-1)
    return (torch.softmax(logits, -1) * per_component).sum()


CASES = [
    Case(
        "BetaBinomial",
        {"c1": t(1.5, 2.0), "c0": t(3.0), "n": t(5.0)},
        lambda lib, c1, c0, n: lib.BetaBinomial(c1, c0, total_count=n),
        points=_counts(0, 5, (2,)),
        moments=("mean", "variance"),
    ),
    Case(
        "DirichletMultinomial",
        {"c": t([1.0, 2.0, 3.0]), "n": t(6.0)},
        lambda lib, c, n: lib.DirichletMultinomial(c, total_count=n),
        moments=("mean", "variance"),
    ),
    Case(
        "DirichletMultinomial-sparse",
        {"c": t([[0.5, 2.0, 3.0], [1.0, 1.0, 1.0]]), "n": t(7.0)},
        lambda lib, c, n: lib.DirichletMultinomial(c, total_count=n, is_sparse=True),
        moments=("mean", "variance"),
    ),
    Case(
        "GammaPoisson",
        {"a": t(2.0, 0.5), "b": t(1.0, 3.0)},
        lambda lib, a, b: lib.GammaPoisson(a, b),
        moments=("mean", "variance"),
    ),
    Case(
        "ZeroInflatedDistribution",
        {"rate": t(1.5, 4.0), "gate": t(0.3)},
        lambda lib, rate, gate: lib.ZeroInflatedDistribution(lib.Poisson(rate), gate=gate),
        points=_counts(0, 8, (2,)),
        moments=("mean", "variance"),
    ),
    Case(
        "ZeroInflatedPoisson",
        {"rate": t(1.5, 4.0), "gate_logits": t(-0.5)},
        lambda lib, rate, gate_logits: lib.ZeroInflatedPoisson(rate, gate_logits=gate_logits),
        points=_counts(0, 8, (2,)),
        moments=("mean", "variance"),
    ),
    Case(
        "ZeroInflatedNegativeBinomial",
        {"n": t(3.0), "logits": t(0.2, -0.4), "gate": t(0.2)},
        lambda lib, n, logits, gate: lib.ZeroInflatedNegativeBinomial(n, logits=logits, gate=gate),
        points=_counts(0, 9, (2,)),
        moments=("mean", "variance"),
    ),
    Case(
        "ZeroInflatedNegativeBinomial-probs",
        {"n": t(2.0, 5.0), "probs": t(0.3), "gate_logits": t(0.4)},
        lambda lib, n, probs, gate_logits: lib.ZeroInflatedNegativeBinomial(
            n, probs=probs, gate_logits=gate_logits
        ),
        points=_counts(0, 9, (2,)),
        moments=("mean", "variance"),
    ),
    Case(
        "Logistic",
        {"loc": t(0.5, -1.0), "scale": t(2.0)},
        lambda lib, loc, scale: lib.Logistic(loc, scale),
        moments=("mean", "variance"),
        reparameterized=True,
        extra={"cdf": True, "entropy": True},
    ),
    Case(
        "SkewLogistic",
        {"loc": t(0.5), "scale": t(2.0, 0.5), "asym": t(1.7, 0.4)},
        lambda lib, loc, scale, asym: lib.SkewLogistic(loc, scale, asym),
        reparameterized=True,
        extra={"cdf": True},
    ),
    Case(
        "AsymmetricLaplace",
        {"loc": t(0.5), "scale": t(2.0, 0.7), "asym": t(1.7, 0.5)},
        lambda lib, loc, scale, asym: lib.AsymmetricLaplace(loc, scale, asym),
        moments=("mean", "variance"),
        reparameterized=True,
    ),
    Case(
        "SoftAsymmetricLaplace",
        {"loc": t(0.5), "scale": t(2.0, 0.7), "asym": t(1.7, 0.5), "soft": t(0.6, 1.3)},
        lambda lib, loc, scale, asym, soft: lib.SoftAsymmetricLaplace(loc, scale, asym, soft),
        moments=("mean", "variance"),
        reparameterized=True,
    ),
    Case(
        "SoftLaplace",
        {"loc": t(0.5, -2.0), "scale": t(2.0)},
        lambda lib, loc, scale: lib.SoftLaplace(loc, scale),
        moments=("mean", "variance"),
        reparameterized=True,
        extra={"cdf": True},
    ),
    Case(
        "AffineBeta",
        {"c1": t(2.0, 3.0), "c0": t(4.0), "loc": t(-1.0), "scale": t(3.0)},
        lambda lib, c1, c0, loc, scale: lib.AffineBeta(c1, c0, loc, scale),
        moments=("mean", "variance"),
        reparameterized=True,
    ),
    Case(
        "FoldedDistribution",
        {"loc": t(1.0, -2.0), "scale": t(1.5)},
        lambda lib, loc, scale: lib.FoldedDistribution(lib.Normal(loc, scale)),
        reparameterized=True,
    ),
    Case(
        "ImproperUniform",
        {},
        lambda lib: lib.ImproperUniform(lib.constraints.positive, (2,), (3,)),
        points=lambda d: torch.rand(4, 2, 3, dtype=D) + 0.1,
        sample=False,
    ),
    Case(
        "MaskedMixture",
        {"loc": t(5.0), "scale": t(2.0)},
        lambda lib, loc, scale: lib.MaskedMixture(
            torch.tensor([True, False, True]), lib.Normal(t(0.0), t(1.0)), lib.Normal(loc, scale)
        ),
        moments=("mean", "variance"),
        reparameterized=True,
    ),
    Case(
        "MixtureOfDiagNormals",
        {
            "locs": t([[0.0, 1.0], [2.0, -1.0], [-1.5, 0.5]]),
            "scales": t([[1.0, 0.5], [0.7, 1.2], [0.4, 0.9]]),
            "logits": t([0.2, -0.3, 0.5]),
        },
        lambda lib, locs, scales, logits: lib.MixtureOfDiagNormals(locs, scales, logits),
        reparameterized=True,
        gradient=lambda locs, scales, logits: _mixture_expectation(locs, scales, logits),
    ),
    Case(
        "MixtureOfDiagNormalsSharedCovariance",
        {
            "locs": t([[0.0, 1.0, 0.5], [2.0, -1.0, 0.0]]),
            "scale": t([0.8, 0.5, 1.1]),
            "logits": t([0.4, -0.3]),
        },
        lambda lib, locs, scale, logits: lib.MixtureOfDiagNormalsSharedCovariance(
            locs, scale, logits
        ),
        reparameterized=True,
        gradient=lambda locs, scale, logits: _mixture_expectation(
            locs, scale.expand(locs.shape), logits
        ),
    ),
    Case(
        "MultivariateStudentT",
        {"df": t(5.0, 8.0), "loc": t([1.0, -1.0]), "tril": t([[1.0, 0.0], [0.5, 2.0]])},
        lambda lib, df, loc, tril: lib.MultivariateStudentT(df, loc, tril),
        moments=("mean", "variance", "covariance_matrix", "precision_matrix"),
        reparameterized=True,
    ),
    Case(
        "MultivariateStudentT-heavy",
        {"df": t(0.8, 1.5, 3.0), "loc": t([1.0, -1.0]), "tril": t([[1.0, 0.0], [0.5, 2.0]])},
        lambda lib, df, loc, tril: lib.MultivariateStudentT(df, loc, tril),
        moments=("mean", "variance"),
        finite_mean=False,
    ),
    Case(
        "LKJ",
        {"conc": t(0.5, 2.0)},
        lambda lib, conc: lib.LKJ(3, conc),
        moments=("mean",),
    ),
    Case(
        "LKJCorrCholesky",
        {"eta": t(1.5)},
        lambda lib, eta: _quiet_lkj_cholesky(lib, 3, eta),
    ),
    Case(
        "OrderedLogistic",
        {"predictor": t(0.5, -1.0), "cutpoints": t([-1.0, 0.0, 2.0])},
        lambda lib, predictor, cutpoints: lib.OrderedLogistic(predictor, cutpoints),
        points=_counts(0, 3, (2,)),
        extra={"probs": True},
    ),
    Case(
        "ProjectedNormal-2",
        {"c": t([[1.0, 2.0], [0.0, -0.5]])},
        lambda lib, c: lib.ProjectedNormal(c),
        points=lambda d: _sphere_points(2).unsqueeze(-2),
        moments=("mean", "mode"),
        reparameterized=True,
    ),
    Case(
        "ProjectedNormal-3",
        {"c": t([[1.0, 2.0, 0.5], [0.0, 0.0, 0.0], [-3.0, 0.5, 4.0]])},
        lambda lib, c: lib.ProjectedNormal(c),
        points=lambda d: _sphere_points(3).unsqueeze(-2),
        moments=("mean", "mode"),
        reparameterized=True,
    ),
    Case(
        "ProjectedNormal-4",
        {"c": t([[1.0, 0.3, 0.5, -0.2], [0.5, -2.0, 0.0, 1.0]])},
        lambda lib, c: lib.ProjectedNormal(c),
        points=lambda d: _sphere_points(4).unsqueeze(-2),
        reparameterized=True,
    ),
    Case(
        "VonMises3D",
        {"c": t([[1.0, 2.0, 0.5], [0.1, -0.2, 0.05]])},
        lambda lib, c: lib.VonMises3D(c),
        points=lambda d: _sphere_points(3).unsqueeze(-2),
        sample=False,
    ),
    Case(
        "Rejector",
        {"rate": t(1.0, 2.0), "extra_rate": t(0.5)},
        _rejector,
        reparameterized=True,
        extra={"score_parts": True},
    ),
    Case(
        "RelaxedBernoulliStraightThrough",
        {"temp": t(0.5), "probs": t(0.3, 0.8)},
        lambda lib, temp, probs: lib.RelaxedBernoulliStraightThrough(temp, probs=probs),
        points=lambda d: t([[0.2, 0.9], [0.5, 0.01]]),
        reparameterized=True,
    ),
    Case(
        "RelaxedOneHotCategoricalStraightThrough",
        {"temp": t(0.7), "logits": t([[0.1, -0.2, 0.4], [1.0, 0.0, -1.0]])},
        lambda lib, temp, logits: lib.RelaxedOneHotCategoricalStraightThrough(temp, logits=logits),
        points=lambda d: t(
            [[[0.2, 0.3, 0.5], [0.7, 0.2, 0.1]], [[0.1, 0.1, 0.8], [0.3, 0.3, 0.4]]]
        ),
        reparameterized=True,
    ),
    Case(
        "ExtendedBinomial",
        {"n": t(-1.0, 3.0, 5.0), "probs": t(0.3)},
        lambda lib, n, probs: lib.ExtendedBinomial(n, probs=probs),
        points=_counts(-2, 7, (3,)),
        sample=False,
    ),
    Case(
        "ExtendedBetaBinomial",
        {"c1": t(2.0), "c0": t(3.0), "n": t(-1.0, 4.0)},
        lambda lib, c1, c0, n: lib.ExtendedBetaBinomial(c1, c0, n),
        points=_counts(-2, 6, (2,)),
        sample=False,
    ),
    Case(
        "NanMaskedNormal",
        {"loc": t(0.0, 1.0, 2.0), "scale": t(1.5)},
        lambda lib, loc, scale: lib.NanMaskedNormal(loc, scale),
        points=lambda d: t([[0.5, NAN, 1.0], [NAN, NAN, -1.0]]),
        sample=False,
    ),
    Case(
        "NanMaskedMultivariateNormal",
        {"loc": t([0.5, -0.5, 0.0]), "cov": t([[2.0, 0.5, 0.0], [0.5, 1.0, 0.2], [0.0, 0.2, 1.5]])},
        lambda lib, loc, cov: lib.NanMaskedMultivariateNormal(loc, cov),
        points=lambda d: t(
            [
                [0.1, 0.2, 3.4],
                [0.5, 0.1, NAN],
                [0.6, NAN, NAN],
                [NAN, 0.5, NAN],
                [NAN, NAN, NAN],
                [0.3, NAN, -0.2],
            ]
        ),
        sample=False,
    ),
    Case(
        "LogNormalNegativeBinomial",
        {"n": t(3.0, 5.0), "logits": t(0.2), "sigma": t(0.5)},
        lambda lib, n, logits, sigma: lib.LogNormalNegativeBinomial(n, logits, sigma),
        points=_counts(0, 12, (2,)),
        moments=("mean", "variance"),
        sample=False,  # Pyro's sample raises; ours is checked against the moments below
    ),
    Case(
        "TruncatedPolyaGamma",
        {},
        lambda lib: lib.TruncatedPolyaGamma(torch.zeros((), dtype=D)),
        # Pyro evaluates part of the series in float32 (about 1e-8 absolute error);
        # past x = 1 the series cancels and that error reaches 1e-5 relative.
        points=lambda d: t(0.01, 0.1, 0.25, 0.5, 0.8, 1.0),
    ),
    Case(
        "GroupedNormalNormal",
        {"loc": t(0.3, -0.5, 1.0), "scale": t(0.8, 1.5, 0.6), "obs": t(0.5, 0.9, 1.2, 0.7)},
        lambda lib, loc, scale, obs: lib.GroupedNormalNormal(
            loc, scale, obs, torch.tensor([1, 0, 2, 1])
        ),
        points=lambda d: t([0.4, -1.2, 2.0, 0.1]),
        sample=False,
    ),
    Case(
        "SineBivariateVonMises",
        {"phi": t(0.5), "psi": t(-1.0), "k1": t(2.0, 10.0), "k2": t(3.0), "rho": t(1.0, -4.0)},
        lambda lib, phi, psi, k1, k2, rho: lib.SineBivariateVonMises(
            phi, psi, k1, k2, correlation=rho
        ),
        moments=("mean",),
        law="grid",
        extra={"norm_const": True},
    ),
    Case(
        "SineBivariateVonMises-weighted",
        {"phi": t(3.0), "psi": t(-3.0), "k1": t(50.0), "k2": t(20.0), "w": t(-0.7)},
        lambda lib, phi, psi, k1, k2, w: lib.SineBivariateVonMises(
            phi, psi, k1, k2, weighted_correlation=w
        ),
        moments=("mean",),
        law="grid",
        extra={"norm_const": True},
    ),
    Case(
        "SineSkewed",
        {"loc": t([0.5, -1.0]), "conc": t(2.0), "skew": t([0.3, -0.4])},
        lambda lib, loc, conc, skew: lib.SineSkewed(lib.VonMises(loc, conc).to_event(1), skew),
    ),
    Case(
        "SineSkewed-bivariate",
        {"k1": t(2.0), "k2": t(3.0), "rho": t(1.0), "skew": t([[0.3, -0.4], [-0.5, 0.1]])},
        lambda lib, k1, k2, rho, skew: lib.SineSkewed(
            lib.SineBivariateVonMises(t(0.5), t(-1.0), k1, k2, correlation=rho), skew
        ),
        law="grid",
    ),
    Case(
        "Stable",
        {
            "alpha": t(0.7, 1.0, 1.5, 1.9),
            "beta": t(0.3, -0.6, 0.8, 1.0),
            "scale": t(2.0),
            "loc": t(1.0),
        },
        lambda lib, alpha, beta, scale, loc: lib.Stable(alpha, beta, scale, loc),
        moments=("mean", "variance"),
        finite_mean=False,
        reparameterized=True,
        log_prob=False,  # Pyro's needs scipy; see tests/distributions/test_stable.py
    ),
    Case(
        # "S" is discontinuous in alpha at 1 (no alpha-gradient there): law only.
        "Stable-S",
        {"alpha": t(0.7, 1.0, 1.5), "beta": t(0.3, 0.5, 0.8), "scale": t(2.0), "loc": t(1.0)},
        lambda lib, alpha, beta, scale, loc: lib.Stable(alpha, beta, scale, loc, coords="S"),
        moments=("mean", "variance"),
        finite_mean=False,
        log_prob=False,
    ),
    Case(
        "Stable-S-gradient",
        {"alpha": t(0.7, 1.3, 1.5), "beta": t(0.3, 0.5, 0.8), "scale": t(2.0), "loc": t(1.0)},
        lambda lib, alpha, beta, scale, loc: lib.Stable(alpha, beta, scale, loc, coords="S"),
        sample=False,
        reparameterized=True,
        log_prob=False,
    ),
    Case(
        "StableWithLogProb",
        {"alpha": t(1.2), "beta": t(-0.3), "scale": t(0.5), "loc": t(0.0)},
        lambda lib, alpha, beta, scale, loc: lib.StableWithLogProb(alpha, beta, scale, loc),
        moments=("mean", "variance"),
        finite_mean=False,
        reparameterized=True,
        log_prob=False,
    ),
]

IDS = [c.name for c in CASES]


def _support(d: Any) -> Any:
    try:
        return d.support
    except NotImplementedError:
        return None


def _pair(case: Case) -> tuple[Any, Any]:
    return case.make(td), case.make(pd)


def _points(case: Case, theirs: Any) -> torch.Tensor:
    if case.points is not None:
        return case.points(theirs)
    torch.manual_seed(0)
    return theirs.sample((5,))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_pyro_distribution_shapes_and_support_match(case: Case) -> None:
    ours, theirs = _pair(case)
    assert type(ours).__name__ == type(theirs).__name__
    assert ours.batch_shape == theirs.batch_shape
    assert ours.event_shape == theirs.event_shape
    assert bool(ours.has_rsample) == bool(theirs.has_rsample)
    expected = _support(theirs)
    if expected is None:
        return  # Pyro's Rejector has no support; ours reports the proposal's
    assert ours.support.event_dim == expected.event_dim
    assert ours.support.is_discrete == expected.is_discrete
    assert repr(ours.support) == repr(expected)


@pytest.mark.parametrize("case", [c for c in CASES if c.log_prob], ids=lambda c: c.name)
def test_pyro_distribution_log_prob_matches(case: Case) -> None:
    ours, theirs = _pair(case)
    x = _points(case, theirs)
    expected = theirs.log_prob(x)
    actual = ours.log_prob(x)
    assert actual.shape == expected.shape
    torch.testing.assert_close(actual, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("case", [c for c in CASES if c.log_prob], ids=lambda c: c.name)
def test_pyro_distribution_expand_matches(case: Case) -> None:
    ours, theirs = _pair(case)
    if case.name == "GroupedNormalNormal":
        # Pyro refuses every expand, even to its own batch shape; ours allows that one.
        with pytest.raises(NotImplementedError):
            ours.expand((3,))
        return
    shape = torch.Size((3,)) + ours.batch_shape
    ours_e = ours.expand(shape)
    assert type(ours_e) is type(ours) or type(ours).__name__ == "Rejector"
    assert ours_e.batch_shape == shape and ours_e.event_shape == ours.event_shape
    # The points' leading dim stays a sample dim, next to the new batch dim.
    x = _points(case, theirs).unsqueeze(1)
    expected = ours.log_prob(x)
    torch.testing.assert_close(ours_e.log_prob(x), expected.expand(ours_e.log_prob(x).shape))
    if case.sample:
        assert ours_e.sample((2,)).shape == (2,) + shape + ours.event_shape


@pytest.mark.parametrize("case", [c for c in CASES if c.moments], ids=lambda c: c.name)
def test_pyro_distribution_moments_match(case: Case) -> None:
    ours, theirs = _pair(case)
    for name in case.moments:
        torch.testing.assert_close(
            getattr(ours, name), getattr(theirs, name), rtol=1e-6, atol=1e-9, equal_nan=True
        )


@pytest.mark.parametrize("case", [c for c in CASES if c.extra], ids=lambda c: c.name)
def test_pyro_distribution_extra_methods_match(case: Case) -> None:
    ours, theirs = _pair(case)
    x = _points(case, theirs)
    if case.extra.get("cdf"):
        torch.testing.assert_close(ours.cdf(x), theirs.cdf(x), rtol=1e-6, atol=1e-9)
        q = t(0.05, 0.3, 0.5, 0.9).unsqueeze(-1)
        torch.testing.assert_close(ours.icdf(q), theirs.icdf(q), rtol=1e-6, atol=1e-9)
    if case.extra.get("entropy"):
        torch.testing.assert_close(ours.entropy(), theirs.entropy())
    if case.extra.get("probs"):
        torch.testing.assert_close(ours.probs, theirs.probs)
        torch.testing.assert_close(ours.enumerate_support(), theirs.enumerate_support())
    if case.extra.get("norm_const"):
        torch.testing.assert_close(ours.norm_const, theirs.norm_const, rtol=1e-6, atol=1e-9)
    if case.extra.get("score_parts"):
        for a, b in zip(ours.score_parts(x), theirs.score_parts(x)):
            torch.testing.assert_close(a, b)


def _draws(d: Any, seed: int) -> torch.Tensor:
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Pyro's sampler warnings
        return d.sample((N,)).reshape(N, -1).to(D)


def _grid_cdfs(d: Any, thresholds: torch.Tensor, size: int = 400) -> torch.Tensor:
    # P(x_i <= c) for each torus coordinate i and threshold c, from d's density on a
    # midpoint grid over [-pi, pi)**2 (spectrally accurate for smooth periodic densities).
    g = torch.linspace(-math.pi, math.pi, size + 1, dtype=D)[:-1] + math.pi / size
    phi, psi = torch.meshgrid(g, g, indexing="ij")
    grid = torch.stack([phi, psi], -1).reshape((size, size) + (1,) * len(d.batch_shape) + (2,))
    mass = d.log_prob(grid).exp() * (2 * math.pi / size) ** 2  # (size, size, *batch)
    marginals = [mass.sum(1), mass.sum(0)]  # each (size, *batch)
    out = []
    for i, marginal in enumerate(marginals):
        below = g.reshape((-1,) + (1,) * len(d.batch_shape)) <= thresholds[i].unsqueeze(0)
        out.append((marginal * below).sum(0))
    return torch.stack(out, -1).reshape(-1)


@pytest.mark.parametrize("case", [c for c in CASES if c.law == "grid"], ids=lambda c: c.name)
def test_pyro_distribution_sample_law_matches_pyro_density(case: Case) -> None:
    ours, theirs = _pair(case)
    a = _draws(ours, 1)
    for q in (0.25, 0.5, 0.75):
        threshold = a.quantile(q, dim=0)
        expected = _grid_cdfs(theirs, threshold.reshape(ours.batch_shape + (2,)).movedim(-1, 0))
        fa = (a <= threshold).to(D).mean(0)
        se = torch.sqrt(expected * (1 - expected) / N)
        assert ((fa - expected).abs() <= 5 * se).all(), (q, fa, expected)


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.sample and c.law == "pyro"], ids=lambda c: c.name
)
def test_pyro_distribution_sample_law_matches(case: Case) -> None:
    ours, theirs = _pair(case)
    a, b = _draws(ours, 1), _draws(theirs, 2)
    assert torch.isfinite(a).all()
    support_ours = ours.support.check(ours.sample((50,)))
    support_theirs = (_support(theirs) or ours.support).check(ours.sample((50,)))
    assert support_ours.all() and support_theirs.all()
    pooled = torch.cat([a, b])
    for q in (0.25, 0.5, 0.75):
        threshold = pooled.quantile(q, dim=0)
        fa = (a <= threshold).to(D).mean(0)
        fb = (b <= threshold).to(D).mean(0)
        p = (fa + fb) / 2
        se = torch.sqrt(2 * p * (1 - p) / N).clamp(min=1 / N)
        assert ((fa - fb).abs() <= 5 * se).all(), (q, fa, fb)
    if case.finite_mean:
        se = torch.sqrt((a.var(0) + b.var(0)) / N).clamp(min=1e-12)
        assert ((a.mean(0) - b.mean(0)).abs() <= 5 * se).all(), (a.mean(0), b.mean(0))


def _gradient_batches(case: Case, lib: Any, seed: int, batches: int, size: int) -> torch.Tensor:
    torch.manual_seed(seed)
    params = {k: v.clone().requires_grad_() for k, v in case.params.items()}
    d = case.make(lib, params)
    out = []
    for _ in range(batches):
        x = d.rsample((size,))
        value = torch.tanh(x / 2).mean(0).sum()
        grads = torch.autograd.grad(
            value, list(params.values()), allow_unused=True, retain_graph=True
        )
        flat = [
            (g if g is not None else torch.zeros_like(p)).reshape(-1)
            for g, p in zip(grads, params.values())
        ]
        out.append(torch.cat(flat))
    return torch.stack(out)


@pytest.mark.parametrize("case", [c for c in CASES if c.reparameterized], ids=lambda c: c.name)
def test_pyro_distribution_rsample_gradient_matches(case: Case) -> None:
    batches, size = 40, 2000
    ours = _gradient_batches(case, td, 3, batches, size)
    assert torch.isfinite(ours).all()
    if case.gradient == "pyro":
        theirs = _gradient_batches(case, pd, 4, batches, size)
        se = torch.sqrt((ours.var(0) + theirs.var(0)) / batches)
        expected = theirs.mean(0)
    else:
        params = {k: v.clone().requires_grad_() for k, v in case.params.items()}
        grads = torch.autograd.grad(case.gradient(**params), list(params.values()))
        expected = torch.cat([g.reshape(-1) for g in grads])
        se = torch.sqrt(ours.var(0) / batches)
    difference = (ours.mean(0) - expected).abs()
    assert (difference <= 5 * se + 1e-9).all(), (ours.mean(0), expected, se)


def test_lkj_corr_cholesky_warns_future_warning_like_pyro() -> None:
    for lib in (pd, td):
        with pytest.warns(FutureWarning, match="LKJCholesky"):
            lib.LKJCorrCholesky(3, t(1.0))


@pytest.mark.parametrize("lib", [pd, td], ids=["pyro", "tracegraph"])
def test_improper_uniform_and_von_mises_3d_refuse_sampling(lib: Any) -> None:
    with pytest.raises(NotImplementedError):
        lib.ImproperUniform(lib.constraints.real, (), ()).sample()
    with pytest.raises(NotImplementedError):
        lib.VonMises3D(t([1.0, 0.0, 0.0])).sample()


def test_log_normal_negative_binomial_samples_match_pyros_moments() -> None:
    # Pyro's sample raises NotImplementedError; ours draws exactly, so its sample
    # moments must match Pyro's analytic mean and variance within 5 standard errors
    # (the variance of the sample variance is estimated from the fourth moment).
    case = next(c for c in CASES if c.name == "LogNormalNegativeBinomial")
    ours, theirs = _pair(case)
    with pytest.raises(NotImplementedError):
        theirs.sample()
    torch.manual_seed(0)
    x = ours.sample((200000,))
    n = x.shape[0]
    mean, var = x.mean(0), x.var(0)
    assert ((mean - theirs.mean).abs() <= 5 * torch.sqrt(var / n)).all()
    fourth = ((x - mean) ** 4).mean(0)
    se_var = torch.sqrt((fourth - var**2) / n)
    assert ((var - theirs.variance).abs() <= 5 * se_var).all()


def test_grouped_normal_normal_posterior_matches() -> None:
    case = next(c for c in CASES if c.name == "GroupedNormalNormal")
    ours, theirs = _pair(case)
    x = case.points(theirs)  # type: ignore[misc]
    a, b = ours.get_posterior(x), theirs.get_posterior(x)
    torch.testing.assert_close(a.loc, b.loc)
    torch.testing.assert_close(a.scale, b.scale)


@pytest.mark.parametrize(
    "build",
    [
        lambda lib: lib.ZeroInflatedPoisson(t(1.0)),
        lambda lib: lib.MaskedMixture(
            torch.tensor([1, 0]), lib.Normal(0.0, 1.0), lib.Normal(0.0, 1.0)
        ),
        lambda lib: lib.LKJ(1, 1.0),
        lambda lib: lib.VonMises3D(t([1.0, 0.0])),
        lambda lib: lib.FoldedDistribution(lib.Normal(torch.zeros(2), 1.0).to_event(1)),
        lambda lib: lib.GroupedNormalNormal(t(0.0, 1.0), t(1.0, 1.0), t(1.0), t(0.0, 1.0)),
        lambda lib: lib.LogNormalNegativeBinomial(t(3.0), t(0.2), t(0.5), num_quad_points=0),
    ],
    ids=["gate", "mask", "lkj-dim", "vmf-dim", "folded-event", "group-idx", "quad-points"],
)
def test_pyro_distribution_invalid_arguments_raise_same_type(build: Callable[..., Any]) -> None:
    with pytest.raises(ValueError) as expected:
        build(pd)
    with pytest.raises(type(expected.value)):
        build(td)


@pytest.mark.parametrize(
    "build",
    [
        lambda lib: lib.SineBivariateVonMises(0.0, 0.0, 1.0, 1.0),
        lambda lib: lib.SineSkewed(lib.VonMises(t(0.0), t(1.0)), t([0.3])),
        lambda lib: lib.Stable(t(1.5), t(0.0), coords="X"),
        lambda lib: lib.MultivariateStudentT(t(3.0), torch.zeros(2), torch.eye(3)),
        lambda lib: lib.ProjectedNormal(t(1.0)),
        lambda lib: lib.MixtureOfDiagNormals(torch.zeros(2, 3), torch.ones(2, 2), torch.zeros(2)),
        lambda lib: lib.MixtureOfDiagNormalsSharedCovariance(
            torch.zeros(2, 3), torch.ones(2, 3), torch.zeros(2)
        ),
    ],
    ids=[
        "sine-correlation",
        "skewed-event",
        "stable-coords",
        "studentt-tril",
        "projected-scalar",
        "mixture-scale",
        "shared-scale",
    ],
)
def test_pyro_distribution_assertion_errors_keep_their_type(build: Callable[..., Any]) -> None:
    for lib in (pd, td):
        with pytest.raises(AssertionError):
            build(lib)


def test_pyro_distribution_warnings_match() -> None:
    for lib in (pd, td):
        with pytest.warns(UserWarning, match="bimodal"):
            lib.SineBivariateVonMises(t(0.0), t(0.0), t(0.5), t(0.5), correlation=t(0.6))
        with pytest.warns(UserWarning, match="skewness"):
            lib.SineSkewed(lib.VonMises(t([0.0, 0.0]), t(1.0)).to_event(1), t([0.8, -0.4]))


ASSIGNED = """AffineBeta AsymmetricLaplace BetaBinomial DirichletMultinomial ExtendedBetaBinomial
ExtendedBinomial FoldedDistribution GammaPoisson GroupedNormalNormal ImproperUniform LKJ
LKJCorrCholesky LogNormalNegativeBinomial Logistic MaskedMixture MixtureOfDiagNormals
MixtureOfDiagNormalsSharedCovariance MultivariateStudentT NanMaskedMultivariateNormal
NanMaskedNormal OrderedLogistic ProjectedNormal Rejector RelaxedBernoulliStraightThrough
RelaxedOneHotCategoricalStraightThrough SineBivariateVonMises SineSkewed SkewLogistic
SoftAsymmetricLaplace SoftLaplace Stable StableWithLogProb TruncatedPolyaGamma VonMises3D
ZeroInflatedDistribution ZeroInflatedNegativeBinomial ZeroInflatedPoisson""".split()


def test_every_ported_pyro_distribution_has_a_case() -> None:
    names = {c.name.split("-")[0] for c in CASES}
    assert set(ASSIGNED) <= names, sorted(set(ASSIGNED) - names)
    assert all(hasattr(td, n) and hasattr(pd, n) for n in ASSIGNED)
