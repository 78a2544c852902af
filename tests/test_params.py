"""Tests of the param store (``tracegraph.params``)."""

from __future__ import annotations

import copy
import io
import pickle
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.distributions import constraints, transform_to
from torch.distributions.constraints import Constraint
from torch.distributions.transforms import ExpTransform

from tracegraph.errors import SiteError
from tracegraph.params import (
    ParamStoreDict,
    clear_param_store,
    get_param_store,
    module_from_param_with_module_name,
    param_with_module_name,
    register_constraint_type,
    user_param_name,
)

# -- helpers -------------------------------------------------------------------------

_BIT_VIEW = {
    torch.float16: torch.int16,
    torch.bfloat16: torch.int16,
    torch.float32: torch.int32,
    torch.float64: torch.int64,
}


def _bits(t: torch.Tensor) -> torch.Tensor:
    """The raw bit patterns, so NaN payloads and -0.0 compare exactly."""
    return t.detach().contiguous().view(_BIT_VIEW[t.dtype])


def _same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(_bits(a), _bits(b))


def _same_constraint(a: Any, b: Any) -> bool:
    """Same class and recursively identical parameters (floats by type and value)."""
    if isinstance(a, Constraint):
        if type(a) is not type(b) or set(vars(a)) != set(vars(b)):
            return False
        return all(_same_constraint(vars(a)[k], vars(b)[k]) for k in vars(a))
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and _same_bits(a, b)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same_constraint(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def _unc(value: torch.Tensor) -> torch.Tensor:
    """``value.unconstrained()``: an attribute the store attaches, unknown to mypy."""
    return value.unconstrained()  # type: ignore[attr-defined,no-any-return]


def _leaf(store: ParamStoreDict, name: str) -> torch.Tensor:
    return dict(store.named_parameters())[name]


# Every constraint the safe format supports, with a valid constrained init value.
SUPPORTED: list[tuple[str, Constraint, torch.Tensor]] = [
    ("real", constraints.real, torch.tensor([-1.0, 2.0])),
    ("real_vector", constraints.real_vector, torch.tensor([-1.0, 2.0])),
    ("positive", constraints.positive, torch.tensor([0.5, 2.0])),
    ("nonnegative", constraints.nonnegative, torch.tensor([0.5, 2.0])),
    ("unit_interval", constraints.unit_interval, torch.tensor([0.25, 0.5])),
    ("simplex", constraints.simplex, torch.tensor([0.25, 0.75])),
    ("lower_cholesky", constraints.lower_cholesky, torch.tensor([[1.0, 0.0], [0.5, 2.0]])),
    ("corr_cholesky", constraints.corr_cholesky, torch.eye(2)),
    ("positive_definite", constraints.positive_definite, 2 * torch.eye(2)),
    ("positive_semidefinite", constraints.positive_semidefinite, 2 * torch.eye(2)),
    ("greater_than", constraints.greater_than(0.1), torch.tensor([0.5, 2.0])),
    (
        "greater_than_tensor",
        constraints.greater_than(torch.tensor([0.1, -1.0], dtype=torch.float64)),
        torch.tensor([0.5, 2.0], dtype=torch.float64),
    ),
    ("greater_than_eq", constraints.greater_than_eq(-1.5), torch.tensor([0.5, 2.0])),
    ("less_than", constraints.less_than(3.7), torch.tensor([0.5, 2.0])),
    ("interval", constraints.interval(0.1, 0.7), torch.tensor([0.2, 0.5])),
    ("half_open_interval", constraints.half_open_interval(-1.0, 1.0), torch.tensor([0.0, 0.5])),
    ("independent", constraints.independent(constraints.positive, 1), torch.tensor([1.0, 2.0])),
    (
        "cat",
        constraints.cat([constraints.real, constraints.positive], 0, [1, 2]),
        torch.tensor([-1.0, 1.0, 2.0]),
    ),
    (
        "stack",
        constraints.stack([constraints.real, constraints.unit_interval], 0),
        torch.tensor([-1.0, 0.5]),
    ),
]


# -- constraints and constrained values ------------------------------------------------


@pytest.mark.parametrize(
    "constraint, value",
    [
        (constraints.positive, torch.tensor([0.5, 3.0])),
        (constraints.interval(-2.0, 5.0), torch.tensor([-1.0, 4.5])),
        (constraints.simplex, torch.tensor([0.2, 0.3, 0.5])),
        (constraints.lower_cholesky, torch.tensor([[2.0, 0.0], [-0.5, 1.5]])),
    ],
)
def test_getitem_constrained_returns_init_in_support(constraint: Constraint, value: torch.Tensor):
    store = ParamStoreDict()
    got = store.setdefault("p", value, constraint)
    assert bool(constraint.check(got).all())
    # Float32 round trip through inv/forward: a few ulps of error.
    torch.testing.assert_close(got.detach(), value, rtol=1e-5, atol=1e-6)
    expected_leaf = transform_to(constraint).inv(value)
    torch.testing.assert_close(_leaf(store, "p").detach(), expected_leaf)


def test_getitem_unconstrained_returns_stored_leaf():
    store = ParamStoreDict()
    value = store.setdefault("s", torch.tensor([1.0, 2.0]), constraints.positive)
    leaf = _leaf(store, "s")
    assert _unc(value) is leaf
    assert leaf.is_leaf and leaf.requires_grad
    assert store["s"] is not value  # recomputed, but linked to the same leaf
    assert _unc(store["s"]) is leaf


def test_getitem_real_returns_leaf_itself():
    store = ParamStoreDict()
    store["w"] = torch.tensor([1.0, 2.0])
    leaf = _leaf(store, "w")
    assert store["w"] is leaf
    assert _unc(store["w"]) is leaf


def test_getitem_gradient_flows_to_unconstrained_leaf():
    store = ParamStoreDict()
    value = store.setdefault("s", torch.tensor([1.0, 2.0]), constraints.positive)
    (value**2).sum().backward()
    # d/du exp(u)^2 = 2 exp(2u) = 2 value^2.
    leaf = _unc(value)
    assert leaf.grad is not None
    torch.testing.assert_close(leaf.grad, 2 * value.detach() ** 2)


def test_getitem_missing_raises_keyerror():
    with pytest.raises(KeyError):
        ParamStoreDict()["nope"]


# -- setting values ------------------------------------------------------------------


def test_setdefault_lazy_init_called_once():
    store = ParamStoreDict()
    calls = []

    def init() -> torch.Tensor:
        calls.append(1)
        return torch.ones(2)

    store.setdefault("a", init)
    store.setdefault("a", init)
    store.get_param("a", init)
    assert len(calls) == 1


def test_setdefault_existing_name_not_overwritten():
    store = ParamStoreDict()
    store.setdefault("a", torch.tensor(2.0), constraints.positive)
    leaf = _leaf(store, "a")
    got = store.setdefault("a", torch.tensor(-7.0), constraints.real)
    assert _leaf(store, "a") is leaf
    assert got.item() == pytest.approx(2.0)
    assert store.get_state()["constraints"]["a"] is constraints.positive


def test_setitem_keeps_existing_constraint():
    store = ParamStoreDict()
    store.setdefault("a", torch.tensor(2.0), constraints.positive)
    store["a"] = torch.tensor(5.0)
    assert _leaf(store, "a").item() == pytest.approx(torch.tensor(5.0).log().item())


@pytest.mark.parametrize(
    "constraint, bad",
    [
        (constraints.positive, torch.tensor([1.0, -1.0])),
        (constraints.real, torch.tensor([float("nan")])),
    ],
)
def test_setdefault_outside_support_nonfinite_raises_naming_param(
    constraint: Constraint, bad: torch.Tensor
):
    # Pyro would store NaN here; we refuse (docs/pyro-differences.md).
    store = ParamStoreDict()
    with pytest.raises(SiteError, match=r"param 'my_param'.*outside the support") as info:
        store.setdefault("my_param", bad, constraint)
    assert repr(constraint) in str(info.value)
    assert "Hint" in str(info.value)
    assert "my_param" not in store and store.get_state()["constraints"] == {}


@pytest.mark.parametrize(
    "constraint, value, expected",
    [
        # As Pyro: the store keeps transform_to(c).inv(value), so the param's value is
        # its projection onto the support.
        (constraints.simplex, torch.tensor([3.0, 1.0]), torch.tensor([0.75, 0.25])),
        (constraints.interval(0.0, 1.0), torch.tensor(1.5), torch.tensor(1.0 - 2**-23)),
        (
            constraints.lower_cholesky,
            torch.tensor([[1.0, 2.0], [3.0, 4.0]]),
            torch.tensor([[1.0, 0.0], [3.0, 4.0]]),
        ),
        (constraints.corr_cholesky, torch.eye(2) * 2, torch.eye(2)),
    ],
)
def test_setdefault_outside_support_with_finite_inverse_stores_projection(
    constraint: Constraint, value: torch.Tensor, expected: torch.Tensor
):
    store = ParamStoreDict()
    got = store.setdefault("p", value, constraint)
    assert torch.allclose(got.detach(), expected, atol=1e-6)
    assert constraint.check(got.detach()).all()


def test_setitem_boundary_value_nonfinite_raises():
    # 0 is in the simplex's support but log(0) = -inf: must not be stored silently.
    store = ParamStoreDict()
    with pytest.raises(SiteError, match=r"param 'p'.*non-finite"):
        store.setdefault("p", torch.tensor([0.0, 1.0]), constraints.simplex)
    assert "p" not in store


def test_setitem_integer_value_raises_with_hint():
    store = ParamStoreDict()
    with pytest.raises(SiteError, match=r"param 'n'.*floating point.*torch.tensor\(1.0\)"):
        store["n"] = torch.tensor(1)


def test_setitem_failed_keeps_previous_value():
    store = ParamStoreDict()
    store.setdefault("a", torch.tensor(2.0), constraints.positive)
    leaf = _leaf(store, "a")
    with pytest.raises(SiteError):
        store["a"] = torch.tensor(-1.0)
    assert _leaf(store, "a") is leaf


def test_setitem_any_hashable_name_as_pyro():
    store = ParamStoreDict()
    store[3] = torch.zeros(1)  # type: ignore[index]
    store.setdefault(("layer", 1), torch.ones(2), constraints.positive)  # type: ignore[arg-type]
    assert store.keys() == [3, ("layer", 1)]
    assert store[("layer", 1)].tolist() == [1.0, 1.0]  # type: ignore[index]


def test_setitem_unhashable_name_raises_type_error():
    with pytest.raises(TypeError, match="must be hashable"):
        ParamStoreDict()[["a"]] = torch.zeros(1)  # type: ignore[index]


def test_save_load_round_trips_tuple_and_int_names(tmp_path):
    store = ParamStoreDict()
    store[("enc", 0)] = torch.zeros(2)  # type: ignore[index]
    store[7] = torch.ones(1)  # type: ignore[index]
    store.save(tmp_path / "p.pt")
    other = ParamStoreDict()
    other.load(tmp_path / "p.pt")
    assert other.keys() == [("enc", 0), 7]


def test_save_refuses_name_the_safe_format_cannot_hold(tmp_path):
    store = ParamStoreDict()
    store[frozenset({"a"})] = torch.zeros(1)  # type: ignore[index]
    with pytest.raises(SiteError, match="cannot be saved in the safe format"):
        store.save(tmp_path / "p.pt")
    assert not (tmp_path / "p.pt").exists()


def test_setdefault_discrete_constraint_raises():
    with pytest.raises(SiteError, match=r"param 'k'.*no transform_to"):
        ParamStoreDict().setdefault("k", torch.tensor(1.0), constraints.boolean)


def test_setitem_plain_tensor_is_copied_not_mutated():
    data = torch.tensor([1.0, 2.0])
    store = ParamStoreDict()
    store["w"] = data
    leaf = _leaf(store, "w")
    assert leaf is not data and not data.requires_grad
    optim = torch.optim.SGD([leaf], lr=1.0)
    leaf.sum().backward()
    optim.step()
    assert data.tolist() == [1.0, 2.0]  # the caller's tensor is untouched
    assert leaf.tolist() == [0.0, 1.0]


def test_setitem_trainable_leaf_kept_by_identity():
    # What lets ``module`` train an nn.Module's own parameters through the store.
    weight = torch.nn.Parameter(torch.ones(2))
    store = ParamStoreDict()
    store["net$$$weight"] = weight
    assert store["net$$$weight"] is weight
    module = torch.nn.Module()
    module.weight = weight
    clone = copy.deepcopy(module)  # the attached reference must not break copying
    assert isinstance(clone.weight, torch.Tensor) and clone.weight is not weight
    assert torch.equal(clone.weight, weight)


# -- mapping protocol and accessors ----------------------------------------------------


def test_mapping_protocol_reflects_contents():
    store = ParamStoreDict()
    assert not store and len(store) == 0
    store["b"] = torch.zeros(1)
    store.setdefault("a", torch.ones(1), constraints.positive)
    assert store and len(store) == 2 and "a" in store and "c" not in store
    with pytest.warns(DeprecationWarning, match="get_all_param_names"):
        assert list(store) == store.keys() == store.get_all_param_names() == ["b", "a"]
    assert [n for n, _ in store.items()] == ["b", "a"]
    assert [v.tolist() for v in store.values()] == [[0.0], [1.0]]
    del store["b"]
    assert store.keys() == ["a"]
    store.clear()
    assert len(store) == 0


def test_named_parameters_returns_unconstrained_leaves():
    store = ParamStoreDict()
    store.setdefault("s", torch.tensor([1.0]), constraints.positive)
    store["w"] = torch.tensor([3.0])
    pairs = store.named_parameters()
    assert [n for n, _ in pairs] == ["s", "w"]
    assert all(t.is_leaf and t.requires_grad for _, t in pairs)
    assert pairs[0][1].tolist() == [0.0]  # log(1)


def test_match_uses_re_match_prefix_semantics():
    store = ParamStoreDict()
    for name in ["loc_a", "loc_b", "scale_a", "xloc"]:
        store[name] = torch.zeros(1)
    assert sorted(store.match("loc")) == ["loc_a", "loc_b"]  # anchored at the start only
    assert sorted(store.match(".*_a")) == ["loc_a", "scale_a"]
    got = store.match("scale_a")["scale_a"]
    assert _unc(got) is _leaf(store, "scale_a")


def test_get_param_without_init_missing_raises_keyerror():
    store = ParamStoreDict()
    with pytest.raises(KeyError):
        store.get_param("missing")
    assert store.get_param("x", torch.tensor(2.0), constraints.positive, event_dim=0).item() == (
        pytest.approx(2.0)
    )


def test_param_name_reverse_lookup_by_identity():
    store = ParamStoreDict()
    store.setdefault("s", torch.tensor(1.0), constraints.positive)
    leaf = _leaf(store, "s")
    assert store.param_name(leaf) == "s"
    assert store.param_name(leaf.detach()) is None  # same data, other tensor
    store["s"] = torch.tensor(2.0)
    assert store.param_name(leaf) is None and store.param_name(_leaf(store, "s")) == "s"
    del store["s"]
    assert store.param_name(leaf) is None


def test_param_name_shared_leaf_survives_deleting_one_name():
    weight = torch.nn.Parameter(torch.ones(1))
    store = ParamStoreDict()
    store["a"] = weight
    store["b"] = weight
    del store["b"]
    assert store.param_name(weight) == "a"


def test_replace_param_swaps_value_keeps_constraint():
    store = ParamStoreDict()
    old = store.setdefault("s", torch.tensor(1.0), constraints.positive)
    store.replace_param("s", torch.tensor(4.0), old)
    assert store["s"].item() == pytest.approx(4.0)
    assert store.get_state()["constraints"]["s"] is constraints.positive


def test_replace_param_stale_old_value_raises():
    store = ParamStoreDict()
    old = store.setdefault("s", torch.tensor(1.0), constraints.positive)
    store["s"] = torch.tensor(2.0)
    with pytest.raises(SiteError, match=r"replace_param\('s'"):
        store.replace_param("s", torch.tensor(4.0), old)


# -- copying and pickling constrained values ----------------------------------------


def test_real_param_torch_save_weights_only_and_unlinked():
    store = ParamStoreDict()
    store["w"] = torch.tensor([1.0, 2.0])
    buffer = io.BytesIO()
    torch.save(store["w"], buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)
    assert torch.equal(loaded, store["w"])
    with pytest.raises(SiteError, match="no longer linked"):
        _unc(loaded)
    copied = copy.deepcopy(store["w"])
    with pytest.raises(SiteError, match="no longer linked"):
        _unc(copied)
    assert pickle.loads(pickle.dumps(store["w"])).tolist() == [1.0, 2.0]


def test_nograd_constrained_value_copies_carry_unconstrained():
    store = ParamStoreDict()
    store.setdefault("s", torch.tensor([1.0, 4.0]), constraints.positive)
    with torch.no_grad():
        value = store["s"]
    for copied in (copy.deepcopy(value), pickle.loads(pickle.dumps(value))):
        assert _unc(copied) is not _leaf(store, "s")
        assert torch.equal(_unc(copied), _leaf(store, "s"))


# -- state ------------------------------------------------------------------------------


def test_get_state_is_snapshot_not_live():
    store = ParamStoreDict()
    store.setdefault("s", torch.tensor(1.0), constraints.positive)
    state = store.get_state()
    with torch.no_grad():
        _leaf(store, "s").add_(5.0)
    assert state["params"]["s"].item() == 0.0
    assert state["constraints"]["s"] is constraints.positive


def test_set_state_round_trip_copies_and_merges():
    store = ParamStoreDict()
    store.setdefault("s", torch.tensor(2.0), constraints.positive)
    store["w"] = torch.tensor([1.0, 2.0])
    state = store.get_state()
    store.clear()
    store["other"] = torch.zeros(1)
    store.set_state(state)
    assert store.keys() == ["other", "s", "w"]  # merged, as in Pyro
    assert _same_bits(_leaf(store, "s"), state["params"]["s"])
    assert store.get_state()["constraints"]["s"] is constraints.positive
    assert _leaf(store, "w").requires_grad and _leaf(store, "w").is_leaf
    state["params"]["w"].add_(1.0)  # the snapshot stays independent
    assert store["w"].tolist() == [1.0, 2.0]


def test_set_state_canonicalizes_real_and_defaults_missing_constraint():
    store = ParamStoreDict()
    real_copy = type(constraints.real)()
    store.set_state(
        {"params": {"a": torch.zeros(1), "b": torch.zeros(1)}, "constraints": {"a": real_copy}}
    )
    cons = store.get_state()["constraints"]
    assert cons["a"] is constraints.real and cons["b"] is constraints.real


def test_save_fresh_parameterless_instance_loads_as_singleton():
    store = ParamStoreDict()
    store.setdefault("p", torch.tensor([0.5, 0.5]), type(constraints.simplex)())
    store.setdefault("r", torch.zeros(1), type(constraints.real)())
    assert store.get_state()["constraints"]["r"] is constraints.real
    buffer = io.BytesIO()
    store.save(buffer)
    buffer.seek(0)
    loaded = ParamStoreDict()
    loaded.load(buffer)
    assert loaded.get_state()["constraints"]["p"] is constraints.simplex


@pytest.mark.parametrize(
    "state",
    [
        {"params": {"a": torch.zeros(1)}, "extra": {}},
        {"params": {"a": [1.0]}},
        {"params": {"a": torch.zeros(1, dtype=torch.int64)}},
        {"params": {"a": torch.zeros(1)}, "constraints": {"b": constraints.real}},
        {"params": {"a": torch.zeros(1)}, "constraints": {"a": "positive"}},
        {
            "params": {"ok": torch.zeros(1), "a": torch.zeros(1)},
            "constraints": {"a": constraints.boolean},
        },
    ],
)
def test_set_state_malformed_raises_and_keeps_store(state: dict[str, Any]):
    store = ParamStoreDict()
    store["a"] = torch.ones(1)
    leaf = _leaf(store, "a")
    with pytest.raises(SiteError):
        store.set_state(state)
    assert store.keys() == ["a"] and _leaf(store, "a") is leaf


# -- save / load --------------------------------------------------------------------------


@pytest.mark.parametrize("name, constraint, init", SUPPORTED, ids=[s[0] for s in SUPPORTED])
def test_save_load_bitwise_round_trip(
    name: str, constraint: Constraint, init: torch.Tensor, tmp_path: Path
):
    torch.manual_seed(0)
    store = ParamStoreDict()
    store.setdefault(name, init, constraint)
    with torch.no_grad():  # arbitrary bits, as after training
        leaf = _leaf(store, name)
        leaf.add_(torch.randn_like(leaf) * 0.1)
    store.save(tmp_path / "params.pt")
    loaded = ParamStoreDict()
    loaded.load(tmp_path / "params.pt")
    got = _leaf(loaded, name)
    assert _same_bits(got, leaf)
    assert got.is_leaf and got.requires_grad
    got_constraint = loaded.get_state()["constraints"][name]
    assert _same_constraint(got_constraint, constraint)
    if getattr(constraints, name, None) is constraint:  # singletons come back as themselves
        assert got_constraint is constraint
    assert torch.equal(loaded[name], store[name])


@pytest.mark.parametrize("dtype", list(_BIT_VIEW))
def test_save_load_exotic_bits_round_trip(dtype: torch.dtype):
    # NaN payloads, -0.0, infinities and subnormals survive (restoring a diverged run).
    # Per width: a NaN with payload, -0.0, +inf (for float16/32/64), the smallest subnormal.
    patterns = {
        torch.int16: [0x7E01, -0x8000, 0x7C00, 0x0001],
        torch.int32: [0x7FC00123, -0x80000000, 0x7F800000, 0x00000001],
        torch.int64: [0x7FF8000000000123, -(2**63), 0x7FF0000000000000, 1],
    }
    tensor = torch.tensor(patterns[_BIT_VIEW[dtype]], dtype=_BIT_VIEW[dtype]).view(dtype)
    store = ParamStoreDict()
    store.set_state({"params": {"x": tensor}, "constraints": {"x": constraints.positive}})
    buffer = io.BytesIO()
    store.save(buffer)
    buffer.seek(0)
    loaded = ParamStoreDict()
    loaded.load(buffer, map_location="cpu")
    assert _same_bits(_leaf(loaded, "x"), tensor)


def test_save_view_param_writes_only_its_bytes():
    base = torch.arange(100_000, dtype=torch.float32)
    view = base[10:12].requires_grad_()  # a trainable leaf that is a view: kept by identity
    store = ParamStoreDict()
    store["w"] = view
    assert _leaf(store, "w") is view
    small, big = io.BytesIO(), io.BytesIO()
    store.save(small)
    torch.save(base, big)
    assert small.tell() < big.tell() // 10
    small.seek(0)
    loaded = ParamStoreDict()
    loaded.load(small)
    assert loaded["w"].tolist() == [10.0, 11.0]


class _Shifted(Constraint):
    """A constraint torch can transform to but the safe format does not know."""

    def check(self, value: torch.Tensor) -> torch.Tensor:
        return value > 0


transform_to.register(_Shifted)(lambda constraint: ExpTransform())


def test_save_unsupported_constraint_raises_naming_param(tmp_path: Path):
    store = ParamStoreDict()
    store["fine"] = torch.zeros(1)
    store.setdefault("weird_param", torch.ones(1), _Shifted())
    path = tmp_path / "params.pt"
    path.write_bytes(b"previous checkpoint")
    with pytest.raises(SiteError, match=r"param 'weird_param'.*_Shifted.*register_constraint"):
        store.save(path)
    assert path.read_bytes() == b"previous checkpoint"  # nothing written
    assert [p.name for p in tmp_path.iterdir()] == ["params.pt"]  # no temp file left
    buffer = io.BytesIO()
    with pytest.raises(SiteError):
        store.save(buffer)
    assert buffer.tell() == 0


def test_register_constraint_type_makes_constraint_saveable():
    cls = type(constraints.greater_than(0.0))
    user_cls = type("_UserGreaterThan", (cls,), {})
    transform_to.register(user_cls)(lambda c: transform_to(cls(c.lower_bound)))
    register_constraint_type("test_user_greater_than", user_cls, ("lower_bound",))
    store = ParamStoreDict()
    store.setdefault("g", torch.tensor(3.0), user_cls(2.0))
    buffer = io.BytesIO()
    store.save(buffer)
    buffer.seek(0)
    loaded = ParamStoreDict()
    loaded.load(buffer)
    got = loaded.get_state()["constraints"]["g"]
    assert type(got) is user_cls and vars(got)["lower_bound"] == 2.0
    assert _same_bits(_leaf(loaded, "g"), _leaf(store, "g"))


_EXECUTED: list[str] = []


def _mark_executed(tag: str) -> str:
    _EXECUTED.append(tag)
    return tag


class _Malicious:
    """Unpickling this calls ``_mark_executed``: stands in for ``os.system``."""

    def __reduce__(self) -> tuple[Callable[[str], str], tuple[str]]:
        return (_mark_executed, ("pwned",))


def test_load_malicious_pickle_refused_without_executing(tmp_path: Path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "tracegraph.ParamStoreDict", "params": _Malicious()}, path)
    store = ParamStoreDict()
    store["keep"] = torch.ones(1)
    with pytest.raises(pickle.UnpicklingError):
        store.load(path)
    assert _EXECUTED == []
    assert store.keys() == ["keep"]
    # The detector works: an unsafe load really does run the payload.
    torch.load(path, weights_only=False)
    assert _EXECUTED == ["pwned"]
    _EXECUTED.clear()


