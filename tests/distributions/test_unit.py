import pytest
import torch

from tracegraph.distributions import Unit


def test_unit_sample_is_empty_with_batch_shape():
    u = Unit(torch.zeros(2, 3))
    assert u.batch_shape == (2, 3) and u.event_shape == (0,)
    assert u.sample().shape == (2, 3, 0) and u.sample((4,)).shape == (4, 2, 3, 0)
    assert u().shape == (2, 3, 0)


def test_unit_log_prob_returns_log_factor_broadcast():
    log_factor = torch.tensor([-1.0, 2.0])
    u = Unit(log_factor)
    assert torch.equal(u.log_prob(u.sample()), log_factor)
    assert torch.equal(u.log_prob(torch.empty(3, 2, 0)), log_factor.expand(3, 2))


def test_unit_log_prob_gradient_reaches_log_factor():
    log_factor = torch.tensor(0.5, requires_grad=True)
    u = Unit(log_factor)
    u.log_prob(u.sample()).backward()
    assert log_factor.grad == 1.0


def test_unit_minus_inf_log_factor_allowed():
    u = Unit(torch.tensor(-float("inf")))
    assert u.log_prob(u.sample()) == -float("inf")


def test_unit_number_log_factor_gets_default_float_dtype():
    assert Unit(1).log_factor.dtype == torch.get_default_dtype()


def test_unit_has_rsample_argument_sets_instance_flag():
    # As Pyro: unspecified reads as False (and a guide's factor must specify it).
    assert Unit(0.0).has_rsample is False and not Unit(0.0).has_rsample_specified
    u = Unit(0.0, has_rsample=False)
    assert u.has_rsample is False and u.score_parts(u.sample()).entropy_term == 0.0
    assert u.has_rsample_specified and Unit(0.0, has_rsample=True).has_rsample


def test_unit_expand_keeps_has_rsample_specified():
    assert Unit(0.0, has_rsample=False).expand((2,)).has_rsample_specified
    assert not Unit(0.0).expand((2,)).has_rsample_specified


def test_unit_expand_keeps_class_and_has_rsample():
    u = Unit(torch.tensor(-1.0), has_rsample=False).expand((3,))
    assert type(u) is Unit and u.has_rsample is False
    assert torch.equal(u.log_prob(u.sample()), torch.full((3,), -1.0))


def test_unit_validation_rejects_non_empty_value():
    with pytest.raises(ValueError):
        Unit(torch.zeros(2)).log_prob(torch.zeros(2, 1))
