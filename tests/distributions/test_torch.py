import ast
import pathlib
import pickle

import pytest
import torch

import tracegraph.distributions as dist
import tracegraph.distributions.torch as wrapped_module
from tracegraph.distributions import TorchDistributionMixin, as_tracegraph_distribution
from tracegraph.errors import SiteError

TD = torch.distributions
P3 = torch.tensor([0.2, 0.3, 0.5])

# One small instance per wrapped class, built from the same arguments for the
# torch class and ours.  A class torch adds later makes the coverage test fail.
EXAMPLES = {
    "Bernoulli": lambda: ((), {"probs": torch.tensor(0.3)}),
    "Beta": lambda: ((torch.tensor(2.0), torch.tensor(3.0)), {}),
    "Binomial": lambda: ((10,), {"probs": torch.tensor(0.3)}),
    "Categorical": lambda: ((), {"probs": P3}),
    "Cauchy": lambda: ((torch.tensor(0.0), torch.tensor(1.0)), {}),
    "Chi2": lambda: ((torch.tensor(3.0),), {}),
    "ContinuousBernoulli": lambda: ((), {"probs": torch.tensor(0.3)}),
    "Dirichlet": lambda: ((torch.tensor([1.0, 2.0, 3.0]),), {}),
    "Exponential": lambda: ((torch.tensor(2.0),), {}),
    "FisherSnedecor": lambda: ((torch.tensor(3.0), torch.tensor(4.0)), {}),
    "Gamma": lambda: ((torch.tensor(2.0), torch.tensor(3.0)), {}),
    "GeneralizedPareto": lambda: ((torch.tensor(0.0), torch.tensor(1.0), torch.tensor(0.2)), {}),
    "Geometric": lambda: ((), {"probs": torch.tensor(0.3)}),
    "Gumbel": lambda: ((torch.tensor(0.0), torch.tensor(1.0)), {}),
    "HalfCauchy": lambda: ((torch.tensor(1.0),), {}),
    "HalfNormal": lambda: ((torch.tensor(1.0),), {}),
    "Independent": lambda: ((TD.Normal(torch.zeros(2), 1.0), 1), {}),
    "InverseGamma": lambda: ((torch.tensor(2.0), torch.tensor(3.0)), {}),
    "Kumaraswamy": lambda: ((torch.tensor(2.0), torch.tensor(3.0)), {}),
    "LKJCholesky": lambda: ((3, torch.tensor(0.5)), {}),
    "Laplace": lambda: ((torch.tensor(0.0), torch.tensor(1.0)), {}),
    "LogNormal": lambda: ((torch.tensor(0.0), torch.tensor(1.0)), {}),
    "LogisticNormal": lambda: ((torch.zeros(2), torch.ones(2)), {}),
    "LowRankMultivariateNormal": lambda: ((torch.zeros(2), torch.ones(2, 1), torch.ones(2)), {}),
    "MixtureSameFamily": lambda: ((TD.Categorical(P3), TD.Normal(torch.arange(3.0), 1.0)), {}),
    "Multinomial": lambda: ((5,), {"probs": P3}),
    "MultivariateNormal": lambda: ((torch.zeros(2), torch.eye(2)), {}),
    "NegativeBinomial": lambda: ((torch.tensor(3.0),), {"probs": torch.tensor(0.4)}),
    "Normal": lambda: ((torch.tensor(0.0), torch.tensor(1.0)), {}),
    "OneHotCategorical": lambda: ((), {"probs": P3}),
    "OneHotCategoricalStraightThrough": lambda: ((), {"probs": P3}),
    "Pareto": lambda: ((torch.tensor(1.0), torch.tensor(2.0)), {}),
    "Poisson": lambda: ((torch.tensor(2.0),), {}),
    "RelaxedBernoulli": lambda: ((torch.tensor(0.5),), {"probs": torch.tensor(0.3)}),
    "RelaxedOneHotCategorical": lambda: ((torch.tensor(0.5),), {"probs": P3}),
    "StudentT": lambda: ((torch.tensor(3.0),), {}),
    "TransformedDistribution": lambda: ((TD.Normal(0.0, 1.0), [TD.ExpTransform()]), {}),
    "Uniform": lambda: ((torch.tensor(0.0), torch.tensor(1.0)), {}),
    "VonMises": lambda: ((torch.tensor(0.0), torch.tensor(1.0)), {}),
    "Weibull": lambda: ((torch.tensor(1.0), torch.tensor(2.0)), {}),
    "Wishart": lambda: ((), {"df": torch.tensor(3.0), "covariance_matrix": torch.eye(2)}),
}

# ExponentialFamily is wrapped too (as in Pyro) but abstract: no instance to test.
ABSTRACT = {"ExponentialFamily"}
WRAPPED_NAMES = sorted(
    name
    for name in wrapped_module.__all__
    if isinstance(getattr(wrapped_module, name), type)
    and issubclass(getattr(wrapped_module, name), TorchDistributionMixin)
    and name not in ABSTRACT
)


def _pair(name):
    args, kwargs = EXAMPLES[name]()
    return getattr(dist, name)(*args, **kwargs), getattr(TD, name)(*args, **kwargs)


def _value(name, d, sample_shape=()):
    if name == "Wishart":
        # torch 2.13's Wishart.sample warns "Singular sample detected" even for
        # valid samples (warnings are errors here), so use a fixed SPD value.
        return torch.eye(2).expand(torch.Size(sample_shape) + (2, 2)) * 1.5
    return d.sample(sample_shape)


def test_wrapped_names_every_torch_distribution_has_an_example():
    assert WRAPPED_NAMES == sorted(EXAMPLES)