def test_load_raw_pickle_protocol2_refused():
    buffer = io.BytesIO(pickle.dumps(_Malicious(), protocol=2))
    with pytest.raises(pickle.UnpicklingError):
        ParamStoreDict().load(buffer)
    assert _EXECUTED == []


def test_load_pyro_style_pickled_constraints_refused():
    # Pickled constraint objects (what Pyro writes) would need unpickling a class.
    buffer = io.BytesIO()
    torch.save(
        {"params": {"a": torch.zeros(1)}, "constraints": {"a": constraints.positive}}, buffer
    )
    buffer.seek(0)
    with pytest.raises(pickle.UnpicklingError):
        ParamStoreDict().load(buffer)


@pytest.mark.parametrize(
    "payload",
    [
        {"params": {}, "constraints": {}},
        {"format": "tracegraph.ParamStoreDict", "version": 99, "params": {}, "constraints": {}},
        {
            "format": "tracegraph.ParamStoreDict",
            "version": 1,
            "params": {"a": torch.zeros(1), "b": torch.zeros(1)},
            "constraints": {"a": {"name": "real"}, "b": {"name": "no_such_constraint"}},
        },
        {
            "format": "tracegraph.ParamStoreDict",
            "version": 1,
            "params": {"a": torch.zeros(1)},
            "constraints": {"a": {"type": "interval", "args": [0.0]}},
        },
        {
            "format": "tracegraph.ParamStoreDict",
            "version": 1,
            "params": {"a": torch.zeros(1)},
            "constraints": {},
        },
    ],
)
def test_load_bad_file_raises_and_keeps_store(payload: dict[str, Any]):
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    buffer.seek(0)
    store = ParamStoreDict()
    store.setdefault("a", torch.tensor(2.0), constraints.positive)
    leaf = _leaf(store, "a")
    with pytest.raises(SiteError):
        store.load(buffer)
    assert store.keys() == ["a"] and _leaf(store, "a") is leaf
    assert store.get_state()["constraints"]["a"] is constraints.positive


