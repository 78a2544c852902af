"""Store names of nn.Module params, as Pyro builds and splits them."""

from __future__ import annotations

from tracegraph.params import param_store
from tracegraph.params.module_names import (
    module_from_param_with_module_name,
    normalize_param_name,
    param_with_module_name,
    user_param_name,
)


def test_module_names_round_trip():
    name = param_with_module_name("net", "layer.weight")
    assert name == "net$$$layer.weight"
    assert module_from_param_with_module_name(name) == "net"
    assert user_param_name(name) == "layer.weight"


def test_module_names_nested_dividers_as_pyro():
    assert user_param_name("a$$$b$$$c") == "b"
    assert module_from_param_with_module_name("a$$$b$$$c") == "a"
    assert normalize_param_name("a$$$b$$$c") == "a.b.c"


def test_names_without_a_module_are_kept():
    assert user_param_name("loc") == module_from_param_with_module_name("loc") == "loc"
    assert normalize_param_name("loc") == "loc"


def test_param_store_module_exports_them():
    assert param_store.normalize_param_name is normalize_param_name
    assert param_store.transform_to is __import__("torch").distributions.transform_to
    assert set(param_store.StateDict.__annotations__) == {"params", "constraints"}
