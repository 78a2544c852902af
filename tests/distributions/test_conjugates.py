import pytest
import torch

import tracegraph.distributions as dist


def _check_conjugate(f, g, xs):
    # f(x) g(x) = fg(x) * exp(log_normalizer): check the identity at several points.
    fg, log_normalizer = f.conjugate_update(g)
    for x in xs:
        lhs = f.log_prob(x) + g.log_prob(x)
        assert torch.allclose(lhs, fg.log_prob(x) + log_normalizer, atol=1e-5)
    return fg


def test_beta_conjugate_update_is_the_product_density():
    f = dist.Beta(torch.tensor([2.0, 3.0]), torch.tensor([1.5, 2.0]))
    g = dist.Beta(torch.tensor([1.2, 4.0]), torch.tensor([2.5, 1.0]))
    fg = _check_conjugate(f, g, [torch.tensor(0.3), torch.tensor(0.8)])
    assert torch.allclose(fg.concentration1, torch.tensor([2.2, 6.0]))


def test_gamma_conjugate_update_is_the_product_density():
    f, g = dist.Gamma(torch.tensor([2.0, 3.0]), 1.5), dist.Gamma(torch.tensor([1.2, 4.0]), 2.5)
    fg = _check_conjugate(f, g, [torch.tensor(0.7), torch.tensor(3.0)])
    assert torch.allclose(fg.rate, torch.tensor(4.0))


def test_dirichlet_conjugate_update_is_the_product_density():
    f = dist.Dirichlet(torch.tensor([[2.0, 3.0, 1.5], [1.0, 1.0, 1.0]]))
    g = dist.Dirichlet(torch.tensor([1.2, 4.0, 2.0]))
    _check_conjugate(f, g, [torch.tensor([0.2, 0.5, 0.3]), torch.tensor([0.6, 0.3, 0.1])])


def test_independent_conjugate_update_sums_the_normalizer():
    f = dist.Gamma(torch.tensor([2.0, 3.0]), 1.5).to_event(1)
    g = dist.Gamma(torch.tensor([1.2, 4.0]), 2.5).to_event(1)
    fg = _check_conjugate(f, g, [torch.tensor([0.7, 3.0])])
    assert fg.event_shape == (2,)
    with pytest.raises(ValueError, match="reinterpreted_batch_ndims=1"):
        f.conjugate_update(dist.Gamma(torch.tensor([1.0, 1.0]), 1.0))


def test_masked_and_expanded_conjugate_update():
    f = dist.Gamma(torch.tensor([2.0, 3.0]), 1.5)
    g = dist.Gamma(torch.tensor([1.2, 4.0]), 2.5)
    _, full = f.conjugate_update(g)
    masked, log_normalizer = f.mask(torch.tensor([True, False])).conjugate_update(g)
    assert torch.equal(log_normalizer, torch.stack([full[0], torch.tensor(0.0)]))
    assert type(masked) is dist.MaskedDistribution
    expanded, ln = dist.ExpandedDistribution(dist.Gamma(2.0, 1.5), (2,)).conjugate_update(g)
    assert expanded.batch_shape == (2,) and ln.shape == (2,)


def test_conjugate_update_other_family_raises_assertion_error_as_pyro():
    with pytest.raises(AssertionError, match="expects a Beta"):
        dist.Beta(1.0, 1.0).conjugate_update(dist.Gamma(1.0, 1.0))
