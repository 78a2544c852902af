"""deep_setattr/deep_getattr, helpful_support_errors, periodic_repeat, mean_field_entropy."""

from __future__ import annotations

import pytest
import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph.infer.autoguide import mean_field_entropy
from tracegraph.infer.autoguide.utils import (
    UnsupportedSiteError,
    deep_getattr,
    deep_setattr,
    helpful_support_errors,
    periodic_repeat,
)
from tracegraph.nn import PyroModule, PyroParam


def test_deep_setattr_creates_pyro_modules_along_the_path():
    root = PyroModule("root")
    deep_setattr(root, "a.b.c", PyroParam(torch.ones(2)))
    assert isinstance(root.a.b, PyroModule) and root.a.b._pyro_name == "root.a.b"
    assert torch.equal(deep_getattr(root, "a.b.c"), torch.ones(2))


def test_helpful_support_errors_names_discrete_sites_and_passes_others():
    with pytest.raises(UnsupportedSiteError, match="'k'.*AutoDiscrete"):
        with helpful_support_errors({"name": "k", "fn": dist.Categorical(torch.ones(2))}):
            torch.distributions.biject_to(dist.Categorical(torch.ones(2)).support)
    with pytest.raises(NotImplementedError):
        with helpful_support_errors({"name": "x", "fn": dist.Normal(0.0, 1.0)}):
            raise NotImplementedError("something else")


def test_periodic_repeat_along_any_dim():
    t = torch.arange(6).reshape(2, 3)
    assert periodic_repeat(t, 5, 1).tolist() == [[0, 1, 2, 0, 1], [3, 4, 5, 3, 4]]
    assert periodic_repeat(t, 3, -2).tolist() == [[0, 1, 2], [3, 4, 5], [0, 1, 2]]


def test_mean_field_entropy_sums_site_entropies():
    def model():
        tracegraph.sample("p", dist.Beta(2.0, 2.0).expand([3]).to_event(1))
        tracegraph.sample("s", dist.Dirichlet(torch.ones(3)))
        tracegraph.sample("e", dist.Exponential(1.0))

    expected = (
        3 * dist.Beta(2.0, 2.0).entropy()
        + dist.Dirichlet(torch.ones(3)).entropy()
        + dist.Exponential(1.0).entropy()
    )
    assert torch.allclose(mean_field_entropy(model, ()), expected)
    assert mean_field_entropy(model, (), whitelist=["e"]).item() == pytest.approx(1.0)
