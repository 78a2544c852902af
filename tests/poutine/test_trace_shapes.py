"""Tests of shape tables and packed tensors (trace_shapes and the Trace methods)."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.distributions as tdist

from tracegraph.errors import ShapeError
from tracegraph.poutine.runtime import CondIndepStackFrame as Frame
from tracegraph.poutine.trace_shapes import (
    format_shapes,
    pack,
    pack_site,
    pack_with_dims,
    symbolize_dims,
)
from tracegraph.poutine.trace_struct import Trace

OUTER = Frame("outer", -2, 5, 0, 100)
INNER = Frame("inner", -1, 4, 0, 4)


def add_sample(tr, name, fn, value, *, scale=1.0, mask=None, stack=(), infer=None):
    tr.add_node(
        name,
        name=name,
        type="sample",
        fn=fn,
        args=(),
        kwargs={},
        value=value,
        is_observed=False,
        scale=scale,
        mask=mask,
        cond_indep_stack=stack,
        infer={} if infer is None else infer,
    )


def plated_trace():
    tr = Trace()
    tr.add_node("_INPUT", name="_INPUT", type="args", args=(), kwargs={})
    tr.add_node("s", name="s", type="param", value=torch.ones(2, 3))
    fn = tdist.Independent(tdist.Normal(torch.zeros(5, 4, 2), 1.0), 1)
    add_sample(tr, "z", fn, torch.zeros(5, 4, 2), stack=(OUTER, INNER))
    add_sample(tr, "y", tdist.Normal(torch.zeros(5, 1), 1.0), torch.zeros(5, 1), stack=(OUTER,))
    add_sample(
        tr, "t", tdist.Normal(0.0, 1.0), torch.tensor(0.0), stack=(Frame("time", None, 3, 1, 3),)
    )
    tr.add_node("_RETURN", name="_RETURN", type="return", value=None)
    return tr


# -- format_shapes -------------------------------------------------------------------


def test_format_shapes_empty_trace_is_title():
    assert Trace().format_shapes() == "Trace Shapes:"
    assert Trace().format_shapes(title="Model:") == "Model:"


def test_format_shapes_lists_params_and_samples_padded_as_pyro():
    table = plated_trace().format_shapes()
    # As Pyro: no plate section, every line padded to one width.
    assert len({len(line) for line in table.splitlines()}) == 1
    lines = [line.strip() for line in table.splitlines()]
    assert lines[0] == "Trace Shapes:"
    assert not any("Plates" in line for line in lines)
    squeezed = [" ".join(line.split()) for line in lines]
    order = [squeezed.index(row) for row in ("Param Sites:", "s 2 3", "Sample Sites:")]
    assert order == sorted(order)
    assert [line.split() for line in lines if line.startswith("z dist")] == [
        ["z", "dist", "5", "4", "|", "2"]
    ]
    assert "_INPUT" not in table and "_RETURN" not in table


def test_format_shapes_aligns_bar_and_batch_dims():
    table = plated_trace().format_shapes()
    rows = [line for line in table.splitlines() if "|" in line]
    assert len(rows) == 6  # dist and value rows of z, y, t
    assert len({row.index("|") for row in rows}) == 1
    # Batch dims are right-aligned: the last batch dim of every row ends in one column.
    z_dist, y_dist = rows[0], rows[2]
    assert z_dist[: z_dist.index("|")].rstrip().endswith("4")
    assert y_dist[: y_dist.index("|")].rstrip().endswith("1")


def test_format_shapes_splits_value_shape_by_event_dim_and_shows_log_prob():
    tr = Trace()
    fn = tdist.Independent(tdist.Normal(torch.zeros(3, 2), 1.0), 1)
    add_sample(tr, "z", fn, torch.zeros(7, 3, 2))
    tr.compute_log_prob()
    rows = [line.split() for line in tr.format_shapes().splitlines()]
    assert ["value", "7", "3", "|", "2"] in rows
    assert ["log_prob", "7", "3", "|"] in rows


def test_format_shapes_last_site_stops_table():
    table = plated_trace().format_shapes(last_site="z")
    assert "z dist" in table and "y dist" not in table and "time" not in table


def test_format_shapes_handles_plain_number_values():
    nodes = {"c": {"type": "param", "value": 1.0}, "x": {"type": "sample", "value": 2.0}}
    rows = [line.split() for line in format_shapes(nodes).splitlines()]
    assert ["c"] in rows and ["x", "dist", "|"] in rows and ["value", "|"] in rows


def test_format_shapes_class_recorded_as_fn_shows_no_dist_shape():
    # A class where an instance belongs (Pyro's table raises on it).
    nodes = {"x": {"type": "sample", "fn": tdist.Normal, "value": torch.zeros(2)}}
    rows = [line.split() for line in format_shapes(nodes).splitlines()]
    assert ["x", "dist", "|"] in rows and ["value", "2", "|"] in rows


# -- symbolize_dims / pack -------------------------------------------------------------


def test_symbolize_dims_assigns_plate_and_enum_symbols():
    tr = plated_trace()
    tr.nodes["y"]["infer"]["_dim_to_id"] = {-3: 0}
    tr.symbolize_dims()
    assert tr.plate_to_symbol == {"outer": "a", "inner": "c"}
    assert tr.symbol_to_dim == {"a": -2, "c": -1, "b": -3}
    assert tr.nodes["z"]["packed"]["dim_to_symbol"] == {-2: "a", -1: "c"}
    assert tr.nodes["y"]["packed"]["dim_to_symbol"] == {-2: "a", -3: "b"}
    assert tr.nodes["t"]["packed"]["dim_to_symbol"] == {}  # sequential plates have no dim


def test_symbolize_dims_extends_given_plate_to_symbol_in_place():
    shared = {"inner": "a"}
    tr = plated_trace()
    tr.symbolize_dims(shared)
    assert shared == {"inner": "a", "outer": "c"}
    assert tr.plate_to_symbol is shared


def test_pack_squeezes_singletons_and_names_dims():
    packed, dims = pack_with_dims(torch.arange(6.0).reshape(2, 1, 3), {-3: "a", -1: "c"})
    assert packed.shape == (2, 3) and dims == "ac" and packed._pyro_dims == "ac"
    assert torch.equal(packed, torch.arange(6.0).reshape(2, 3))
    assert pack_with_dims(None, {}) == (None, "")
    assert pack_with_dims(2.0, {}) == (2.0, "")


def test_pack_returns_the_packed_tensor_as_pyro():
    packed = pack(torch.zeros(2, 1, 3), {-1: "a", -3: "b"})
    assert packed.shape == (2, 3) and packed._pyro_dims == "ba"
    assert pack(1.5, {}) == 1.5


def test_pack_unowned_dim_raises_naming_site_and_dim():
    with pytest.raises(ShapeError, match=r"site 'w': log_prob has shape \(3, 4\).*dim -2"):
        pack_with_dims(torch.zeros(3, 4), {-1: "a"}, "w", "log_prob")


def test_pack_tensors_packs_log_probs_scale_and_mask():
    tr = plated_trace()
    y = tr.nodes["y"]
    y["scale"] = torch.full((5, 1), 20.0)
    y["mask"] = torch.tensor([True, False, True, True, True]).unsqueeze(-1)
    tr.compute_score_parts()
    tr.pack_tensors()
    z = tr.nodes["z"]["packed"]
    assert z["log_prob"].shape == (5, 4) and z["dims"]["log_prob"] == "ac"
    assert torch.equal(z["log_prob"], tr.nodes["z"]["log_prob"])
    packed = y["packed"]
    # y's log_prob is (5, 1): only the non-singleton plate dim stays.
    assert packed["log_prob"].shape == (5,) and packed["dims"]["log_prob"] == "a"
    assert torch.equal(packed["log_prob"], y["log_prob"].reshape(5))
    assert torch.equal(packed["unscaled_log_prob"], y["unscaled_log_prob"].reshape(5))
    assert packed["scale"].shape == (5,) and packed["dims"]["scale"] == "a"
    assert packed["mask"].shape == (5,) and packed["mask"].dtype == torch.bool
    assert packed["score_parts"].entropy_term.shape == (5,)
    t = tr.nodes["t"]["packed"]
    assert t["log_prob"].shape == () and t["dims"] == {
        "unscaled_log_prob": "",
        "log_prob": "",
        "scale": "",
        "mask": "",
    }


def test_pack_tensors_computes_log_prob_when_missing():
    tr = plated_trace()
    tr.pack_tensors()
    assert "log_prob" in tr.nodes["z"] and tr.nodes["z"]["packed"]["log_prob"].shape == (5, 4)


def test_pack_tensors_dim_without_plate_raises_with_table():
    tr = Trace()
    add_sample(tr, "w", tdist.Normal(torch.zeros(3), 1.0), torch.zeros(3))
    with pytest.raises(ShapeError, match="site 'w'.*belongs to no plate") as info:
        tr.pack_tensors()
    assert any("w dist" in note for note in info.value.__notes__)


def test_pack_site_missing_keys_pass_through():
    site: dict[str, Any] = {
        "type": "sample",
        "log_prob": torch.zeros(2, 1),
        "cond_indep_stack": (Frame("i", -2, 2, 0),),
    }
    symbolize_dims({"x": site})
    pack_site("x", site)
    assert site["packed"]["dims"]["log_prob"] == "a"
    assert site["packed"]["scale"] is None and site["packed"]["dims"]["scale"] == ""