def test_load_garbage_bytes_keeps_store():
    store = ParamStoreDict()
    store["a"] = torch.ones(1)
    with pytest.raises(pickle.UnpicklingError):
        store.load(io.BytesIO(b"\x80\x02garbage"))
    assert store["a"].tolist() == [1.0]


def test_load_merges_into_existing_params(tmp_path: Path):
    source = ParamStoreDict()
    source["a"] = torch.ones(1)
    source.save(tmp_path / "p.pt")
    store = ParamStoreDict()
    store["a"] = torch.zeros(1)
    store["b"] = torch.zeros(1)
    store.load(tmp_path / "p.pt")
    assert store["a"].tolist() == [1.0] and store["b"].tolist() == [0.0]


# -- scope ------------------------------------------------------------------------------


def test_scope_restores_same_leaves_and_yields_final_state():
    store = ParamStoreDict()
    store.setdefault("outer", torch.tensor(1.0), constraints.positive)
    leaf = _leaf(store, "outer")
    with store.scope() as inner:
        assert len(store) == 0
        store["inner"] = torch.tensor([3.0])
    assert store.keys() == ["outer"] and _leaf(store, "outer") is leaf
    assert store.param_name(leaf) == "outer"
    assert inner["params"]["inner"].tolist() == [3.0]
    with store.scope(inner) as resumed:  # resume where the first scope ended
        assert store["inner"].tolist() == [3.0]
        store["inner"] = torch.tensor([4.0])
    assert resumed is inner and inner["params"]["inner"].tolist() == [4.0]


