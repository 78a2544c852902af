"""Distributions of tracked values keep the provenance of everything they compute."""

import pytest
import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph import poutine
from tracegraph.ops.provenance import (
    DynamicShapeProvenanceTensor,
    control_flow_scope,
    get_provenance,
    track_provenance,
)


def _t(x, name="z"):
    return track_provenance(torch.as_tensor(x), frozenset({name}))


@pytest.mark.parametrize(
    "make",
    [
        lambda: dist.Beta(_t(2.0), 3.0),
        lambda: dist.Normal(_t(0.5), 1.0),
        lambda: dist.Gamma(_t(2.0), 1.5),
        lambda: dist.LogNormal(_t(0.1), 0.5),
        lambda: dist.Dirichlet(_t([1.0, 2.0, 3.0])),
        lambda: dist.Binomial(10, _t(0.3)),
        lambda: dist.StudentT(3.0, _t(0.0), 1.0),
        lambda: dist.Bernoulli(_t(0.3)),
    ],
    ids=["Beta", "Normal", "Gamma", "LogNormal", "Dirichlet", "Binomial", "StudentT", "Bernoulli"],
)
def test_tracked_leaf_derived_quantities_keep_provenance(make):
    # Beta keeps its parameters in an internal Dirichlet: re-tagging only the
    # top-level tensors once lost the provenance of .mean and .entropy().
    d = make()
    for value in (d.mean, d.variance, d.entropy(), d.sample(), d.log_prob(d.sample())):
        assert get_provenance(value) == frozenset({"z"})
    expanded = d.expand(torch.Size([2]) + d.batch_shape)
    assert get_provenance(expanded.mean) == frozenset({"z"})


def test_dependency_through_beta_mean_is_an_edge():
    def model():
        z = tracegraph.sample("z", dist.Bernoulli(0.5))
        m = dist.Beta(1.0 + 4.0 * z, 1.0).mean
        tracegraph.sample("x", dist.Normal(10.0 * m, 1.0), obs=torch.tensor(8.0))

    tr = poutine.trace(model, graph_type="provenance").get_trace()
    assert tr.predecessors("x") == {"z"}


# -- tensors whose shape depends on tracked values keep recording it ----------------


def test_log_prob_of_dynamic_shape_value_records_its_shape_as_control_flow():
    z = track_provenance(torch.tensor([0.2, 1.5, 2.5]), frozenset({"z"}))
    picked = z[z > 1.0]  # its length depends on z
    assert isinstance(picked, DynamicShapeProvenanceTensor)
    for d in (dist.Normal(0.0, 1.0), dist.Normal(torch.zeros(()), 1.0).to_event(0)):
        log_p = d.log_prob(picked)
        assert isinstance(log_p, DynamicShapeProvenanceTensor)
        with control_flow_scope() as scope:
            assert log_p.shape == (2,)
        assert scope.provenance == {"z"}
    summed = dist.Normal(torch.zeros(2), 1.0).to_event(1).log_prob(picked)
    assert isinstance(summed, DynamicShapeProvenanceTensor)
    built = dist.Normal(picked, 1.0)  # parameters of a data-dependent shape
    with control_flow_scope() as scope:
        assert built.log_prob(torch.zeros(2)).shape == (2,)
    assert scope.provenance == {"z"}
