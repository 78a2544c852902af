"""Differential tests: the torch-distribution part of ``pyro.distributions``,
``constraints``, ``transforms``, ``util``, ``kl`` and the param store's handling of
constraints, run through Pyro 1.9.2 and tracegraph with the same arguments and seeds.

Values are compared with ``allclose`` at float32 rounding (rtol 1e-5, atol 1e-6)
unless a check asks for bitwise equality; exceptions by type.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch

pyro = pytest.importorskip("pyro", reason="differential tests compare against pyro-ppl==1.9.2")

import pyro.distributions as pdist  # noqa: E402
import pyro.distributions.constraints as pconstraints  # noqa: E402
import pyro.distributions.transforms as ptransforms  # noqa: E402
import pyro.distributions.util as putil  # noqa: E402

import tracegraph  # noqa: E402
import tracegraph.distributions as tdist  # noqa: E402
import tracegraph.distributions.constraints as tconstraints  # noqa: E402
import tracegraph.distributions.transforms as ttransforms  # noqa: E402
import tracegraph.distributions.util as tutil  # noqa: E402

# torch's Wishart warns about singular samples it then redraws.
pytestmark = pytest.mark.filterwarnings("ignore:Singular sample detected:UserWarning")

TD = torch.distributions
P3 = torch.tensor([[0.2, 0.3, 0.5], [0.6, 0.1, 0.3]])


def same(a: Any, b: Any, exact: bool = False) -> None:
    """Assert two results agree: tensors in shape, dtype and value; tuples elementwise."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        assert isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor), (a, b)
        assert a.shape == b.shape and a.dtype == b.dtype, (a, b)
        if exact or not a.is_floating_point():
            assert torch.equal(a, b) or (a.isnan() == b.isnan()).all(), (a, b)
        else:
            assert torch.allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True), (a, b)
    elif isinstance(a, tuple | list) and not isinstance(a, torch.Size):
        assert type(a) is type(b) or {type(a), type(b)} <= {tuple, torch.Size}, (a, b)
        assert len(a) == len(b), (a, b)
        for x, y in zip(a, b):
            same(x, y, exact)
    else:
        assert a == b, (a, b)


def outcome(fn: Callable[..., Any], *args: Any) -> Any:
    """The result of ``fn(*args)``, or the type of the exception it raised."""
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001 -- comparing exception types is the point
        return type(exc)


def same_outcome(ours: Any, theirs: Any, exact: bool = False) -> None:
    if isinstance(theirs, type) and issubclass(theirs, Exception):
        assert isinstance(ours, type) and issubclass(ours, theirs), (ours, theirs)
    else:
        same(ours, theirs, exact)


# --- every torch distribution Pyro wraps -------------------------------------------

# One batched instance per class, from the same arguments in both libraries.
EXAMPLES: dict[str, Callable[[Any], tuple[tuple[Any, ...], dict[str, Any]]]] = {
    "Bernoulli": lambda d: ((), {"probs": torch.tensor([0.3, 0.6])}),
    "Beta": lambda d: ((torch.tensor([2.0, 0.5]), torch.tensor(3.0)), {}),
    "Binomial": lambda d: ((torch.tensor([10.0, 3.0]),), {"probs": torch.tensor([0.3, 0.9])}),
    "Categorical": lambda d: ((), {"probs": P3}),
    "Cauchy": lambda d: ((torch.tensor([0.0, 1.0]), torch.tensor(1.0)), {}),
    "Chi2": lambda d: ((torch.tensor([3.0, 1.5]),), {}),
    "ContinuousBernoulli": lambda d: ((), {"probs": torch.tensor([0.3, 0.8])}),
    "Dirichlet": lambda d: ((torch.tensor([[1.0, 2.0, 3.0], [0.5, 0.5, 4.0]]),), {}),
    "Exponential": lambda d: ((torch.tensor([2.0, 0.5]),), {}),
    "FisherSnedecor": lambda d: ((torch.tensor([3.0, 5.0]), torch.tensor(4.0)), {}),
    "Gamma": lambda d: ((torch.tensor([2.0, 0.7]), torch.tensor(3.0)), {}),
    "GeneralizedPareto": lambda d: ((torch.tensor(0.0), torch.tensor([1.0, 2.0]), 0.2), {}),
    "Geometric": lambda d: ((), {"probs": torch.tensor([0.3, 0.05])}),
    "Gumbel": lambda d: ((torch.tensor([0.0, 1.0]), torch.tensor(1.0)), {}),
    "HalfCauchy": lambda d: ((torch.tensor([1.0, 2.0]),), {}),
    "HalfNormal": lambda d: ((torch.tensor([1.0, 2.0]),), {}),
    "Independent": lambda d: ((d.Normal(torch.zeros(2, 3), 1.0), 1), {}),
    "InverseGamma": lambda d: ((torch.tensor([2.0, 3.0]), torch.tensor(3.0)), {}),
    "Kumaraswamy": lambda d: ((torch.tensor([2.0, 0.5]), torch.tensor(3.0)), {}),
    "LKJCholesky": lambda d: ((3, torch.tensor([0.5, 2.0])), {}),
    "Laplace": lambda d: ((torch.tensor([0.0, 1.0]), torch.tensor(1.0)), {}),
    "LogNormal": lambda d: ((torch.tensor([0.0, 1.0]), torch.tensor(1.0)), {}),
    "LogisticNormal": lambda d: ((torch.zeros(2, 2), torch.ones(2)), {}),
    "LowRankMultivariateNormal": lambda d: (
        (torch.zeros(2, 3), torch.ones(3, 1), torch.ones(3)),
        {},
    ),
    "MixtureSameFamily": lambda d: (
        (d.Categorical(P3), d.Normal(torch.arange(3.0).expand(2, 3), 1.0)),
        {},
    ),
    "Multinomial": lambda d: ((5,), {"probs": P3}),
    "MultivariateNormal": lambda d: ((torch.zeros(2, 3), torch.eye(3)), {}),
    "NegativeBinomial": lambda d: ((torch.tensor([3.0, 1.0]),), {"probs": torch.tensor(0.4)}),
    "Normal": lambda d: ((torch.tensor([0.0, 1.0]), torch.tensor(2.0)), {}),
    "OneHotCategorical": lambda d: ((), {"probs": P3}),
    "OneHotCategoricalStraightThrough": lambda d: ((), {"probs": P3}),
    "Pareto": lambda d: ((torch.tensor([1.0, 2.0]), torch.tensor(2.0)), {}),
    "Poisson": lambda d: ((torch.tensor([2.0, 0.5]),), {}),
    "RelaxedBernoulli": lambda d: ((torch.tensor(0.5),), {"probs": torch.tensor([0.3, 0.7])}),
    "RelaxedOneHotCategorical": lambda d: ((torch.tensor(0.5),), {"probs": P3}),
    "StudentT": lambda d: ((torch.tensor([3.0, 10.0]),), {}),
    "TransformedDistribution": lambda d: (
        (d.Normal(torch.zeros(2), 1.0), [d.transforms.ExpTransform()]),
        {},
    ),
    "Uniform": lambda d: ((torch.tensor([0.0, -1.0]), torch.tensor(1.0)), {}),
    "VonMises": lambda d: ((torch.tensor([0.0, 1.0]), torch.tensor(1.0)), {}),
    "Weibull": lambda d: ((torch.tensor([1.0, 2.0]), torch.tensor(2.0)), {}),
    "Wishart": lambda d: ((), {"df": torch.tensor([3.0, 4.0]), "covariance_matrix": torch.eye(2)}),
}