def test_scope_restores_after_exception():
    store = ParamStoreDict()
    store["outer"] = torch.zeros(1)
    with pytest.raises(RuntimeError, match="boom"):
        with store.scope():
            store["inner"] = torch.zeros(1)
            raise RuntimeError("boom")
    assert store.keys() == ["outer"]


def test_scope_bad_state_restores_before_raising():
    store = ParamStoreDict()
    store["outer"] = torch.zeros(1)
    with pytest.raises(SiteError):
        with store.scope({"params": {"x": "not a tensor"}}):  # type: ignore[dict-item]
            pass
    assert store.keys() == ["outer"]


# -- threads ----------------------------------------------------------------------------


def test_threads_setting_different_names_all_land():
    store = ParamStoreDict()
    n_threads, per_thread = 8, 40
    barrier = threading.Barrier(n_threads)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            barrier.wait()
            for j in range(per_thread):
                if j % 2:
                    store[f"t{i}_{j}"] = torch.tensor([float(j)])
                else:
                    store.setdefault(
                        f"t{i}_{j}", torch.tensor([float(j) + 1]), constraints.positive
                    )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(store) == n_threads * per_thread
    for name, leaf in store.named_parameters():
        assert store.param_name(leaf) == name
    assert store["t3_4"].item() == pytest.approx(5.0) and store["t5_7"].item() == 7.0


def test_threads_racing_on_one_name_init_runs_once():
    store = ParamStoreDict()
    calls: list[int] = []
    barrier = threading.Barrier(8)

    def init() -> torch.Tensor:
        calls.append(1)
        return torch.ones(1)

    def work() -> None:
        barrier.wait()
        store.setdefault("shared", init)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(store) == 1


# -- module-level API -------------------------------------------------------------------


def test_get_param_store_is_shared_and_clearable():
    store = get_param_store()
    assert store is get_param_store()
    store["global_x"] = torch.zeros(1)
    clear_param_store()
    assert "global_x" not in get_param_store()


def test_module_param_names_round_trip():
    full = param_with_module_name("encoder", "layers.0.weight")
    assert full == "encoder$$$layers.0.weight"
    assert module_from_param_with_module_name(full) == "encoder"
    assert user_param_name(full) == "layers.0.weight"
    assert user_param_name("plain") == "plain"
    assert module_from_param_with_module_name("plain") == "plain"