def test_wrapped_names_same_as_torch_all():
    assert wrapped_module.__all__ == list(TD.__all__)
    assert set(TD.__all__) <= set(dist.__all__)


@pytest.mark.parametrize("name", WRAPPED_NAMES)
def test_wrapped_class_subclasses_torch_class_and_mixin(name):
    cls = getattr(dist, name)
    assert issubclass(cls, getattr(TD, name)) and issubclass(cls, TorchDistributionMixin)


@pytest.mark.parametrize("name", WRAPPED_NAMES)
def test_wrapped_class_is_importable_by_module_and_qualname(name):
    cls = getattr(dist, name)
    module = __import__(cls.__module__, fromlist=[cls.__qualname__])
    assert getattr(module, cls.__qualname__) is cls


@pytest.mark.parametrize("name", WRAPPED_NAMES)
def test_wrapped_instance_log_prob_equals_torch(name):
    ours, theirs = _pair(name)
    x = _value(name, theirs, (2,))
    assert torch.allclose(ours.log_prob(x), theirs.log_prob(x), equal_nan=True)
    assert ours.has_rsample == theirs.has_rsample


@pytest.mark.parametrize("name", WRAPPED_NAMES)
def test_wrapped_expand_returns_wrapped_class(name):
    ours, _ = _pair(name)
    expanded = ours.expand_by((2,))
    assert type(expanded) is type(ours)
    assert expanded.batch_shape == (2,) + ours.batch_shape


@pytest.mark.parametrize("name", WRAPPED_NAMES)
def test_wrapped_instance_pickles(name):
    ours, _ = _pair(name)
    ours.has_rsample = False
    copy = pickle.loads(pickle.dumps(ours))
    x = _value(name, ours)
    assert type(copy) is type(ours) and copy.has_rsample is False
    assert torch.allclose(copy.log_prob(x), ours.log_prob(x), equal_nan=True)


def test_abstract_bases_are_pyros_and_non_distributions_are_torch_objects():
    # As in Pyro: Distribution is the abstract base of tracegraph's classes only,
    # ExponentialFamily is wrapped, transforms and kl_divergence are torch's.
    assert isinstance(dist.Normal(0.0, 1.0), dist.Distribution)
    assert not isinstance(TD.Normal(0.0, 1.0), dist.Distribution)
    assert wrapped_module.Distribution is TD.Distribution
    assert issubclass(dist.ExponentialFamily, TD.ExponentialFamily)
    assert issubclass(dist.ExponentialFamily, TorchDistributionMixin)
    assert dist.ExpTransform is TD.ExpTransform and dist.kl_divergence is TD.kl_divergence


def test_kl_divergence_dispatches_on_wrapped_classes():
    kl = dist.kl_divergence(dist.Normal(0.0, 1.0), dist.Normal(1.0, 1.0))
    assert torch.allclose(kl, torch.tensor(0.5))


def test_stub_declares_the_generated_names():
    stub = pathlib.Path(wrapped_module.__file__).with_suffix(".pyi")
    tree = ast.parse(stub.read_text())
    declared = {n.name for n in tree.body if isinstance(n, ast.ClassDef | ast.FunctionDef)}
    declared |= {
        t.id
        for n in tree.body
        if isinstance(n, ast.Assign)
        for t in n.targets
        if isinstance(t, ast.Name)
    }
    declared |= {
        a.asname or a.name
        for n in tree.body
        if isinstance(n, ast.ImportFrom)
        for a in n.names
        if a.asname
    }
    declared -= {"__all__"}
    assert declared == set(wrapped_module.__all__) | {"as_tracegraph_distribution"}


# --- as_tracegraph_distribution -------------------------------------------------


def test_as_tracegraph_distribution_plain_object_shares_parameters():
    loc = torch.zeros(3, requires_grad=True)
    plain = TD.Normal(loc, 1.0)
    ours = as_tracegraph_distribution(plain)
    assert type(ours) is dist.Normal and ours.loc is loc
    assert ours.to_event(1).event_shape == (3,) and ours().requires_grad


def test_as_tracegraph_distribution_ours_returned_unchanged():
    d = dist.Normal(0.0, 1.0)
    assert as_tracegraph_distribution(d) is d


def test_as_tracegraph_distribution_keeps_plain_has_rsample_attribute():
    plain = TD.Normal(0.0, 1.0)
    plain.has_rsample = False
    assert as_tracegraph_distribution(plain).has_rsample is False


def test_as_tracegraph_distribution_plain_independent_becomes_ours():
    plain = TD.Independent(TD.Normal(torch.zeros(2), 1.0), 1)
    assert type(as_tracegraph_distribution(plain)) is dist.Independent


def test_as_tracegraph_distribution_user_torch_subclass_gets_wrapper_once():
    class Shifted(TD.Normal):
        def log_prob(self, value):
            return super().log_prob(value) + 1.0

    a = as_tracegraph_distribution(Shifted(0.0, 1.0))
    b = as_tracegraph_distribution(Shifted(1.0, 1.0))
    assert type(a) is type(b) and isinstance(a, Shifted)
    assert torch.allclose(
        a.log_prob(torch.tensor(0.0)), TD.Normal(0.0, 1.0).log_prob(torch.tensor(0.0)) + 1
    )


@pytest.mark.parametrize("bad", [torch.tensor(1.0), TD.Normal, "Normal"])
def test_as_tracegraph_distribution_non_distribution_raises(bad):
    with pytest.raises(SiteError, match="expected a distribution"):
        as_tracegraph_distribution(bad)
