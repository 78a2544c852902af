"""The Messenger base class: hook tables, context manager, decorator, pickling."""

from __future__ import annotations

import pickle

import pytest

from tracegraph.errors import HandlerError
from tracegraph.poutine.messenger import HandledFunction, Messenger, block_messengers
from tracegraph.poutine.runtime import (
    am_i_wrapped,
    apply_stack,
    effectful,
    get_handler_stack,
    new_message,
)


@effectful(type="sample")
def _sample(name=None):
    return 1.0


@effectful(type="param")
def _param(name=None):
    return 10.0


class Doubler(Messenger):
    def _pyro_post_sample(self, msg):
        msg["value"] = 2 * msg["value"]


class Tagger(Messenger):
    def __init__(self):
        super().__init__()
        self.seen = []

    def _pyro_sample(self, msg):
        self.seen.append(("sample", msg["name"]))

    def _pyro_param(self, msg):
        self.seen.append(("param", msg["name"]))


class LoudTagger(Tagger):
    # Overrides one hook and inherits the other.
    def _pyro_sample(self, msg):
        self.seen.append(("loud", msg["name"]))


def _module_level_model(x):
    return _sample(name="z") + x


def test_messenger_hook_tables_built_per_class():
    assert set(Tagger._process_hooks) == {"sample", "param"}
    assert Tagger._postprocess_hooks == {}
    assert set(Doubler._postprocess_hooks) == {"sample"}
    # A post hook is never mistaken for a process hook of type "post_sample".
    assert "post_sample" not in Doubler._process_hooks


def test_messenger_hooks_dispatch_on_message_type():
    t = Tagger()
    with t:
        _sample(name="a")
        _param(name="b")
        apply_stack(new_message("custom", "c", lambda: None))
    assert t.seen == [("sample", "a"), ("param", "b")]


def test_messenger_subclass_overrides_and_inherits_hooks():
    t = LoudTagger()
    with t:
        _sample(name="a")
        _param(name="b")
    assert t.seen == [("loud", "a"), ("param", "b")]


def test_messenger_post_hook_changes_value():
    with Doubler():
        assert _sample(name="x") == 2.0
    assert _sample(name="x") == 1.0


def test_messenger_context_manager_returns_self():
    m = Messenger()
    with m as entered:
        assert entered is m and get_handler_stack() == (m,)


def test_messenger_reentered_after_exit():
    t = Tagger()
    for name in ("a", "b"):
        with t:
            _sample(name=name)
    assert t.seen == [("sample", "a"), ("sample", "b")]


def test_messenger_as_decorator_runs_fn_under_handler():
    doubled = Doubler()(_module_level_model)
    assert isinstance(doubled, HandledFunction)
    assert doubled(1.0) == 3.0
    assert doubled.__name__ == "_module_level_model"  # type: ignore[attr-defined]
    assert get_handler_stack() == ()


def test_messenger_decorator_syntax():
    @Doubler()
    def model():
        return _sample(name="x")

    assert model() == 2.0


def test_handled_function_non_callable_raises_handler_error():
    with pytest.raises(HandlerError, match="Doubler expected a callable.*int"):
        HandledFunction(Doubler(), 3)  # type: ignore[arg-type]


def test_handled_function_restores_stack_when_fn_raises():
    def bad():
        _sample(name="x")
        raise RuntimeError("model failed")

    with pytest.raises(RuntimeError, match="model failed"):
        Doubler()(bad)()
    assert get_handler_stack() == ()


def test_handled_function_pickle_roundtrip():
    fn = pickle.loads(pickle.dumps(Doubler()(_module_level_model)))
    assert isinstance(fn.msngr, Doubler) and fn(0.5) == 2.5


def test_handled_function_repr_names_handler_and_fn():
    assert repr(Doubler()(_module_level_model)) == "Doubler('_module_level_model')"


def test_messenger_process_message_override_bypasses_hooks():
    seen = []

    class Raw(Messenger):
        def _process_message(self, msg):
            seen.append(msg["type"])

    with Raw():
        _sample(name="a")
        apply_stack(new_message("custom", "b", lambda: None))
    assert seen == ["sample", "custom"]


