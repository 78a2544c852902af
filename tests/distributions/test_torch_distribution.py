import pickle

import pytest
import torch

import tracegraph.distributions as dist
from tracegraph.distributions import (
    ExpandedDistribution,
    Independent,
    MaskedDistribution,
    TorchDistribution,
    TorchDistributionMixin,
)
from tracegraph.errors import ShapeError, SiteError


class Coin(TorchDistribution):
    """A custom distribution without ``expand``: a Bernoulli(p) written by hand."""

    arg_constraints = {}
    support = torch.distributions.constraints.boolean

    def __init__(self, probs):
        self.probs = torch.as_tensor(probs)
        super().__init__(self.probs.shape, validate_args=False)

    def sample(self, sample_shape=()):
        shape = self.shape(sample_shape)
        return torch.bernoulli(self.probs.expand(shape))

    def log_prob(self, value):
        return torch.where(value.bool(), self.probs.log(), (1 - self.probs).log())


# --- calling, shapes ----------------------------------------------------------


def test_call_reparameterized_has_gradient_path():
    loc = torch.tensor([0.0, 1.0], requires_grad=True)
    x = dist.Normal(loc, 1.0)((3,))
    assert x.shape == (3, 2) and x.requires_grad


def test_call_non_reparameterized_uses_sample():
    x = dist.Bernoulli(torch.full((2,), 0.5))((4,))
    assert x.shape == (4, 2) and not x.requires_grad


def test_shape_and_event_dim_combine_sample_batch_event():
    d = dist.MultivariateNormal(torch.zeros(5, 3), torch.eye(3))
    assert d.shape((2,)) == (2, 5, 3) and d.event_dim == 1


# --- to_event -----------------------------------------------------------------


def test_to_event_one_moves_rightmost_batch_dim_and_sums_log_prob():
    base = dist.Normal(torch.zeros(2, 3), torch.ones(2, 3))
    d = base.to_event(1)
    x = torch.randn(4, 2, 3)
    assert isinstance(d, Independent)
    assert (d.batch_shape, d.event_shape) == ((2,), (3,))
    assert torch.allclose(d.log_prob(x), base.log_prob(x).sum(-1))


def test_to_event_none_moves_all_batch_dims():
    d = dist.Normal(torch.zeros(2, 3), 1.0).to_event()
    x = torch.randn(2, 3)
    assert (d.batch_shape, d.event_shape) == ((), (2, 3))
    assert torch.allclose(d.log_prob(x), torch.distributions.Normal(0.0, 1.0).log_prob(x).sum())


def test_to_event_zero_returns_self():
    d = dist.Normal(torch.zeros(2), 1.0)
    assert d.to_event(0) is d


def test_to_event_too_many_dims_raises():
    with pytest.raises(ShapeError, match="batch_shape"):
        dist.Normal(torch.zeros(2, 3), 1.0).to_event(3)


def test_to_event_negative_on_non_independent_raises():
    with pytest.raises(ShapeError, match="Cannot remove event dimensions"):
        dist.Normal(torch.zeros(2, 3), 1.0).to_event(-1)


def test_to_event_negative_on_independent_gives_dims_back():
    base = dist.Normal(torch.zeros(4, 2, 3), 1.0)
    d = base.to_event(2)
    assert d.to_event(-2) is base
    back = d.to_event(-1)
    assert type(back) is Independent and back.base_dist is base
    assert back.batch_shape == (4, 2) and back.event_shape == (3,)
    with pytest.raises(ShapeError, match="Cannot remove event dimensions"):
        d.to_event(-3)


def test_to_event_on_independent_flattens_instead_of_nesting():
    base = dist.Normal(torch.zeros(4, 2, 3), 1.0)
    d = base.to_event(1).to_event(1)
    assert d.base_dist is base and d.reinterpreted_batch_ndims == 2


def test_to_event_nested_adds_event_dims():
    d = dist.Normal(torch.zeros(4, 2, 3), 1.0).to_event(1).to_event(1)
    assert (d.batch_shape, d.event_shape) == ((4,), (2, 3))


# --- expand, expand_by --------------------------------------------------------


def test_expand_by_prepends_sample_shape_to_batch_shape():
    d = dist.Normal(torch.zeros(3), 1.0).expand_by((4, 2))
    assert d.batch_shape == (4, 2, 3) and type(d) is dist.Normal


