"""Tracked tensors never appear under their class name in error messages."""

from __future__ import annotations

import pytest
import torch

from tracegraph.ops.provenance import (
    plain_names,
    scrub_tracked_names,
    track_provenance,
    untracked,
)


def test_plain_names_rewrites_both_classes():
    text = "ProvenanceTensor of shape (2,), DynamicShapeProvenanceTensor([1.]), MyProvenanceTensorX"
    assert plain_names(text) == "Tensor of shape (2,), tensor([1.]), MyProvenanceTensorX"


def test_scrub_tracked_names_message_notes_and_cause():
    t = track_provenance(torch.tensor(float("nan")), {"z"})
    with untracked():
        shown = repr(t)  # torch's own display, as inside a fast path
    assert "ProvenanceTensor" in shown
    try:
        try:
            raise KeyError("inner")
        except KeyError as inner:
            raise ValueError(f"bad {shown}") from inner
    except ValueError as exc:
        exc.add_note(f"at {type(t).__name__} of shape ()")
        exc.__cause__.add_note(shown)  # type: ignore[union-attr]
        scrub_tracked_names(exc)
        assert exc.args == ("bad tensor(nan)",)
        assert exc.__notes__ == ["at Tensor of shape ()"]
        assert exc.__cause__.__notes__ == ["tensor(nan)"]  # type: ignore[union-attr]


def test_scrub_tracked_names_leaves_multi_argument_messages():
    exc = OSError(2, "ProvenanceTensor")
    scrub_tracked_names(exc)
    assert exc.args == (2, "ProvenanceTensor")


@pytest.mark.parametrize("fmt", [repr, str, "{}".format])
def test_tracked_tensor_display_outside_fast_path_is_plain(fmt):
    t = track_provenance(torch.tensor([1.0, 2.0]), {"a"})
    assert "ProvenanceTensor" not in fmt(t)
