"""The effect runtime: messages, the three-phase protocol, the ContextVar stack."""

from __future__ import annotations

import pytest
import torch

from tracegraph.errors import HandlerError, SiteTypeError
from tracegraph.poutine.messenger import Messenger
from tracegraph.poutine.runtime import (
    CondIndepStackFrame,
    am_i_wrapped,
    apply_stack,
    call_site_fn,
    default_process_message,
    effectful,
    get_handler_stack,
    new_message,
)

PYRO_KEYS = {
    "type",
    "name",
    "fn",
    "is_observed",
    "args",
    "kwargs",
    "value",
    "scale",
    "mask",
    "cond_indep_stack",
    "done",
    "stop",
    "continuation",
    "infer",
}


class Recorder(Messenger):
    """Appends ``(label, phase)`` to a shared log for every message it sees."""

    def __init__(self, label: str, log: list, stop: bool = False) -> None:
        super().__init__()
        self.label = label
        self.log = log
        self.stop = stop

    def _process_message(self, msg):
        self.log.append((self.label, "process"))
        if self.stop:
            msg["stop"] = True

    def _postprocess_message(self, msg):
        self.log.append((self.label, "post"))


def _logged_message(log: list, **kwargs):
    def fn():
        log.append(("default", "fn"))
        return 1.0

    msg = new_message("sample", "x", fn, **kwargs)
    msg["continuation"] = lambda m: log.append(("continuation", m["value"]))
    return msg


@effectful(type="sample")
def _draw(scale=1.0, name=None):
    return 2.0 * scale


def test_new_message_has_pyro_keys_and_defaults():
    msg = new_message("sample", "z", len, "ab", value=None, foo=1)
    assert set(msg) == PYRO_KEYS
    assert msg["args"] == ("ab",) and msg["kwargs"] == {"foo": 1}
    assert msg["scale"] == 1.0 and msg["mask"] is None
    assert msg["cond_indep_stack"] == () and msg["infer"] == {}
    assert not msg["done"] and not msg["stop"] and not msg["is_observed"]
    assert msg["continuation"] is None


def test_new_message_infer_dicts_are_not_shared():
    a, b = new_message("sample", "a", len), new_message("sample", "b", len)
    a["infer"]["x"] = 1
    assert b["infer"] == {}


def test_apply_stack_no_handler_runs_default():
    msg = new_message("sample", "x", lambda a, b=0: a + b, 1, b=2)
    apply_stack(msg)
    assert msg["value"] == 3 and msg["done"]


def test_apply_stack_phase_order_inner_first_then_outer_first():
    log: list = []
    with Recorder("outer", log), Recorder("middle", log), Recorder("inner", log):
        apply_stack(_logged_message(log))
    assert log == [
        ("inner", "process"),
        ("middle", "process"),
        ("outer", "process"),
        ("default", "fn"),
        ("outer", "post"),
        ("middle", "post"),
        ("inner", "post"),
        ("continuation", 1.0),
    ]


def test_apply_stack_stop_halts_processing_at_the_stopping_handler():
    log: list = []
    with Recorder("outer", log), Recorder("middle", log, stop=True), Recorder("inner", log):
        apply_stack(_logged_message(log))
    # The outer handler neither processes nor post-processes a stopped message;
    # the default action and the continuation still run.
    assert log == [
        ("inner", "process"),
        ("middle", "process"),
        ("default", "fn"),
        ("middle", "post"),
        ("inner", "post"),
        ("continuation", 1.0),
    ]


def test_apply_stack_preset_value_skips_default_action():
    log: list = []
    msg = _logged_message(log, value=5.0)
    apply_stack(msg)
    assert msg["value"] == 5.0 and msg["done"] and ("default", "fn") not in log


def test_default_process_message_done_message_not_recomputed():
    calls = []
    msg = new_message("sample", "x", lambda: calls.append(1))
    msg["done"] = True
    default_process_message(msg)
    assert calls == [] and msg["value"] is None


def test_default_process_message_class_fn_raises_site_type_error():
    msg = new_message("sample", "x", torch.distributions.Normal)
    with pytest.raises(SiteTypeError, match="site 'x': fn is the class Normal") as info:
        default_process_message(msg)
    # torch's own TypeError is the cause, and its text is in the message.
    assert isinstance(info.value.__cause__, TypeError)
    assert "missing 2 required positional arguments" in str(info.value)


def test_default_process_message_class_fn_that_accepts_args_runs_as_pyro():
    msg = new_message("sample", "x", torch.distributions.Normal, 0.0, 1.0)
    default_process_message(msg)
    assert isinstance(msg["value"], torch.distributions.Normal)


def test_default_process_message_class_fn_value_error_keeps_type_with_note():
    msg = new_message("sample", "x", torch.distributions.Normal, 0.0, -1.0)
    with pytest.raises(ValueError, match="scale") as info:
        default_process_message(msg)
    note = "while drawing a value at site 'x': the class Normal; no plates"
    assert info.value.__notes__ == [note]


def test_call_site_fn_class_fn_raises_site_type_error():
    with pytest.raises(SiteTypeError, match="site 'x': fn is the class Normal"):
        call_site_fn("x", torch.distributions.Normal, (), {})


def test_effectful_no_handler_calls_fn_directly():
    assert _draw(3.0, name="x") == 6.0
    # As Pyro: with no handler the keywords of the effect (obs too) are dropped.
    assert _draw(name="x", obs=0.5) == 2.0
    assert _draw._is_effectful


