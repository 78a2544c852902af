"""tracegraph.settings: Pyro's get / set / context / register."""

from __future__ import annotations

import pytest

import tracegraph
from tracegraph import settings
from tracegraph.poutine import validation

LIMIT = 3


class Holder:
    value = 1


@pytest.fixture
def registered():
    names = ["test_limit", "test_deep", "test_checked"]
    yield
    for name in names:
        settings._REGISTRY.pop(name, None)


def test_settings_defaults_are_the_validation_flags():
    assert settings.get() == {
        "module_local_params": False,  # PyroModule params in the param store (Pyro's)
        "validate_distributions_pyro": True,
        "validate_distributions_torch": True,
        "validate_infer": True,
        "validate_poutine": True,
    }


def test_settings_set_and_context_drive_the_poutine_flag():
    with settings.context(validate_poutine=False):
        assert not validation.is_validation_enabled()
    assert validation.is_validation_enabled()
    settings.set(validate_poutine=False)
    assert settings.get("validate_poutine") is False
    settings.set(validate_poutine=True)


def test_settings_context_restores_after_an_exception():
    with pytest.raises(RuntimeError), settings.context(validate_poutine=False):
        raise RuntimeError
    assert settings.get("validate_poutine") is True


@pytest.mark.parametrize("call", [settings.get, lambda a: settings.set(**{a: 1})])
def test_settings_unknown_alias_raises_key_error(call):
    with pytest.raises(KeyError):
        call("no_such_setting")


def test_settings_register_declaration_and_deep_names(registered):
    decorator = settings.register("test_limit", __name__, "LIMIT")
    assert callable(decorator)
    settings.set(test_limit=7)
    assert LIMIT == 7 and settings.get("test_limit") == 7
    settings.register("test_deep", __name__, "Holder.value")
    with settings.context(test_deep=5):
        assert Holder.value == 5
    assert Holder.value == 1


def test_settings_register_as_decorator_validates(registered):
    @settings.register("test_checked", __name__, "LIMIT")
    def _positive(value):
        if value <= 0:
            raise ValueError("must be positive")

    with pytest.raises(ValueError, match="positive"):
        settings.set(test_checked=-1)
    settings.set(test_checked=2)
    assert settings.get("test_checked") == 2


def test_settings_reachable_from_the_package():
    assert tracegraph.settings is settings
