import pytest
import torch

import tracegraph.distributions as dist
from tracegraph.distributions.log_normal_negative_binomial import normal_quadrature
from tracegraph.errors import ShapeError

from .pyro_dist_checks import check_mixin, check_provenance

D = torch.float64


def _expectation(locs, scales, logits, f):
    # E[sum_d f(x_d)] by 80-node Gauss-Hermite quadrature per component and coordinate.
    nodes, weights = normal_quadrature(80)
    x = locs.unsqueeze(-1) + scales.unsqueeze(-1) * nodes
    return (torch.softmax(logits, -1) * (f(x) * weights).sum(-1).sum(-1)).sum()


@pytest.mark.parametrize("dim", [1, 3])
def test_mixture_of_diag_normals_pathwise_gradient_is_unbiased(dim):
    # Including the mixture logits and D = 1 (which Pyro's estimator excludes).  The
    # reference is exact; the estimate's standard error is the batch standard
    # deviation over sqrt(batches); we allow 5 of them.
    g = torch.Generator().manual_seed(1)
    params = [
        torch.randn(3, dim, generator=g, dtype=D),
        torch.rand(3, dim, generator=g, dtype=D) + 0.4,
        torch.randn(3, generator=g, dtype=D),
    ]
    f = lambda x: torch.sin(x) + 0.1 * x**2  # noqa: E731
    leaves = [p.clone().requires_grad_() for p in params]
    exact = torch.cat(
        [gr.reshape(-1) for gr in torch.autograd.grad(_expectation(*leaves, f), leaves)]
    )
    torch.manual_seed(0)
    leaves = [p.clone().requires_grad_() for p in params]
    d = dist.MixtureOfDiagNormals(*leaves)
    batches = []
    for _ in range(40):
        value = f(d.rsample((2000,))).mean(0).sum()
        grads = torch.autograd.grad(value, leaves, retain_graph=True)
        batches.append(torch.cat([gr.reshape(-1) for gr in grads]))
    est = torch.stack(batches)
    se = est.std(0) / 40**0.5
    assert ((est.mean(0) - exact).abs() <= 5 * se).all()


def test_mixture_of_diag_normals_log_prob_is_the_mixture_density():
    locs, scales = torch.tensor([[0.0, 1.0], [2.0, -1.0]]), torch.tensor([[1.0, 0.5], [0.7, 1.2]])
    logits = torch.tensor([0.3, -0.2])
    x = torch.tensor([0.5, 0.2])
    comps = torch.distributions.Normal(locs, scales).log_prob(x).sum(-1)
    expected = torch.logsumexp(torch.log_softmax(logits, -1) + comps, -1)
    torch.testing.assert_close(
        dist.MixtureOfDiagNormals(locs, scales, logits).log_prob(x), expected
    )
    shared = dist.MixtureOfDiagNormalsSharedCovariance(locs, scales[0], logits)
    comps = torch.distributions.Normal(locs, scales[0]).log_prob(x).sum(-1)
    torch.testing.assert_close(
        shared.log_prob(x), torch.logsumexp(torch.log_softmax(logits, -1) + comps, -1)
    )


def test_mixture_of_diag_normals_rsample_value_is_an_ordinary_draw():
    # The implicit gradient leaves values untouched: mean within 5 standard errors.
    torch.manual_seed(0)
    d = dist.MixtureOfDiagNormals(torch.tensor([[-2.0], [3.0]]), torch.ones(2, 1), torch.zeros(2))
    x = d.rsample((20000,))
    assert (x.mean() - 0.5).abs() <= 5 * (x.var() / 20000).sqrt()


def test_mixture_of_diag_normals_shape_errors():
    with pytest.raises(ShapeError):
        dist.MixtureOfDiagNormals(torch.zeros(2, 3), torch.ones(2, 2), torch.zeros(2))
    with pytest.raises(ShapeError):
        dist.MixtureOfDiagNormals(torch.zeros(2, 3), torch.ones(2, 3), torch.zeros(3))
    with pytest.raises(ShapeError):
        dist.MixtureOfDiagNormalsSharedCovariance(
            torch.zeros(2, 3), torch.ones(2, 3), torch.zeros(2)
        )


def test_mixture_of_diag_normals_mixin_and_provenance():
    d = dist.MixtureOfDiagNormals(torch.zeros(4, 2, 3), torch.ones(4, 2, 3), torch.zeros(4, 2))
    check_mixin(d, torch.zeros(3))
    assert type(d.expand((5, 4))) is dist.MixtureOfDiagNormals
    s = dist.MixtureOfDiagNormalsSharedCovariance(torch.zeros(2, 3), torch.ones(3), torch.zeros(2))
    check_mixin(s, torch.zeros(3))
    check_provenance(
        lambda locs: dist.MixtureOfDiagNormals(locs, torch.ones(2, 2), torch.zeros(2)),
        [[0.0, 1.0], [1.0, 0.0]],
        torch.zeros(2),
    )