def test_effectful_under_handler_builds_message():
    seen = []

    class Spy(Messenger):
        def _pyro_sample(self, msg):
            seen.append(dict(msg))

    with Spy():
        assert _draw(3.0, name="x") == 6.0
        assert _draw(name="y", obs=0.25, infer={"k": 1}) == 0.25
    assert seen[0]["type"] == "sample" and seen[0]["name"] == "x"
    assert seen[0]["args"] == (3.0,) and not seen[0]["is_observed"]
    assert seen[1]["is_observed"] and seen[1]["value"] == 0.25 and seen[1]["infer"] == {"k": 1}


def test_effectful_missing_type_raises_assertion_error_as_pyro():
    with pytest.raises(AssertionError, match="type") as info:
        effectful(lambda: 1)
    assert isinstance(info.value, ValueError)


def test_am_i_wrapped_only_inside_a_handler():
    assert not am_i_wrapped()
    with Messenger():
        assert am_i_wrapped()
    assert not am_i_wrapped()


def test_handler_stack_outer_handler_first():
    a, b = Messenger(), Messenger()
    with a, b:
        assert get_handler_stack() == (a, b)
    assert get_handler_stack() == ()


def test_handler_stack_restored_when_model_raises():
    a, b = Messenger(), Messenger()
    with pytest.raises(KeyError):
        with a:
            with b:
                raise KeyError("boom")
    assert get_handler_stack() == ()


def test_handler_exit_removes_leaked_inner_handlers():
    outer, leaked = Messenger(), Messenger()
    outer.__enter__()
    leaked.__enter__()  # never exited, e.g. an abandoned generator
    outer.__exit__(None, None, None)
    assert get_handler_stack() == ()


def test_handler_exit_when_not_active_raises():
    with pytest.raises(RuntimeError, match="not active"):
        Messenger().__exit__(None, None, None)


def test_handler_entered_twice_raises_handler_error():
    m = Messenger()
    with m:
        with pytest.raises(HandlerError, match="already active"):
            m.__enter__()
    assert get_handler_stack() == ()


def test_cond_indep_stack_frame_fields():
    vec = CondIndepStackFrame("data", -1, 10, 0, 100)
    seq = CondIndepStackFrame("steps", None, 3, 2)
    assert vec.vectorized and not seq.vectorized
    assert vec.full_size == 100 and seq.full_size is None
    assert seq._key() == ("steps", None, 3, 2)


def test_cond_indep_stack_frame_equality_ignores_full_size_as_pyro():
    a = CondIndepStackFrame("data", -1, 10, 0, 100)
    assert a == CondIndepStackFrame("data", -1, 10, 0, 50)
    assert hash(a) == hash(CondIndepStackFrame("data", -1, 10, 0))
    assert a != CondIndepStackFrame("data", -1, 10, 1, 100)
    assert a != ("data", -1, 10, 0, 100) and str(a) == "data"


# -- Pyro's runtime names ------------------------------------------------------------


def test_message_keys_in_pyro_order():
    from tracegraph.poutine.runtime import new_sample_message

    assert list(new_sample_message("z", len)) == [
        "type", "name", "fn", "is_observed", "args", "kwargs", "value", "infer",
        "scale", "mask", "cond_indep_stack", "done", "stop", "continuation",
    ]  # fmt: skip
    assert list(new_message("param", "w", len))[-1] == "infer"


def test_get_mask_and_get_plates_report_enclosing_handlers():
    import torch

    import tracegraph
    from tracegraph import poutine
    from tracegraph.poutine.runtime import get_mask, get_plates

    assert get_mask() is None and get_plates() == ()
    with tracegraph.plate("a", 3), tracegraph.plate("b", 2, dim=-3):
        assert [(f.name, f.dim) for f in get_plates()] == [("a", -1), ("b", -3)]
        with poutine.mask(mask=torch.tensor([True, False, True])):
            assert get_mask().tolist() == [True, False, True]
        with poutine.block():
            assert get_plates() == () and get_mask() is None


def test_get_mask_is_not_recorded_by_traces():
    from tracegraph import poutine
    from tracegraph.poutine.runtime import get_mask

    with poutine.trace() as tm, poutine.mask(mask=False):
        assert get_mask() is False
    assert len(tm.trace.nodes) == 0


def test_nonlocal_exit_reset_stack_resets_the_active_handlers():
    from tracegraph.poutine.runtime import NonlocalExit

    class Counting(Messenger):
        resets = 0

        def _reset(self):
            Counting.resets += 1

    with Counting(), Counting():
        NonlocalExit({"name": "z"}).reset_stack()
    assert Counting.resets == 2


def test_nonlocal_exit_args_and_pickle():
    import pickle

    from tracegraph.poutine.runtime import NonlocalExit

    e = NonlocalExit({"name": "z"}, 1)
    assert e.args == (1,) and e.site == {"name": "z"}
    assert pickle.loads(pickle.dumps(e)).site == {"name": "z"}
    assert str(NonlocalExit({"name": "z"})) == "escaped at site 'z'"


def test_discard_removes_only_the_handler_and_never_raises():
    from tracegraph.poutine.runtime import _discard

    a, b, c = Messenger(), Messenger(), Messenger()
    with a:
        b.__enter__()
        with c:
            _discard(b)
            assert get_handler_stack() == (a, c)
            _discard(b)  # not active: nothing happens
    assert get_handler_stack() == ()


def test_apply_stack_parameter_is_initial_msg():
    msg = new_message("sample", "x", lambda: 1.0)
    apply_stack(initial_msg=msg)
    assert msg["value"] == 1.0
