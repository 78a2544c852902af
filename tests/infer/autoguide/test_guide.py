"""AutoGuide's prototype and plates, AutoGuideList and AutoCallable."""

from __future__ import annotations

import copy
import io

import pytest
import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph import poutine
from tracegraph.infer import SVI, Trace_ELBO
from tracegraph.infer.autoguide import (
    AutoCallable,
    AutoDelta,
    AutoDiagonalNormal,
    AutoGuideList,
    AutoNormal,
)
from tracegraph.optim import Adam
from tracegraph.poutine.sites import site_is_subsample

DATA = torch.arange(10.0)


def model(data):
    a = tracegraph.sample("a", dist.Normal(0.0, 1.0))
    with tracegraph.plate("data", len(data), subsample_size=3) as idx:
        c = tracegraph.sample("c", dist.Normal(0.0, 1.0))
        d = tracegraph.sample("d", dist.Normal(0.0, 1.0))
        tracegraph.sample("obs", dist.Normal(a + c + d, 1.0), obs=data[idx])


def test_prototype_records_only_latent_sites():
    guide = AutoNormal(model)
    guide(DATA)
    assert guide.prototype_trace.stochastic_nodes == ["a", "c", "d"]
    assert set(guide.plates) == {"data"}


def test_guide_plates_subsample_and_the_model_reuses_the_indices():
    guide = AutoNormal(model)
    guide_trace = poutine.trace(guide).get_trace(DATA)
    model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(DATA)
    idx = guide_trace.nodes["data"]["value"]
    assert torch.equal(model_trace.nodes["data"]["value"], idx)
    # The local params have the full size; the guide used the subsampled entries.
    loc = tracegraph.param("AutoNormal.locs.c")
    assert loc.shape == (10,) and guide_trace.nodes["c"]["value"].shape == (3,)


def test_create_plates_controls_the_subsample():
    fixed = torch.tensor([7, 1, 4])
    guide = AutoNormal(
        model, create_plates=lambda data: tracegraph.plate("data", 10, subsample=fixed)
    )
    tr = poutine.trace(guide).get_trace(DATA)
    assert torch.equal(tr.nodes["data"]["value"], fixed)


def test_sequential_plates_are_refused_naming_the_site():
    def seq():
        for i in tracegraph.plate("steps", 2):
            tracegraph.sample(f"x{i}", dist.Normal(0.0, 1.0))

    with pytest.raises(NotImplementedError, match="sequential plates: site 'x0'"):
        AutoNormal(seq)()


def test_guide_list_combines_parts_sharing_plates():
    guide = AutoGuideList(model)
    guide.append(AutoNormal(poutine.block(model, hide=["c"])))
    guide.append(AutoDelta(poutine.block(model, expose=["c"])))
    guide.append(lambda data: None)  # a plain guide function, for no site
    tr = poutine.trace(guide).get_trace(DATA)
    assert sorted(guide(DATA)) == ["a", "c", "d"]
    assert isinstance(guide[2], AutoCallable)
    assert [n for n in tr.nodes if tr.nodes[n]["type"] == "param"] == [
        "AutoGuideList.0.locs.a",
        "AutoGuideList.0.scales.a",
        "AutoGuideList.0.locs.d",
        "AutoGuideList.0.scales.d",
        "AutoGuideList.1.c",
    ]
    # One plate index draw per call, shared by the parts.
    assert sum(1 for s in tr.nodes.values() if site_is_subsample(s)) == 1
    assert sorted(guide.median(DATA)) == ["a", "c", "d"]


def test_guide_list_refuses_a_part_twice():
    guide = AutoGuideList(model)
    part = AutoNormal(poutine.block(model, hide=["c", "d"]))
    guide.append(part)
    with pytest.raises(RuntimeError, match="already added"):
        guide.append(part)


def test_guide_list_parts_must_not_pass_create_plates():
    guide = AutoGuideList(model)
    guide.append(AutoNormal(model, create_plates=lambda data: []))
    with pytest.raises(ValueError, match="create_plates belongs to the outermost guide"):
        guide(DATA)


def test_guide_list_trains_with_svi():
    guide = AutoGuideList(model)
    guide.append(AutoNormal(poutine.block(model, hide=["c"])))
    guide.append(AutoDiagonalNormal(poutine.block(model, expose=["c"])))
    svi = SVI(model, guide, Adam({"lr": 0.01}), Trace_ELBO())
    assert all(torch.isfinite(torch.tensor([svi.step(DATA) for _ in range(3)])))


def test_auto_callable_uses_the_given_median():
    part = AutoCallable(model, lambda data: {}, median=lambda data: {"x": torch.zeros(1)})
    assert list(part.median(DATA)) == ["x"] and part(DATA) == {}


@pytest.mark.parametrize("how", ["torch.save", "deepcopy"])
def test_guide_list_round_trips_and_relinks_its_parts(how):
    guide = AutoGuideList(model)
    guide.append(AutoNormal(poutine.block(model, hide=["c"])))
    guide.append(AutoDelta(poutine.block(model, expose=["c"])))
    guide(DATA)
    if how == "torch.save":
        buf = io.BytesIO()
        torch.save(guide, buf)
        buf.seek(0)
        copy_ = torch.load(buf, weights_only=False)
    else:
        copy_ = copy.deepcopy(guide)
    assert copy_[0].master() is copy_
    assert sorted(copy_(DATA)) == ["a", "c", "d"]


def test_call_returns_values_ordered_by_name():
    guide = AutoDelta(model)
    values = guide.call(DATA)
    result = guide(DATA)
    assert len(values) == 3 and values[0].shape == result["a"].shape