def test_expand_keeps_has_rsample_setting():
    d = dist.Normal(0.0, 1.0).has_rsample_(False).expand((3,))
    assert d.has_rsample is False
    assert d.expand_by((2,)).has_rsample is False


def test_expand_class_without_expand_falls_back_to_expanded_distribution():
    d = Coin(torch.tensor([0.2, 0.9])).expand((5, 2))
    assert isinstance(d, ExpandedDistribution) and d.batch_shape == (5, 2)
    assert d.sample().shape == (5, 2)


def test_expand_incompatible_shape_raises():
    with pytest.raises(RuntimeError):
        dist.Normal(torch.zeros(3), 1.0).expand((2,))


# --- has_rsample ----------------------------------------------------------------


def test_has_rsample_false_makes_call_detached_and_score_function():
    loc = torch.tensor(0.5, requires_grad=True)
    d = dist.Normal(loc, 1.0)
    assert d().requires_grad
    d.has_rsample_(False)
    x = d()
    assert not x.requires_grad
    parts = d.score_parts(x)
    assert parts.entropy_term == 0.0
    assert isinstance(parts.score_function, torch.Tensor)
    assert torch.equal(parts.score_function, d.log_prob(x))
    parts.score_function.backward()
    assert loc.grad is not None and torch.allclose(loc.grad, x - loc.detach())


def test_has_rsample_true_score_parts_entropy_term_carries_log_prob():
    d = dist.Normal(torch.tensor(0.5), 1.0)
    x = d()
    parts = d.score_parts(x)
    assert parts.score_function == 0.0
    assert parts.log_prob is parts.entropy_term
    assert isinstance(parts.log_prob, torch.Tensor)
    assert torch.equal(parts.log_prob, d.log_prob(x))


def test_has_rsample_setting_is_per_instance():
    a, b = dist.Normal(0.0, 1.0), dist.Normal(0.0, 1.0)
    a.has_rsample = False
    assert (a.has_rsample, b.has_rsample) == (False, True)


def test_has_rsample_settable_on_torch_property_classes():
    d = dist.LogNormal(0.0, 1.0)
    assert d.has_rsample
    d.has_rsample = False
    assert not d.has_rsample and not d().requires_grad


def test_has_rsample_true_on_non_reparameterized_rsample_raises():
    d = dist.Bernoulli(0.5).has_rsample_(True)
    with pytest.raises(NotImplementedError):
        d()


@pytest.mark.parametrize("flag", [1, None, "no"])
def test_has_rsample_non_bool_raises(flag):
    with pytest.raises(SiteError, match="True or False"):
        dist.Normal(0.0, 1.0).has_rsample_(flag)
    with pytest.raises(SiteError):
        dist.Normal(0.0, 1.0).has_rsample = flag


def test_has_rsample_setting_survives_pickle():
    d = pickle.loads(pickle.dumps(dist.Normal(0.0, 1.0).has_rsample_(False)))
    assert d.has_rsample is False


@pytest.mark.parametrize("reparam", [True, False])
def test_score_parts_convention_gives_unbiased_gradient(reparam):
    # d/dloc E[x^2] = 2 loc for x ~ Normal(loc, 1).  Each draw has its own copy
    # of loc, so one backward pass yields n independent per-draw estimates of the
    # surrogate's gradient; their mean must lie within 5 standard errors of 2 loc.
    n, loc0 = 20000, 0.7
    loc = torch.full((n,), loc0, requires_grad=True)
    d = dist.Normal(loc, 1.0).has_rsample_(reparam)
    x = d()
    assert x.requires_grad is reparam
    parts = d.score_parts(x)
    cost = x**2
    (cost + parts.score_function * cost.detach()).sum().backward()
    grads = loc.grad
    assert grads is not None
    assert abs(grads.mean() - 2 * loc0) < 5 * grads.std() / n**0.5


# --- mask ---------------------------------------------------------------------


def test_mask_tensor_zeroes_log_prob_where_false():
    d = dist.Normal(torch.zeros(3), 1.0)
    m = torch.tensor([True, False, True])
    x = torch.tensor([0.5, 100.0, -1.0])
    out = d.mask(m).log_prob(x)
    assert out[1] == 0.0 and torch.equal(out[m], d.log_prob(x)[m])


def test_mask_broadcasts_and_expands_base():
    d = dist.Normal(torch.zeros(3), 1.0).mask(torch.tensor([[True], [False]]))
    assert d.batch_shape == (2, 3) and d.base_dist.batch_shape == (2, 3)
    assert d.sample().shape == (2, 3)


