import math

import torch

import tracegraph.distributions as dist

from .pyro_dist_checks import check_mixin, check_provenance


def test_multivariate_studentt_in_one_dimension_is_student_t():
    d = dist.MultivariateStudentT(torch.tensor(3.0), torch.tensor([1.0]), torch.tensor([[2.0]]))
    x = torch.tensor([[0.0], [3.0]])
    torch.testing.assert_close(
        d.log_prob(x), torch.distributions.StudentT(3.0, 1.0, 2.0).log_prob(x[:, 0])
    )


def test_multivariate_studentt_moments_and_rsample():
    # Sample covariance of y within 5 standard errors is too heavy-tailed for df = 5;
    # the mean (finite variance) is checked with sqrt(var / n).
    torch.manual_seed(0)
    tril = torch.tensor([[1.0, 0.0], [0.5, 2.0]])
    d = dist.MultivariateStudentT(torch.tensor(5.0), torch.tensor([1.0, -1.0]), tril)
    x = d.rsample((40000,))
    assert ((x.mean(0) - d.mean).abs() <= 5 * (d.variance / 40000).sqrt()).all()
    torch.testing.assert_close(d.covariance_matrix, tril @ tril.T)
    torch.testing.assert_close(d.precision_matrix, torch.linalg.inv(tril @ tril.T))
    heavy = dist.MultivariateStudentT(torch.tensor([0.5, 1.5]), torch.zeros(2), torch.eye(2))
    assert torch.isnan(heavy.mean[0]).all() and torch.isinf(heavy.variance[1]).all()
    assert math.isnan(heavy.variance[0, 0])


def test_multivariate_studentt_mixin_and_provenance():
    d = dist.MultivariateStudentT(torch.tensor([3.0, 4.0]), torch.zeros(2), torch.eye(2))
    check_mixin(d, torch.tensor([0.5, -1.0]))
    check_provenance(
        lambda df: dist.MultivariateStudentT(df, torch.zeros(2), torch.eye(2)), 3.0, torch.ones(2)
    )
    check_provenance(
        lambda loc: dist.MultivariateStudentT(3.0, loc, torch.eye(2)), [0.0, 1.0], torch.ones(2)
    )
