"""What errors at or between sites say: the class-for-instance error, the hint
for a fn without log_prob, the obs_mask shape error and the program's line."""

from __future__ import annotations

import sys
from types import TracebackType

import pytest
import torch

import tracegraph.distributions as dist
from tracegraph.errors import ShapeError, SiteTypeError
from tracegraph.poutine.messages import CondIndepStackFrame, new_sample_message
from tracegraph.poutine.site_errors import (
    class_fn_error,
    fn_hint,
    masked_value_error,
    program_line,
)


def test_class_fn_error_is_a_type_error_naming_site_and_class():
    err = class_fn_error("z", dist.Bernoulli, "its log_prob cannot be computed")
    assert isinstance(err, SiteTypeError) and isinstance(err, TypeError)
    assert str(err).startswith("site 'z': fn is the class Bernoulli, not a distribution")
    assert "Bernoulli(...)" in str(err)


@pytest.mark.parametrize(
    "fn,kind", [(lambda: 0.0, "function"), (torch.zeros(2), "Tensor"), (None, "NoneType")]
)
def test_fn_hint_names_site_and_kind_of_fn(fn, kind):
    assert fn_hint("z", fn) == (
        f"hint: site 'z' has a {kind} as fn, which has no log_prob; pass a distribution "
        "instance such as dist.Normal(0., 1.)"
    )


@pytest.mark.parametrize("fn", [dist.Normal(0.0, 1.0), dist.Normal])
def test_fn_hint_none_for_distributions_and_classes(fn):
    # (A class gets class_fn_error instead.)
    assert fn_hint("z", fn) is None


def _msg(plate_size: int | None = 3):
    msg = new_sample_message("s", dist.Normal(0.0, 1.0).expand((3,)))
    msg["name"] = "s"
    if plate_size is not None:
        msg["cond_indep_stack"] = (CondIndepStackFrame("p", -1, plate_size, 0, plate_size),)
    return msg


def test_masked_value_error_mask_shape_is_shape_error_with_batch_shape():
    exc = RuntimeError("torch says")
    err = masked_value_error(
        _msg(), torch.ones(2, dtype=torch.bool), torch.zeros(3), torch.zeros(3), exc
    )
    assert isinstance(err, ShapeError) and isinstance(err, ValueError)
    text = str(err)
    assert "site 's': obs_mask has shape (2,)" in text
    assert "batch shape (3,)" in text and "plates: 'p' (dim -1, size 3)" in text


def test_masked_value_error_event_dims_are_not_batch():
    msg = new_sample_message("s", dist.Normal(torch.zeros(3, 2), 1.0).to_event(1))
    msg["name"] = "s"
    mask, value = torch.ones(3, 2, dtype=torch.bool), torch.zeros(3, 2)
    err = masked_value_error(msg, mask, value, value, RuntimeError("x"))
    assert "batch shape (3,)" in str(err) and "event shape (2,)" in str(err)


def test_masked_value_error_values_not_broadcasting_keeps_exc_with_note():
    exc = RuntimeError("torch says")
    out = masked_value_error(
        _msg(), torch.ones(2, dtype=torch.bool), torch.zeros(2), torch.zeros(3), exc
    )
    assert out is exc
    assert "obs has shape (2,) and the latent value (3,)" in exc.__notes__[0]
    assert exc._tracegraph_site_noted


def _traceback_of(fn) -> TracebackType:
    try:
        fn()
    except Exception:
        return sys.exc_info()[2]
    raise AssertionError("fn did not raise")


def test_program_line_is_innermost_user_frame_with_its_text():
    def build():
        return dist.Normal(0.0, -1.0)  # the line quoted

    line = program_line(_traceback_of(build))
    assert line is not None
    assert line.startswith(f'File "{__file__}", line ')
    assert line.endswith("in build: return dist.Normal(0.0, -1.0)  # the line quoted")


def test_program_line_none_when_only_library_frames():
    tb = _traceback_of(lambda: dist.Normal(0.0, -1.0))
    # Drop the frames of this file: torch's and tracegraph's remain.
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    assert tb is not None and program_line(tb) is None


def test_program_line_without_source_text_gives_place_only():
    code = compile("def f():\n    return 1 / 0\n", "<generated>", "exec")
    namespace: dict = {}
    exec(code, namespace)
    assert program_line(_traceback_of(namespace["f"])) == 'File "<generated>", line 2, in f'