def test_mask_false_never_evaluates_base_log_prob():
    # Under validation, a value outside the support would raise in the base.
    d = dist.Beta(2.0, 2.0).mask(False)
    assert torch.equal(d.log_prob(torch.tensor([3.0, 4.0])), torch.zeros(2))


def test_mask_true_keeps_log_prob():
    d = dist.Normal(0.0, 1.0)
    x = torch.tensor(0.3)
    assert torch.equal(d.mask(True).log_prob(x), d.log_prob(x))


@pytest.mark.parametrize("bad", [torch.tensor([2, 0]), torch.tensor([0.5, 1.0]), 2, None, "y"])
def test_mask_bad_value_raises(bad):
    with pytest.raises(SiteError, match="bool"):
        dist.Normal(torch.zeros(2), 1.0).mask(bad)


@pytest.mark.parametrize("mask", [torch.tensor([1, 0]), torch.tensor([1.0, 0.0])])
def test_mask_zero_one_tensor_works_as_bool(mask):
    # Pyro programs write .mask(z) with a sampled Bernoulli z.
    d = dist.Normal(torch.zeros(2), 1.0).mask(mask)
    assert d._mask.dtype == torch.bool
    assert torch.equal(d.log_prob(torch.zeros(2)), torch.tensor([-0.9189385, 0.0]))


def test_mask_unchecked_when_validation_is_off():
    # As Pyro: without validation any nonzero value counts as True.
    with dist.validation_enabled(False):
        d = dist.Normal(torch.zeros(2), 1.0).mask(torch.tensor([0.5, 0.0]))
    assert torch.equal(d._mask, torch.tensor([True, False]))


def test_mask_non_broadcasting_shape_raises():
    with pytest.raises(ShapeError):
        dist.Normal(torch.zeros(3), 1.0).mask(torch.tensor([True, False]))


def test_mask_keeps_sampling_and_has_rsample_of_base():
    loc = torch.tensor(0.0, requires_grad=True)
    d = dist.Normal(loc, 1.0).mask(torch.tensor([False, True]))
    assert d.has_rsample and d().requires_grad
    assert not dist.Normal(loc, 1.0).has_rsample_(False).mask(True).has_rsample


def test_mask_score_parts_masks_log_prob_not_score_function():
    d = dist.Bernoulli(torch.tensor([0.3, 0.6]))
    x = torch.tensor([1.0, 0.0])
    parts = d.mask(torch.tensor([True, False])).score_parts(x)
    assert isinstance(parts.log_prob, torch.Tensor)
    assert isinstance(parts.score_function, torch.Tensor)
    assert torch.equal(parts.log_prob, torch.stack([d.log_prob(x)[0], torch.tensor(0.0)]))
    assert torch.equal(parts.score_function, d.log_prob(x))


def test_mask_expand_keeps_mask():
    d = dist.Normal(torch.zeros(2), 1.0).mask(torch.tensor([True, False])).expand((3, 2))
    assert isinstance(d, MaskedDistribution)
    assert torch.equal(d.log_prob(torch.zeros(3, 2))[:, 1], torch.zeros(3))


def test_mask_then_to_event_sums_unmasked_only():
    d = dist.Normal(torch.zeros(3), 1.0)
    m = torch.tensor([True, False, True])
    x = torch.tensor([0.1, 50.0, 0.2])
    assert torch.allclose(d.mask(m).to_event(1).log_prob(x), d.log_prob(x)[m].sum())


# --- Independent ----------------------------------------------------------------


def test_independent_score_parts_sums_base_parts():
    d = Independent(dist.Bernoulli(torch.tensor([0.3, 0.6])), 1)
    x = torch.tensor([1.0, 0.0])
    parts = d.score_parts(x)
    assert isinstance(parts.score_function, torch.Tensor) and parts.entropy_term == 0.0
    assert torch.allclose(parts.score_function, d.log_prob(x))


def test_independent_has_rsample_override_uses_own_convention():
    d = Independent(dist.Normal(torch.zeros(2), 1.0), 1).has_rsample_(False)
    parts = d.score_parts(torch.zeros(2))
    assert parts.entropy_term == 0.0 and torch.is_tensor(parts.score_function)


# --- ExpandedDistribution -------------------------------------------------------


