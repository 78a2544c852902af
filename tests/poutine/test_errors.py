"""Each misuse of handlers, plates and sites raises a tracegraph error that names
the site or plate involved, with expected vs got."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph import poutine
from tracegraph.errors import HandlerError, PlateError, SiteError

HANDLERS: dict[str, dict[str, Any]] = {
    "trace": {},
    "replay": {"params": {}},
    "condition": {"data": {}},
    "block": {},
    "scale": {"scale": 2.0},
    "mask": {"mask": True},
    "seed": {"rng_seed": 0},
    "do": {"data": {}},
    "uncondition": {},
    "infer_config": {"config_fn": lambda msg: {}},
    "substitute": {"data": {}},
    "escape": {"escape_fn": lambda msg: False},
    "lift": {"prior": dist.Normal(0.0, 1.0)},
    "broadcast": {},
}




def model():
    return tracegraph.sample("z", dist.Normal(0.0, 1.0))


@pytest.mark.parametrize("name", sorted(HANDLERS))
@pytest.mark.parametrize("bad_fn", [{"z": 1.0}, 3, "model"], ids=["dict", "int", "str"])
def test_handler_non_callable_fn_raises_naming_handler_and_type(name, bad_fn):
    handler = getattr(poutine, name)
    with pytest.raises(HandlerError) as info:
        handler(bad_fn, **HANDLERS[name])
    message = str(info.value)
    assert f"poutine.{name}" in message and type(bad_fn).__name__ in message


@pytest.mark.parametrize(
    "bad", [0.0, -1, float("nan"), torch.tensor([1.0, 0.0]), torch.tensor(-2.0)]
)
def test_scale_non_positive_raises_naming_value(bad):
    with pytest.raises(HandlerError, match="scale must be positive") as info:
        poutine.scale(model, scale=bad)
    if isinstance(bad, float | int):
        assert repr(bad) in str(info.value)


@pytest.mark.parametrize("bad", ["2", None, True])
def test_scale_non_number_raises(bad):
    with pytest.raises(HandlerError, match="scale must be a positive number"):
        poutine.scale(model, scale=bad)


@pytest.mark.parametrize(
    "bad, shown",
    [
        (torch.tensor([1.0, 0.0]), "torch.float32"),
        (1, "int"),
        (None, "NoneType"),
        (torch.tensor([1, 0]), "torch.int64"),
    ],
)
def test_mask_non_boolean_raises_naming_type(bad, shown):
    with pytest.raises(HandlerError, match="mask must be a bool") as info:
        poutine.mask(model, mask=bad)
    assert shown in str(info.value)


@pytest.mark.parametrize("bad", [-1, 2**32, 1.0, "0", None])
def test_seed_invalid_raises(bad):
    with pytest.raises(HandlerError, match="rng_seed"):
        poutine.seed(model, rng_seed=bad)


def test_plate_dim_collision_names_both_plates_and_dim():
    def bad_model():
        with tracegraph.plate("outer_plate", 3, dim=-1):
            with tracegraph.plate("inner_plate", 4, dim=-1):
                pass

    with pytest.raises(PlateError) as info:
        poutine.trace(bad_model).get_trace()
    message = str(info.value)
    assert "outer_plate" in message and "inner_plate" in message and "-1" in message


def test_plate_batch_shape_mismatch_names_plate_site_dim_and_sizes():
    def bad_model():
        with tracegraph.plate("data", 5):
            tracegraph.sample("x", dist.Normal(torch.zeros(3), 1.0))

    with pytest.raises(PlateError) as info:
        poutine.trace(bad_model).get_trace()
    message = str(info.value)
    for part in ("plate('data')", "'x'", "dim -1", "size 3", "size 5"):
        assert part in message


def test_duplicate_sample_names_raise_naming_site():
    def bad_model():
        tracegraph.sample("twice", dist.Normal(0.0, 1.0))
        tracegraph.sample("twice", dist.Normal(0.0, 1.0))

    with pytest.raises(SiteError, match="'twice'"):
        poutine.trace(bad_model).get_trace()


def test_observed_value_wrong_shape_raises_at_log_prob_naming_site():
    def bad_model():
        with tracegraph.plate("data", 3):
            tracegraph.sample("obs_site", dist.Normal(0.0, 1.0), obs=torch.zeros(4))

    with tracegraph.validation_enabled(True):
        tr = poutine.trace(bad_model).get_trace()  # as Pyro: recorded, checked later
        with pytest.raises(ValueError) as info:
            tr.compute_log_prob()
    notes = "\n".join(info.value.__notes__)
    assert "site 'obs_site'" in notes and "[4]" in str(info.value) and "[3]" in str(info.value)


def test_observed_value_wrong_event_shape_raises_at_log_prob_naming_site():
    def bad_model():
        tracegraph.sample("mv", dist.Normal(torch.zeros(2), 1.0).to_event(1), obs=torch.zeros(3))

    with tracegraph.validation_enabled(True):
        tr = poutine.trace(bad_model).get_trace()
        with pytest.raises(ValueError) as info:
            tr.log_prob_sum()
    assert "site 'mv'" in "\n".join(info.value.__notes__)


@pytest.mark.parametrize("bad", ["sparse", "DENSE", ""])
def test_trace_unknown_graph_type_raises_listing_choices(bad):
    with pytest.raises(HandlerError) as info:
        poutine.trace(model, graph_type=bad)
    message = str(info.value)
    assert repr(bad) in message and "flat" in message and "dense" in message


def test_errors_are_builtin_types_too():
    # A Pyro user's ``except ValueError`` keeps working.
    with pytest.raises(ValueError):
        poutine.scale(model, scale=-1.0)
    with pytest.raises(ValueError):
        poutine.mask(model, mask=1)