class StaticHook(Messenger):
    # Pyro's own BroadcastMessenger declares its hook this way.
    @staticmethod
    def _pyro_sample(msg):
        msg["value"] = 7.0


def test_messenger_staticmethod_hook_called_with_msg_only():
    with StaticHook():
        assert _sample(name="x") == 7.0


class Quiet(Doubler):
    _pyro_post_sample = None  # type: ignore[assignment]


def test_messenger_subclass_disables_inherited_hook_with_none():
    with Quiet():
        assert _sample(name="x") == 1.0


# -- register / unregister, unwrap, methods ---------------------------------------------


def test_messenger_register_adds_a_hook_to_the_class_and_its_subclasses():
    from tracegraph.poutine.runtime import effectful

    class Base(Messenger):
        pass

    class Sub(Base):
        pass

    seen = []
    tick = effectful(lambda: None, type="tick")

    def hook(msg):
        seen.append(msg["name"])

    assert Base.register(hook, type="tick") is hook
    with Sub():
        tick(name="a")
    Base.register(type="tick", post=True)(hook)
    with Base():
        tick(name="b")
    assert seen == ["a", "b", "b"]
    assert Base.unregister(hook, "tick") is hook
    with Sub():
        tick(name="c")
    assert seen == ["a", "b", "b"]


def test_messenger_register_needs_a_type():
    with pytest.raises(ValueError, match="type name must be provided"):
        Messenger.register(print)
    with pytest.raises(ValueError, match="type name must be provided"):
        Messenger.unregister(print)


def test_handled_function_binds_as_a_method():
    class Model:
        @Messenger()
        def run(self, x):
            return (self, x)

    m = Model()
    assert m.run(3) == (m, 3)


def test_unwrap_goes_through_handlers_but_not_traced_functions():
    from tracegraph import poutine
    from tracegraph.poutine.messenger import unwrap

    def model():
        pass

    traced = poutine.trace(model)
    assert unwrap(poutine.block(poutine.scale(model, scale=2.0))) is model
    assert unwrap(traced) is traced and unwrap(poutine.block(traced)) is traced


def test_messenger_reset_is_a_no_op_by_default():
    m = Messenger()
    m._reset()
    assert vars(m) == vars(Messenger())


# -- block_messengers ----------------------------------------------------------------


class Recorder(Messenger):
    """Appends ``(label, phase)`` to a shared log for every message it sees."""

    def __init__(self, label: str, log: list) -> None:
        super().__init__()
        self.label = label
        self.log = log

    def _process_message(self, msg):
        self.log.append((self.label, "process"))

    def _postprocess_message(self, msg):
        self.log.append((self.label, "post"))


def test_block_messengers_hides_matching_and_restores():
    a, b, c = Recorder("a", []), Messenger(), Recorder("c", [])
    with a, b, c:
        with block_messengers(lambda h: isinstance(h, Recorder)) as blocked:
            assert blocked == [a, c]
            # As Pyro: a do-nothing Messenger holds each muted handler's place.
            stack = get_handler_stack()
            assert len(stack) == 3 and stack[1] is b
            assert all(type(h) is Messenger for h in (stack[0], stack[2]))
            inner = Messenger()
            with inner:
                assert get_handler_stack()[-1] is inner
            assert get_handler_stack() == stack
        assert get_handler_stack() == (a, b, c)


def test_block_messengers_restores_after_exception():
    a = Messenger()
    with a:
        with pytest.raises(ValueError):
            with block_messengers(lambda h: True):
                assert get_handler_stack() != (a,) and am_i_wrapped()
                raise ValueError
        assert get_handler_stack() == (a,)


def test_block_messengers_blocked_handler_sees_no_message():
    log: list = []
    with Recorder("a", log):
        with block_messengers(lambda h: True):
            apply_stack(new_message("sample", "x", lambda: 1.0))
    assert log == []