def test_expanded_distribution_draws_independently_in_new_and_grown_dims():
    base = dist.Normal(torch.zeros(3, 1), 1.0)
    x = ExpandedDistribution(base, (2, 3, 4)).sample((1000,))
    assert x.shape == (1000, 2, 3, 4)
    # Independent draws: the correlation between two slots is ~N(0, 1/sqrt(1000));
    # 5 standard errors is 0.16.
    for a, b in [(x[:, 0, 0, 0], x[:, 1, 0, 0]), (x[:, 0, 0, 0], x[:, 0, 0, 1])]:
        corr = torch.corrcoef(torch.stack([a, b]))[0, 1]
        assert abs(corr) < 0.16


def test_expanded_distribution_keeps_base_parameters_per_slot():
    base = dist.Normal(torch.tensor([[0.0], [10.0], [-10.0]]), 1.0)
    x = ExpandedDistribution(base, (3, 4)).sample((500,))
    # Each row's mean is its base loc; standard error is 1/sqrt(2000), 5 SE ~ 0.11.
    assert torch.allclose(x.mean((0, 2)), torch.tensor([0.0, 10.0, -10.0]), atol=0.12)


def test_expanded_distribution_log_prob_broadcasts_base():
    base = dist.Normal(torch.zeros(3, 1), 1.0)
    d = ExpandedDistribution(base, (2, 3, 4))
    x = torch.randn(2, 3, 4)
    assert torch.equal(d.log_prob(x), base.log_prob(x))
    assert d.log_prob(torch.zeros(1, 1)).shape == (2, 3, 4)


def test_expanded_distribution_rsample_has_gradient_path():
    loc = torch.zeros(1, requires_grad=True)
    x = ExpandedDistribution(dist.Normal(loc, 1.0), (2, 3)).rsample()
    x.sum().backward()
    assert loc.grad is not None and torch.equal(loc.grad, torch.tensor([6.0]))


def test_expanded_distribution_bad_shape_raises():
    with pytest.raises(ShapeError, match="Cannot broadcast distribution"):
        ExpandedDistribution(dist.Normal(torch.zeros(3), 1.0), (2,))


def test_expanded_distribution_expand_keeps_has_rsample_setting():
    d = ExpandedDistribution(dist.Normal(0.0, 1.0), (2,)).has_rsample_(False).expand((3, 2))
    assert isinstance(d, ExpandedDistribution) and d.has_rsample is False


def test_expanded_distribution_moments_broadcast():
    d = ExpandedDistribution(dist.Normal(torch.tensor([1.0]), 2.0), (3, 2))
    assert torch.equal(d.mean, torch.ones(3, 2)) and torch.equal(
        d.variance, torch.full((3, 2), 4.0)
    )


# --- TorchDistribution ----------------------------------------------------------


def test_torch_distribution_subclass_is_torch_distribution_and_mixin():
    c = Coin(0.5)
    assert isinstance(c, torch.distributions.Distribution)
    assert isinstance(c, TorchDistributionMixin) and not c.has_rsample
    assert c.expand_by((3,)).log_prob(torch.ones(3)).shape == (3,)


class PyroStyle(TorchDistribution):
    """A user distribution that declares ``has_rsample`` as a class attribute."""

    arg_constraints = {}
    has_rsample = True

    def __init__(self, loc):
        self.loc = torch.as_tensor(loc)
        super().__init__(self.loc.shape, validate_args=False)

    def rsample(self, sample_shape=()):
        return self.loc.expand(self.shape(sample_shape)) + torch.randn(self.shape(sample_shape))

    def log_prob(self, value):
        return torch.distributions.Normal(self.loc, 1.0).log_prob(value)


def test_torch_distribution_class_attribute_has_rsample_toggles_per_instance():
    loc = torch.tensor(0.0, requires_grad=True)
    d = PyroStyle(loc)
    assert d.has_rsample and d().requires_grad
    d.has_rsample_(False)
    assert not d.has_rsample and not d().requires_grad
    assert d.expand((2,)).has_rsample is False
    assert PyroStyle(loc).has_rsample


def test_wrappers_pickle_with_their_state():
    m = torch.tensor([True, False])
    masked = pickle.loads(pickle.dumps(dist.Normal(torch.zeros(2), 1.0).mask(m)))
    expanded = pickle.loads(pickle.dumps(ExpandedDistribution(dist.Normal(0.0, 1.0), (3,))))
    assert torch.equal(masked.log_prob(torch.zeros(2)) == 0.0, ~m)
    assert expanded.batch_shape == (3,)
