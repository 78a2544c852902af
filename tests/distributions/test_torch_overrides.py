import math

import pytest
import torch

import tracegraph.distributions as dist


def test_binomial_log_prob_exact_by_default_and_approximate_on_request():
    n, p, k = torch.tensor(30.0), torch.tensor(0.3), torch.tensor(7.0)
    exact = math.log(math.comb(30, 7)) + 7 * math.log(0.3) + 23 * math.log(0.7)
    d = dist.Binomial(n, p)
    assert d.log_prob(k).item() == pytest.approx(exact, abs=1e-4)
    d.approx_log_prob_tol = 0.1
    assert abs(d.log_prob(k).item() - exact) < 0.1


def test_binomial_approximate_sampling_above_threshold_only():
    d = dist.Binomial(torch.tensor([5.0, 1000.0]), torch.tensor(0.3))
    d.approx_sample_thresh = 100
    torch.manual_seed(0)
    x = d.sample((4000,))
    # Exact part unchanged: the same draws as torch's sampler for the small count
    # would need the same RNG stream, so check support and moments instead.  4000
    # draws: standard errors 0.016 (n=5) and 0.23 (n=1000) on the means.
    assert torch.equal(x, x.round()) and (x[:, 0] <= 5).all() and (x[:, 1] <= 1000).all()
    assert abs(x[:, 0].mean().item() - 1.5) < 0.1 and abs(x[:, 1].mean().item() - 300) < 1.2


def test_geometric_log_prob_finite_where_probs_round_to_one():
    d = dist.Geometric(torch.tensor(1.0), validate_args=False)
    assert torch.isfinite(d.log_prob(torch.tensor(2.0)))
    p = 0.3
    assert dist.Geometric(torch.tensor(p)).log_prob(torch.tensor(3.0)).item() == pytest.approx(
        3 * math.log(1 - p) + math.log(p), rel=1e-6
    )


def test_poisson_sparse_log_prob_equals_dense():
    rate = torch.tensor([[0.5, 2.0, 7.0]])
    counts = torch.tensor([[0.0, 3.0, 0.0], [1.0, 0.0, 9.0]])
    sparse = dist.Poisson(rate, is_sparse=True)
    assert torch.allclose(sparse.log_prob(counts), dist.Poisson(rate).log_prob(counts))
    assert sparse.expand((2, 3)).is_sparse and type(sparse.expand((2, 3))) is dist.Poisson


def test_uniform_support_keeps_unbroadcast_bounds_through_expand():
    d = dist.Uniform(torch.zeros(2), 1.0).expand((3, 2))
    assert d.support.lower_bound.shape == (2,) and d.low.shape == (3, 2)
    assert type(d) is dist.Uniform


def test_lognormal_base_is_tracegraph_normal_and_expand_keeps_it():
    d = dist.LogNormal(torch.zeros(2), 1.0).expand((3, 2))
    assert type(d) is dist.LogNormal and type(d.base_dist) is dist.Normal
    assert torch.allclose(
        d.log_prob(torch.ones(3, 2)), torch.full((3, 2), -0.5 * math.log(2 * math.pi))
    )


@pytest.mark.parametrize("name", ["Beta", "Binomial", "Poisson", "Uniform", "LogNormal"])
def test_overridden_classes_pickle_by_the_generated_module_path(name):
    import pickle

    cls = getattr(dist, name)
    assert cls.__module__ == "tracegraph.distributions.torch"
    assert getattr(dist.torch, name) is cls
    d = {
        "Beta": lambda: cls(2.0, 3.0),
        "Binomial": lambda: cls(10, torch.tensor(0.5)),
        "Poisson": lambda: cls(torch.tensor(2.0), is_sparse=True),
        "Uniform": lambda: cls(0.0, 1.0),
        "LogNormal": lambda: cls(0.0, 1.0),
    }[name]()
    assert type(pickle.loads(pickle.dumps(d))) is cls