NAMES = sorted(EXAMPLES)


def test_examples_cover_every_torch_distribution_pyro_wraps():
    import pyro.distributions.torch as ptorch

    wrapped = {
        name
        for name in ptorch.__all__
        if isinstance(getattr(ptorch, name), type) and name != "ExponentialFamily"
    }
    assert wrapped == set(EXAMPLES)


def pair(name: str) -> tuple[Any, Any]:
    args, kwargs = EXAMPLES[name](tdist)
    ours = getattr(tdist, name)(*args, **kwargs)
    args, kwargs = EXAMPLES[name](pdist)
    theirs = getattr(pdist, name)(*args, **kwargs)
    return ours, theirs


def draw(d: Any, shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    torch.manual_seed(seed)
    return d.sample(shape)


@pytest.mark.parametrize("name", NAMES)
def test_distribution_shapes_flags_and_support_equal(name):
    ours, theirs = pair(name)
    assert ours.batch_shape == theirs.batch_shape and ours.event_shape == theirs.event_shape
    assert ours.event_dim == theirs.event_dim and ours.shape((2,)) == theirs.shape((2,))
    assert ours.has_rsample == theirs.has_rsample
    assert ours.has_enumerate_support == theirs.has_enumerate_support
    assert repr(ours.support) == repr(theirs.support)
    assert type(ours).__name__ == type(theirs).__name__
    assert isinstance(ours, tdist.Distribution) and isinstance(ours, tdist.TorchDistributionMixin)


@pytest.mark.parametrize("name", NAMES)
def test_distribution_samples_and_log_probs_equal_with_same_seed(name):
    ours, theirs = pair(name)
    x_ours, x_theirs = draw(ours, (4,)), draw(theirs, (4,))
    same(x_ours, x_theirs, exact=True)
    same(ours.log_prob(x_theirs), theirs.log_prob(x_theirs))
    if theirs.has_rsample:
        torch.manual_seed(1)
        r_ours = ours.rsample((3,))
        torch.manual_seed(1)
        same(r_ours, theirs.rsample((3,)), exact=True)
    torch.manual_seed(2)
    c_ours = ours()
    torch.manual_seed(2)
    same(c_ours, theirs(), exact=True)


@pytest.mark.parametrize("name", NAMES)
def test_distribution_score_parts_equal(name):
    ours, theirs = pair(name)
    x = draw(theirs, (2,))
    for flag in (True, False):
        if flag and not theirs.has_rsample:
            continue
        ours.has_rsample_(flag)
        if outcome(theirs.has_rsample_, flag) is AttributeError:
            # Pyro cannot set it where torch's has_rsample is a property (Gumbel,
            # Independent, TransformedDistribution, ...); ours can.
            assert ours.has_rsample is flag
            parts = ours.score_parts(x)
            assert isinstance(parts.entropy_term, torch.Tensor) is flag
            continue
        a, b = ours.score_parts(x), theirs.score_parts(x)
        for u, v in zip(a, b):
            same(u, v)


@pytest.mark.parametrize("name", NAMES)
def test_distribution_expand_to_event_and_mask_equal(name):
    ours, theirs = pair(name)
    e_ours, e_theirs = ours.expand_by((3,)), theirs.expand_by((3,))
    assert type(e_ours).__name__ == type(e_theirs).__name__
    assert e_ours.batch_shape == e_theirs.batch_shape
    x = draw(e_theirs, ())
    same(e_ours.log_prob(x), e_theirs.log_prob(x))
    i_ours, i_theirs = e_ours.to_event(1), e_theirs.to_event(1)
    assert type(i_ours).__name__ == type(i_theirs).__name__
    assert i_ours.event_shape == i_theirs.event_shape
    same(i_ours.log_prob(x), i_theirs.log_prob(x))
    same(i_ours.to_event(-1).log_prob(x), i_theirs.to_event(-1).log_prob(x))
    # A float 0/1 mask, as .mask(z) with a sampled Bernoulli z.
    mask = torch.tensor([1.0, 0.0, 1.0]).reshape((3,) + (1,) * len(ours.batch_shape))
    same(e_ours.mask(mask).log_prob(x), e_theirs.mask(mask).log_prob(x))
    same(e_ours.mask(False).log_prob(x), e_theirs.mask(False).log_prob(x))


@pytest.mark.parametrize("name", [n for n in NAMES if n not in {"MixtureSameFamily"}])
def test_distribution_moments_and_enumeration_equal(name):
    ours, theirs = pair(name)
    for attr in ("mean", "variance", "mode"):
        same_outcome(outcome(getattr, ours, attr), outcome(getattr, theirs, attr))
    same_outcome(outcome(ours.enumerate_support), outcome(theirs.enumerate_support))
    same_outcome(
        outcome(lambda: ours.enumerate_support(False)),
        outcome(lambda: theirs.enumerate_support(False)),
    )
    same_outcome(outcome(ours.entropy), outcome(theirs.entropy))


INFER_SHAPES = [
    ("Normal", {"loc": (2, 3), "scale": (3,)}),
    ("Normal", {"loc": (2,), "bogus": (7,)}),
    ("Categorical", {"logits": (3, 4)}),
    ("Bernoulli", {"probs": (2,), "logits": (3, 1)}),
    ("Dirichlet", {"concentration": (5, 3)}),
    ("MultivariateNormal", {"loc": (2, 3), "covariance_matrix": (3, 3)}),
    ("MultivariateNormal", {"loc": (3,), "precision_matrix": (2, 1, 3, 3)}),
    ("LowRankMultivariateNormal", {"loc": (5, 3), "cov_factor": (3, 2), "cov_diag": (1, 3)}),
    ("Multinomial", {"total_count": (4,), "probs": (1, 3)}),
    ("OneHotCategorical", {"logits": (2, 3)}),
    ("Uniform", {"low": (2, 1), "high": (3,)}),
    ("Uniform", {"low": (2,)}),
    ("Wishart", {"df": (2,), "covariance_matrix": (3, 3)}),
    ("RelaxedOneHotCategorical", {"temperature": (), "probs": (2, 3)}),
    ("Independent", {"base_distribution": ()}),
    ("MixtureSameFamily", {}),
    ("Binomial", {"total_count": (2,), "probs": (3, 1)}),
]


@pytest.mark.parametrize("name, shapes", INFER_SHAPES)
def test_infer_shapes_equal(name, shapes):
    ours = outcome(lambda: getattr(tdist, name).infer_shapes(**shapes))
    theirs = outcome(lambda: getattr(pdist, name).infer_shapes(**shapes))
    same_outcome(ours, theirs)


@pytest.mark.parametrize("family", ["Beta", "Gamma", "Dirichlet"])
def test_conjugate_update_equal(family):
    def make(d, k):
        torch.manual_seed(k)
        if family == "Dirichlet":
            return d.Dirichlet(torch.rand(2, 3) + 0.5)
        return getattr(d, family)(torch.rand(2) + 0.5, torch.rand(2) + 0.5)

    ours, log_norm_ours = make(tdist, 0).conjugate_update(make(tdist, 1))
    theirs, log_norm_theirs = make(pdist, 0).conjugate_update(make(pdist, 1))
    same(log_norm_ours, log_norm_theirs)
    x = draw(theirs, (3,))
    same(ours.log_prob(x), theirs.log_prob(x))
    # Masked and expanded versions.
    mask = torch.tensor([True, False])
    m_ours, ln_ours = make(tdist, 0).mask(mask).conjugate_update(make(tdist, 1))
    m_theirs, ln_theirs = make(pdist, 0).mask(mask).conjugate_update(make(pdist, 1))
    same(ln_ours, ln_theirs)
    same(m_ours.log_prob(x), m_theirs.log_prob(x))
    same_outcome(
        outcome(lambda: make(tdist, 0).conjugate_update(tdist.Normal(0.0, 1.0))),
        outcome(lambda: make(pdist, 0).conjugate_update(pdist.Normal(0.0, 1.0))),
    )


def test_non_conjugate_update_raises_the_same():
    same_outcome(
        outcome(lambda: tdist.Normal(0.0, 1.0).conjugate_update(tdist.Normal(0.0, 1.0))),
        outcome(lambda: pdist.Normal(0.0, 1.0).conjugate_update(pdist.Normal(0.0, 1.0))),
    )


def test_to_event_independent_and_reshape_equal():
    for d in (tdist, pdist):
        assert d.Normal(torch.zeros(2, 3), 1.0).to_event(0).__class__.__name__ == "Normal"
    cases: list[Callable[[Any], Any]] = [
        lambda d: d.Normal(torch.zeros(2, 3), 1.0).to_event(3),
        lambda d: d.Normal(torch.zeros(2, 3), 1.0).to_event(-1),
        lambda d: d.Normal(torch.zeros(2, 3), 1.0).to_event(1).to_event(-2),
        lambda d: d.Normal(torch.zeros(2, 3), 1.0).reshape((2,)),
        lambda d: d.Normal(torch.zeros(2, 3), 1.0).mask(torch.ones(5)),
        lambda d: d.Normal(torch.zeros(2, 3), 1.0).has_rsample_(1),
    ]
    for case in cases:
        same_outcome(outcome(case, tdist), outcome(case, pdist))
    with pytest.warns(DeprecationWarning, match="to_event"):
        ours = tdist.Normal(torch.zeros(2, 3), 1.0).independent(1)
    with pytest.warns(DeprecationWarning, match="to_event"):
        theirs = pdist.Normal(torch.zeros(2, 3), 1.0).independent(1)
    assert ours.event_shape == theirs.event_shape


def test_mask_of_float_bernoulli_sample_equal():
    torch.manual_seed(0)
    z = pdist.Bernoulli(0.5).sample((4,))
    x = torch.randn(4)
    ours = tdist.Normal(torch.zeros(4), 1.0).mask(z)
    theirs = pdist.Normal(torch.zeros(4), 1.0).mask(z)
    same(ours.log_prob(x), theirs.log_prob(x))
    same(ours._mask, theirs._mask)


def test_binomial_pyro_extras_equal():
    n, p = torch.tensor([0.0, 5.0, 100.0, 1000.0]), torch.tensor([0.3, 0.0, 0.5, 0.01])
    value = torch.tensor([0.0, 3.0, 50.0, 3.0])
    assert tdist.Binomial.approx_sample_thresh == pdist.Binomial.approx_sample_thresh
    assert tdist.Binomial.approx_log_prob_tol == pdist.Binomial.approx_log_prob_tol
    for dtype in (torch.float32, torch.float64):
        for tol in (0.0, 0.05, 0.1):
            ours, theirs = (
                d.Binomial(n.to(dtype), p.to(dtype), validate_args=False) for d in (tdist, pdist)
            )
            ours.approx_log_prob_tol = theirs.approx_log_prob_tol = tol
            a, b = ours.log_prob(value.to(dtype)), theirs.log_prob(value.to(dtype))
            if tol == 0:
                same(a, b, exact=True)  # the same arithmetic as Pyro's
            else:
                # The Stirling series sums terms of size ~ n log n = 7000 for
                # n = 1000: float32 rounding (eps 1.2e-7) of that order is ~1e-3.
                atol = 2e-3 if dtype == torch.float32 else 1e-9
                assert torch.allclose(a, b, rtol=0, atol=atol), (a, b)


def test_binomial_approximate_sampler_matches_moments():
    # Pyro's normal-approximation draws differ from ours draw by draw; both must
    # have the binomial's mean n p and variance n p (1 - p).  20000 draws give a
    # standard error of sqrt(210 / 20000) ~ 0.1 on the mean: 5 standard errors
    # is 0.5; the variance's relative standard error is ~ sqrt(2 / 20000) = 1%.
    d = tdist.Binomial(torch.tensor(1000.0), torch.tensor(0.3))
    d.approx_sample_thresh = 10
    x = d.sample((20000,))
    assert abs(x.mean().item() - 300.0) < 0.5
    assert abs(x.var().item() / 210.0 - 1) < 0.05
    assert torch.equal(x, x.round()) and x.min() >= 0 and x.max() <= 1000


def test_geometric_poisson_uniform_lognormal_pyro_overrides_equal():
    probs = torch.tensor([0.3, 1.0, 1e-8])
    k = torch.tensor([[0.0, 2.0, 5.0]])
    same(
        tdist.Geometric(probs, validate_args=False).log_prob(k),
        pdist.Geometric(probs, validate_args=False).log_prob(k),
        exact=True,
    )
    rate, counts = torch.tensor([[1.0], [2.5]]), torch.tensor([0.0, 1.0, 3.0])
    same(
        tdist.Poisson(rate, is_sparse=True).log_prob(counts),
        pdist.Poisson(rate, is_sparse=True).log_prob(counts),
    )
    assert tdist.Poisson(rate, is_sparse=True).expand((2, 3)).is_sparse
    u_ours = tdist.Uniform(torch.zeros(2), 1.0).expand((3, 2))
    u_theirs = pdist.Uniform(torch.zeros(2), 1.0).expand((3, 2))
    same(u_ours.support.lower_bound, u_theirs.support.lower_bound)
    assert type(tdist.LogNormal(0.0, 1.0).expand((2,)).base_dist).__name__ == "Normal"
    assert isinstance(tdist.LogNormal(0.0, 1.0).base_dist, tdist.TorchDistributionMixin)


def test_independent_validate_args_follows_base_as_in_pyro():
    for d in (tdist, pdist):
        base = d.Normal(torch.zeros(2), 1.0, validate_args=False)
        ind = d.Independent(base, 1)
        assert ind._validate_args is False
        ind._validate_args = True
        assert base._validate_args is True


def test_random_variable_arithmetic_equal():
    def build(d):
        x = d.Uniform(0.0, 1.0).rv
        return [
            (2 * x + 1).dist,
            (x**2).dist,
            (1 - x).dist,
            (-abs(x / 2)).dist,
            x.exp().log().sigmoid().tanh().dist,
            x.add(3).sub(1).mul(2).div(4).pow(3).neg().abs().dist,
        ]

    value = torch.tensor([0.2, 0.7])
    for ours, theirs in zip(build(tdist), build(pdist)):
        torch.manual_seed(0)
        a = ours.sample((3,))
        torch.manual_seed(0)
        same(a, theirs.sample((3,)), exact=True)
        same(outcome(ours.log_prob, value), outcome(theirs.log_prob, value))


# --- KL divergence --------------------------------------------------------------------


def kl_cases(d: Any) -> list[tuple[Any, Any]]:
    a, b = d.Normal(torch.zeros(2, 3), 1.0), d.Normal(torch.ones(2, 3), 2.0)
    mvn = d.MultivariateNormal(torch.ones(3), torch.eye(3) * 2.0)
    return [
        (d.Delta(torch.tensor([0.5, 1.0])), d.Normal(torch.zeros(2), 1.0)),
        (d.Delta(torch.tensor([0.5, 1.0]), event_dim=1), d.Normal(torch.zeros(2), 1.0).to_event(1)),
        (a.mask(torch.tensor([True, False, True])), b.mask(torch.tensor([True, True, False]))),
        (a.mask(False), b.mask(True)),
        (a.mask(True), b),
        (a.to_event(1), b.to_event(1)),
        (a.to_event(1).to_event(1), b.to_event(2)),
        (a.to_event(2), b.to_event(1).to_event(1)),
        (a.to_event(1), b.to_event(2)),
        (d.Normal(torch.zeros(2, 3), 0.5).to_event(1), mvn),
        (d.Normal(torch.zeros(2, 3), 0.5).to_event(2), mvn),
        (d.Beta(2.0, 3.0), d.Beta(1.0, 1.0)),
    ]


def test_kl_divergence_and_kl_module_equal():
    assert tdist.kl.kl_divergence is pdist.kl.kl_divergence
    for (p1, q1), (p2, q2) in zip(kl_cases(tdist), kl_cases(pdist)):
        same_outcome(
            outcome(tdist.kl.kl_divergence, p1, q1),
            outcome(pdist.kl.kl_divergence, p2, q2),
        )


# --- constraints ------------------------------------------------------------------------

CONSTRAINT_VALUES = [
    torch.tensor([1.0, 2.0, 3.0]),
    torch.tensor([0.6, 0.8]),
    torch.tensor([1.0, 2.5, -3.0]),
    torch.tensor([float("inf"), float("nan"), 4.0]),
    torch.tensor([[1.0, 0.0], [0.3, 1.0]]),
    torch.tensor([[1.0, 0.5], [0.5, 1.0]]),
    torch.tensor([[1.0, 0.5], [0.5, 1.000002]]),
    torch.tensor([[2.0, 1.0], [1.0, 3.0]]),
    torch.tensor([[0.2, 0.3, 0.5], [0.6, 0.1, 0.1]]),
    torch.eye(3).expand(2, 3, 3),
]


@pytest.mark.parametrize("name", pconstraints.__all__)
def test_constraint_checks_and_attributes_equal(name):
    theirs, ours = getattr(pconstraints, name), getattr(tconstraints, name)
    if not isinstance(theirs, TD.constraints.Constraint):
        assert ours is theirs  # classes and helper functions are torch's own
        return
    assert repr(ours) == repr(theirs)
    same_outcome(outcome(lambda: ours.event_dim), outcome(lambda: theirs.event_dim))
    same_outcome(outcome(lambda: ours.is_discrete), outcome(lambda: theirs.is_discrete))
    for value in CONSTRAINT_VALUES:
        for dtype in (torch.float32, torch.float64):
            v = value.to(dtype)
            same_outcome(outcome(ours.check, v), outcome(theirs.check, v))


def _registered(registry: Any, constraint: Any) -> Any:
    try:
        return registry(constraint)
    except NotImplementedError:
        return None


@pytest.mark.parametrize(
    "name",
    [
        n
        for n in pconstraints.__all__
        if isinstance(getattr(pconstraints, n), TD.constraints.Constraint)
    ],
)
@pytest.mark.parametrize("registry", [TD.biject_to, TD.transform_to], ids=["biject", "transform"])
def test_biject_to_and_transform_to_equal(name, registry):
    theirs = _registered(registry, getattr(pconstraints, name))
    ours = _registered(registry, getattr(tconstraints, name))
    assert (ours is None) == (theirs is None), (name, ours, theirs)
    if theirs is None:
        return
    assert repr(ours) == repr(theirs)
    shape = (4, 3, 3) if theirs.domain.event_dim == 2 else (4, 3)
    torch.manual_seed(0)
    x = torch.randn(shape, dtype=torch.float64)
    y_ours, y_theirs = ours(x), theirs(x)
    same(y_ours, y_theirs)
    same(ours.inv(y_theirs), theirs.inv(y_theirs))
    same_outcome(
        outcome(lambda: ours.log_abs_det_jacobian(x, y_theirs)),
        outcome(lambda: theirs.log_abs_det_jacobian(x, y_theirs)),
    )


# --- transforms ---------------------------------------------------------------------------


def _spd(batch: int = 2, n: int = 3) -> torch.Tensor:
    torch.manual_seed(3)
    a = torch.randn(batch, n, n, dtype=torch.float64)
    return a @ a.mT + torch.eye(n, dtype=torch.float64)


def _corr(batch: int = 2, n: int = 3) -> torch.Tensor:
    p = _spd(batch, n)
    d = torch.diag_embed(p.diagonal(dim1=-2, dim2=-1).rsqrt())
    return d @ p @ d


X = torch.randn(2, 5, dtype=torch.float64)

TRANSFORMS: list[tuple[str, Callable[[Any], Any], Callable[[], torch.Tensor]]] = [
    ("OrderedTransform", lambda T: T.OrderedTransform(), lambda: X),
    ("SoftplusTransform", lambda T: T.SoftplusTransform(), lambda: X),
    (
        "SoftplusLowerCholeskyTransform",
        lambda T: T.SoftplusLowerCholeskyTransform(),
        lambda: _spd().tril(),
    ),
    ("UnitLowerCholeskyTransform", lambda T: T.UnitLowerCholeskyTransform(), lambda: _spd()),
    ("CholeskyTransform", lambda T: T.CholeskyTransform(), _spd),
    ("CorrMatrixCholeskyTransform", lambda T: T.CorrMatrixCholeskyTransform(), _corr),
    ("PositivePowerTransform", lambda T: T.PositivePowerTransform(torch.tensor(2.5)), lambda: X),
    (
        "PositivePowerTransform",
        lambda T: T.PositivePowerTransform(torch.tensor([1.5, 3.0])),
        lambda: X[..., :2],
    ),
    (
        "SimplexToOrderedTransform",
        lambda T: T.SimplexToOrderedTransform(),
        lambda: torch.softmax(X, -1),
    ),
    (
        "SimplexToOrderedTransform",
        lambda T: T.SimplexToOrderedTransform(torch.tensor(0.7)),
        lambda: torch.softmax(X, -1),
    ),
    ("DiscreteCosineTransform", lambda T: T.DiscreteCosineTransform(), lambda: X),
    (
        "DiscreteCosineTransform",
        lambda T: T.DiscreteCosineTransform(dim=-2, smooth=1.0),
        lambda: X.reshape(2, 5, 1).expand(2, 5, 3).contiguous(),
    ),
    ("HaarTransform", lambda T: T.HaarTransform(), lambda: X),
    ("HaarTransform", lambda T: T.HaarTransform(dim=-2, flip=True), lambda: X.reshape(2, 5, 1)),
    ("ELUTransform", lambda T: T.ELUTransform(), lambda: X),
    ("LeakyReLUTransform", lambda T: T.LeakyReLUTransform(), lambda: X),
    ("Normalize", lambda T: T.Normalize(), lambda: torch.cat([X, X.new_zeros(1, 5)])),
    ("Normalize", lambda T: T.Normalize(p=1), lambda: X),
    ("Permute", lambda T: T.Permute(torch.tensor([2, 0, 4, 1, 3])), lambda: X),
    (
        "Permute",
        lambda T: T.Permute(torch.tensor([1, 0]), dim=-2),
        lambda: X.reshape(5, 2, 1),
    ),
    (
        "LowerCholeskyAffine",
        lambda T: T.LowerCholeskyAffine(
            torch.ones(5, dtype=torch.float64), torch.linalg.cholesky(_spd(1, 5)[0])
        ),
        lambda: X,
    ),
    ("identity_transform", lambda T: T.identity_transform, lambda: X),
]


@pytest.mark.parametrize("name, make, value", TRANSFORMS, ids=[t[0] for t in TRANSFORMS])
def test_transform_forward_inverse_jacobian_and_attributes_equal(name, make, value):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        ours, theirs = make(ttransforms), make(ptransforms)
    x = value()
    assert repr(ours) == repr(theirs)
    assert repr(ours.domain) == repr(theirs.domain)
    assert repr(ours.codomain) == repr(theirs.codomain)
    assert ours.bijective == theirs.bijective and ours.event_dim == theirs.event_dim
    same_outcome(outcome(lambda: ours.sign), outcome(lambda: theirs.sign))
    y_ours, y_theirs = ours(x), theirs(x)
    same(y_ours, y_theirs)
    same(ours.inv(y_theirs), theirs.inv(y_theirs))
    ladj_ours = outcome(lambda: ours.log_abs_det_jacobian(x, y_theirs))
    ladj_theirs = outcome(lambda: theirs.log_abs_det_jacobian(x, y_theirs))
    if name == "SimplexToOrderedTransform" and bool(theirs.anchor_point != 0):
        # Pyro's Jacobian uses sigmoid(-y), forgetting the anchor point; ours is
        # the true one, -sum log(c (1 - c)) over the cumulative sums c (which do
        # not depend on the anchor).  docs/pyro-differences.md.
        c = x.cumsum(-1)[..., :-1]
        same(ladj_ours, -(c * (1 - c)).log().sum(-1))
    else:
        same_outcome(ladj_ours, ladj_theirs)
    assert ours.forward_shape(x.shape) == theirs.forward_shape(x.shape)
    assert ours.inverse_shape(y_theirs.shape) == theirs.inverse_shape(y_theirs.shape)
    cached_ours, cached_theirs = (
        outcome(lambda: ours.with_cache(1)),
        outcome(lambda: theirs.with_cache(1)),
    )
    if isinstance(cached_theirs, type):
        assert cached_ours is cached_theirs
    else:
        assert cached_ours._cache_size == cached_theirs._cache_size


def test_transform_helpers_equal():
    for fn in ("elu", "leaky_relu"):
        assert repr(getattr(ttransforms, fn)()) == repr(getattr(ptransforms, fn)())
    torch.manual_seed(0)
    ours = ttransforms.permute(5)
    torch.manual_seed(0)
    theirs = ptransforms.permute(5)
    same(ours.permutation, theirs.permutation)
    assert ttransforms.permute((5, 3), dim=-2).permutation.shape == (5,)
    iterated_ours = ttransforms.iterated(3, ttransforms.ELUTransform)
    iterated_theirs = ptransforms.iterated(3, ptransforms.ELUTransform)
    assert type(iterated_ours).__name__ == type(iterated_theirs).__name__
    same(iterated_ours(X), iterated_theirs(X))
    same_outcome(
        outcome(lambda: ttransforms.DiscreteCosineTransform(dim=1)),
        outcome(lambda: ptransforms.DiscreteCosineTransform(dim=1)),
    )
    same_outcome(
        outcome(lambda: ttransforms.PositivePowerTransform(torch.tensor(-1.0))),
        outcome(lambda: ptransforms.PositivePowerTransform(torch.tensor(-1.0))),
    )
    with pytest.warns(FutureWarning, match="CorrCholeskyTransform"):
        ttransforms.CorrLCholeskyTransform()


# --- util -------------------------------------------------------------------------------------

UTIL_CASES: list[tuple[str, Callable[[Any], Any]]] = [
    ("broadcast_shape", lambda u: u.broadcast_shape((3, 1), (4,), ())),
    ("broadcast_shape", lambda u: u.broadcast_shape((2,), (3,))),
    ("broadcast_shape strict", lambda u: u.broadcast_shape((3, 4), (4,), strict=True)),
    ("broadcast_shape strict", lambda u: u.broadcast_shape((1, 4), (3, 4), strict=True)),
    ("broadcast_shape zero", lambda u: u.broadcast_shape((0,), (1,))),
    (
        "sum_rightmost",
        lambda u: [
            u.sum_rightmost(torch.arange(24.0).reshape(2, 3, 4), d)
            for d in (0, 1, 2, 3, 4, -1, -3, -4, -5, math.inf)
        ],
    ),
    (
        "sum_leftmost",
        lambda u: [
            u.sum_leftmost(torch.arange(24.0).reshape(2, 3, 4), d)
            for d in (0, 1, 2, 3, 4, -1, -3, -4, -5, math.inf)
        ],
    ),
    ("sum numbers", lambda u: (u.sum_rightmost(2.0, 3), u.sum_leftmost(3, 1))),
    (
        "is_identically",
        lambda u: [
            f(x)
            for f in (u.is_identically_zero, u.is_identically_one)
            for x in (0, 0.0, 1, 1.0, True, False, torch.tensor(0.0), 2)
        ],
    ),
    ("scalar_like", lambda u: u.scalar_like(torch.zeros(2, dtype=torch.float64), 3.0)),
    (
        "eye_like",
        lambda u: (
            u.eye_like(torch.zeros(1, dtype=torch.float64), 3),
            u.eye_like(torch.zeros(1), 2, 3),
        ),
    ),
    (
        "gather",
        lambda u: u.gather(torch.arange(12.0).reshape(3, 4), torch.tensor([[1], [3], [0]]), -1),
    ),
    (
        "gather batched",
        lambda u: u.gather(torch.arange(12.0).reshape(3, 4), torch.tensor([[[1]], [[3]]]), -1),
    ),
    (
        "gather dim 0",
        lambda u: u.gather(torch.arange(12.0).reshape(3, 4), torch.tensor([[1, 2, 0, 0]]), 0),
    ),
    (
        "scale_and_mask",
        lambda u: (
            u.scale_and_mask(torch.ones(2), 2.0, None),
            u.scale_and_mask(0, 2.0, torch.tensor([True, False])),
            u.scale_and_mask(torch.ones(2), 3.0, False),
            u.scale_and_mask(torch.tensor([-math.inf, 1.0]), 2.0, torch.tensor([False, True])),
            u.scale_and_mask(torch.ones(1), 2.0, torch.tensor([True, False])),
        ),
    ),
    ("logsumexp", lambda u: (u.logsumexp(torch.ones(3), 0), u.log_sum_exp(torch.ones(3), 0))),
    ("detach", lambda u: u.detach([torch.ones(2, requires_grad=True) * 2])[0].requires_grad),
    ("deep_to", lambda u: u.deep_to({"x": torch.ones(1)}, torch.float64)["x"]),
    ("validation", lambda u: u.is_validation_enabled()),
]


@pytest.mark.parametrize("name, case", UTIL_CASES, ids=[c[0] for c in UTIL_CASES])
def test_util_functions_equal(name, case):
    same_outcome(outcome(lambda: case(tutil)), outcome(lambda: case(putil)), exact=True)


def test_util_torch_reexports_are_torchs():
    assert tutil.broadcast_all is putil.broadcast_all
    assert tutil.torch_jit_script_if_tracing is putil.torch_jit_script_if_tracing
    assert tutil.logsumexp is putil.logsumexp


def test_util_weakmethod_and_copy_docs_from_equal():
    for u in (tutil, putil):

        class Base:
            def f(self):
                """Doc of f."""

        @u.copy_docs_from(Base)
        class Child(Base):
            def f(self):
                pass

        assert Child.f.__doc__.startswith("See :meth:")

        class Listener:
            @u.weakmethod
            def on(self, x):
                return 2 * x

        listener = Listener()
        callback = listener.on
        assert callback(3) == 6
        del listener
        with pytest.raises(AttributeError, match="garbage collected"):
            callback(3)


# --- param store: every constraint -----------------------------------------------------------

PARAM_INITS: list[tuple[str, Callable[[Any], Any], torch.Tensor]] = [
    ("real", lambda c: c.real, torch.tensor([1.0, -2.0])),
    ("positive", lambda c: c.positive, torch.tensor([1.0, 2.0])),
    ("softplus_positive", lambda c: c.softplus_positive, torch.tensor([1.0, 2.0])),
    ("greater_than", lambda c: c.greater_than(1.0), torch.tensor(3.0)),
    ("less_than", lambda c: c.less_than(1.0), torch.tensor(-3.0)),
    ("interval", lambda c: c.interval(-1.0, 2.0), torch.tensor([0.5, 1.9])),
    ("interval outside", lambda c: c.interval(0.0, 1.0), torch.tensor(1.5)),
    ("unit_interval", lambda c: c.unit_interval, torch.tensor([0.1, 0.9])),
    ("simplex", lambda c: c.simplex, torch.tensor([0.2, 0.3, 0.5])),
    ("simplex unnormalised", lambda c: c.simplex, torch.exp(torch.randn(3))),
    ("lower_cholesky", lambda c: c.lower_cholesky, torch.tensor([[2.0, 0.0], [1.0, 3.0]])),
    ("lower_cholesky full", lambda c: c.lower_cholesky, torch.tensor([[1.0, 2.0], [3.0, 4.0]])),
    (
        "softplus_lower_cholesky",
        lambda c: c.softplus_lower_cholesky,
        torch.tensor([[2.0, 0.0], [1.0, 3.0]]),
    ),
    (
        "unit_lower_cholesky",
        lambda c: c.unit_lower_cholesky,
        torch.tensor([[2.0, 1.0], [1.0, 2.0]]),
    ),
    ("positive_definite", lambda c: c.positive_definite, torch.tensor([[2.0, 0.5], [0.5, 1.0]])),
    ("corr_cholesky", lambda c: c.corr_cholesky, torch.eye(3) * 2),
    ("corr_matrix", lambda c: c.corr_matrix, torch.tensor([[2.0, 0.5], [0.5, 1.0]])),
    ("ordered_vector", lambda c: c.ordered_vector, torch.tensor([-1.0, 0.5, 3.0])),
    ("positive_ordered_vector", lambda c: c.positive_ordered_vector, torch.tensor([0.5, 1.0, 3.0])),
    ("sphere", lambda c: c.sphere, torch.tensor([3.0, 4.0])),
    ("real_vector", lambda c: c.real_vector, torch.tensor([1.0, 2.0])),
    ("independent positive", lambda c: c.independent(c.positive, 1), torch.tensor([1.0, 2.0])),
    ("stack", lambda c: c.stack([c.positive, c.real], dim=0), torch.tensor([1.0, -1.0])),
    (
        "cat",
        lambda c: c.cat([c.positive, c.real], dim=0, lengths=[1, 1]),
        torch.tensor([1.0, -1.0]),
    ),
]


@pytest.mark.parametrize("name, make, init", PARAM_INITS, ids=[p[0] for p in PARAM_INITS])
def test_param_store_value_after_init_equal(name, make, init):
    pyro.clear_param_store()
    theirs = pyro.param("p", init.clone(), constraint=make(pconstraints))
    tracegraph.clear_param_store()
    ours = tracegraph.param("p", init.clone(), constraint=make(tconstraints))
    same(ours.detach(), theirs.detach())
    # One SGD step on the unconstrained value moves both the same way.
    loss_theirs = (theirs**2).sum()
    loss_ours = (ours**2).sum()
    leaf_theirs = pyro.get_param_store()._params["p"]
    leaf_ours = ours.unconstrained()
    (g_theirs,) = torch.autograd.grad(loss_theirs, leaf_theirs)
    (g_ours,) = torch.autograd.grad(loss_ours, leaf_ours)
    same(g_ours, g_theirs)


@pytest.mark.parametrize(
    "make, init",
    [
        (lambda c: c.positive, torch.tensor([1.0, -1.0])),
        (lambda c: c.ordered_vector, torch.tensor([3.0, 1.0, 2.0])),
        (lambda c: c.integer, torch.tensor(1.5)),
        (lambda c: c.boolean, torch.tensor(1.0)),
    ],
)
def test_param_store_refuses_what_pyro_stores_as_nan_or_cannot_store(make, init):
    # Pyro stores NaN (or raises NotImplementedError); we raise, naming the param.
    pyro.clear_param_store()
    theirs = outcome(lambda: pyro.param("p", init.clone(), constraint=make(pconstraints)))
    tracegraph.clear_param_store()
    ours = outcome(lambda: tracegraph.param("p", init.clone(), constraint=make(tconstraints)))
    assert isinstance(ours, type) and issubclass(ours, ValueError)
    assert theirs is NotImplementedError or torch.isnan(theirs).any()
