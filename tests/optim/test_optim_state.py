"""Tests of PyroOptim's get_state / set_state / save / load."""

from __future__ import annotations

import contextlib
import pickle

import numpy as np
import pytest
import torch

from tracegraph import optim
from tracegraph.optim import OptimizerError
from tracegraph.params.param_store import clear_param_store, get_param_store

INIT = {"loc": torch.tensor([0.3, -0.1, 2.0]), "w": torch.tensor([[1.0, 0.0], [-1.0, 0.5]])}

# Set by _set_flag if a malicious checkpoint ever got to run code.
FLAG: list[str] = []


def _set_flag() -> None:
    FLAG.append("pwned")


class _Evil:
    def __reduce__(self):
        return (_set_flag, ())


def _train(params, opt, steps):
    for _ in range(steps):
        for p in params:
            p.grad = None
        loss = sum(((p - 1.0 - i) ** 4).sum() for i, p in enumerate(params))
        loss.backward()
        opt(params)


def _fresh_params(make_param, values):
    return [make_param(name, value) for name, value in values.items()]


OPTIMIZERS = {
    "Adam": lambda: optim.Adam({"lr": 0.05}),
    "ClippedAdam": lambda: optim.ClippedAdam({"lr": 0.05, "lrd": 0.9, "clip_norm": 0.5}),
    "SGD-momentum": lambda: optim.SGD({"lr": 0.01, "momentum": 0.9}),
    "Adagrad": lambda: optim.Adagrad({"lr": 0.1}),
    "clipped-RMSprop": lambda: optim.RMSprop({"lr": 0.01}, {"clip_norm": 1.0}),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_save_load_resumes_bitwise(name, make_param, tmp_path, assert_same_state):
    make_optim = OPTIMIZERS[name]
    params = _fresh_params(make_param, INIT)
    uninterrupted = make_optim()
    _train(params, uninterrupted, 10)
    expected = [p.detach().clone() for p in params]

    clear_param_store()
    params = _fresh_params(make_param, INIT)
    first = make_optim()
    _train(params, first, 5)
    values = {n: get_param_store()[n].detach().clone() for n in INIT}
    state = first.get_state()
    first.save(tmp_path / "optim.pt")

    # A restart: new param tensors, a new optimizer, state found by param name.
    clear_param_store()
    params = _fresh_params(make_param, values)
    second = make_optim()
    second.load(tmp_path / "optim.pt")
    assert_same_state(second.get_state(), state)
    _train(params, second, 5)
    for got, want in zip(params, expected, strict=True):
        assert torch.equal(got.detach(), want)


def test_get_state_is_a_snapshot(make_param, assert_same_state):
    params = _fresh_params(make_param, INIT)
    adam = optim.Adam({"lr": 0.1})
    _train(params, adam, 2)
    state = adam.get_state()
    kept = {"loc": state["loc"]["state"][0]["exp_avg"].clone()}
    _train(params, adam, 2)
    assert torch.equal(state["loc"]["state"][0]["exp_avg"], kept["loc"])
    assert not torch.equal(adam.get_state()["loc"]["state"][0]["exp_avg"], kept["loc"])


def test_set_state_applied_when_optimizer_made(make_param, assert_same_state):
    params = _fresh_params(make_param, INIT)
    source = optim.Adam({"lr": 0.1})
    _train(params, source, 3)
    state = source.get_state()

    target = optim.Adam({"lr": 0.1})
    target.set_state(state)
    assert not target.optim_objs
    assert_same_state(target.get_state(), state)  # waiting state is reported, not lost
    x = params[0]
    x.grad = torch.ones_like(x)
    target([x])
    step = target.optim_objs[x].state[x]["step"]
    assert step.item() == 4.0  # continued from the 3 loaded steps
    assert "w" in target._state_waiting_to_be_consumed  # still waiting for its param


def test_set_state_applies_to_existing_optimizer_now(make_param, assert_same_state):
    params = _fresh_params(make_param, INIT)
    adam = optim.Adam({"lr": 0.1})
    _train(params, adam, 1)
    snapshot = adam.get_state()
    _train(params, adam, 3)
    adam.set_state(snapshot)
    assert_same_state(adam.get_state(), snapshot)
    assert not adam._state_waiting_to_be_consumed


def test_set_state_does_not_alias_callers_dict(make_param):
    params = _fresh_params(make_param, INIT)
    adam = optim.Adam({"lr": 0.1})
    _train(params, adam, 1)
    state = adam.get_state()
    before = state["loc"]["state"][0]["exp_avg"].clone()
    adam.set_state(state)
    _train(params, adam, 2)
    assert torch.equal(state["loc"]["state"][0]["exp_avg"], before)


def test_set_state_shape_mismatch_is_atomic(make_param, assert_same_state):
    params = _fresh_params(make_param, INIT)
    adam = optim.Adam({"lr": 0.1})
    _train(params, adam, 2)
    current = adam.get_state()
    bad = adam.get_state()
    bad["loc"]["state"][0]["exp_avg"] = torch.zeros(())  # fine: scalar-shaped entries skip
    bad["loc"]["state"][0]["exp_avg_sq"] = torch.ones(3)  # fine shape, different value
    bad["w"]["state"][0]["exp_avg"] = torch.zeros(3)  # wrong shape for a 2x2 param
    with pytest.raises(OptimizerError, match=r"param 'w': 'exp_avg' has shape \(3,\)"):
        adam.set_state(bad)
    assert_same_state(adam.get_state(), current)  # 'loc' rolled back too


def test_waiting_state_shape_mismatch_raises_at_first_step_and_is_kept(make_param):
    x = make_param("x", torch.zeros(3))
    adam = optim.Adam({"lr": 0.1})
    wrong = {
        "state": {
            0: {"step": torch.tensor(1.0), "exp_avg": torch.zeros(2), "exp_avg_sq": torch.zeros(2)}
        },
        "param_groups": [dict(torch.optim.Adam([x]).param_groups[0], params=[0])],
    }
    adam.set_state({"x": wrong})
    x.grad = torch.ones(3)
    with pytest.raises(
        OptimizerError, match=r"'exp_avg' has shape \(2,\) but the param has shape \(3,\)"
    ):
        adam([x])
    assert torch.equal(x.detach(), torch.zeros(3))
    assert not adam.optim_objs
    assert "x" in adam._state_waiting_to_be_consumed


@pytest.mark.parametrize(
    ("state", "match"),
    [
        ([1, 2], "set_state expects a dict"),
        ({0: {}}, "keys must be param names"),
        ({"x": {"state": {}}}, r"state for param 'x' is not the state of a one-param"),
        ({"x": {"state": {}, "param_groups": [{"params": [0, 1]}]}}, "one group holding one param"),
        ({"x": "adam"}, "not the state of a one-param"),
    ],
)
def test_set_state_malformed_raises(state, match):
    with pytest.raises(OptimizerError, match=match):
        optim.Adam({}).set_state(state)


def test_get_state_unnamed_param_raises():
    x = torch.zeros(1, requires_grad=True)
    x.grad = torch.ones(1)
    adam = optim.Adam({})
    adam([x])
    with pytest.raises(OptimizerError, match="1 optimized param.* not in the param store"):
        adam.get_state()


def test_get_state_newest_optimizer_wins_for_recreated_param(make_param):
    x = make_param("x", torch.zeros(1))
    sgd = optim.SGD({"lr": 0.1, "momentum": 0.5})
    x.grad = torch.ones(1)
    sgd([x])
    clear_param_store()
    x2 = make_param("x", torch.zeros(1))
    x2.grad = torch.full((1,), 2.0)
    sgd([x2])
    buffer = sgd.get_state()["x"]["state"][0]["momentum_buffer"]
    assert buffer.item() == 2.0  # the new tensor's optimizer, made fresh


def _load_refused(adam, path, assert_same_state, match):
    before = adam.get_state()
    with pytest.raises(OptimizerError, match=match):
        adam.load(path)
    assert_same_state(adam.get_state(), before)


@pytest.mark.parametrize("writer", ["torch.save", "pickle.dump"])
def test_load_malicious_pickle_refused(writer, make_param, tmp_path, assert_same_state):
    params = _fresh_params(make_param, INIT)
    adam = optim.Adam({"lr": 0.1})
    _train(params, adam, 1)
    path = tmp_path / "evil.pt"
    payload = {"loc": _Evil()}
    if writer == "torch.save":
        torch.save(payload, path)
    else:
        with open(path, "wb") as f:
            pickle.dump(payload, f)
    _load_refused(adam, path, assert_same_state, "not a safe optimizer checkpoint")
    assert FLAG == []
    # Positive control: an unrestricted load of the same file does run its code (a
    # raw pickle then fails torch's magic-number check, after the damage is done).
    with contextlib.suppress(RuntimeError):
        torch.load(path, weights_only=False)
    assert FLAG == ["pwned"]
    FLAG.clear()


@pytest.mark.parametrize("content", [b"", b"garbage", b"PK\x03\x04junk"])
def test_load_corrupt_file_refused_state_kept(content, make_param, tmp_path, assert_same_state):
    params = _fresh_params(make_param, INIT)
    adam = optim.Adam({"lr": 0.1})
    _train(params, adam, 1)
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    _load_refused(adam, path, assert_same_state, "not a safe optimizer checkpoint")


def test_load_wrong_structure_refused_state_kept(make_param, tmp_path, assert_same_state):
    params = _fresh_params(make_param, INIT)
    adam = optim.Adam({"lr": 0.1})
    _train(params, adam, 1)
    path = tmp_path / "wrong.pt"
    torch.save({"loc": {"state": {}, "param_groups": []}}, path)
    _load_refused(adam, path, assert_same_state, "not the state of a one-param")


def test_load_missing_file_raises_oserror(tmp_path):
    with pytest.raises(FileNotFoundError):
        optim.Adam({}).load(tmp_path / "missing.pt")


def test_load_map_location(make_param, tmp_path, assert_same_state):
    params = _fresh_params(make_param, INIT)
    adam = optim.Adam({"lr": 0.1})
    _train(params, adam, 1)
    adam.save(tmp_path / "a.pt")
    other = optim.Adam({"lr": 0.1})
    other.load(tmp_path / "a.pt", map_location="cpu")
    assert_same_state(other.get_state(), adam.get_state())


def test_save_refuses_unsafe_state_and_keeps_existing_file(make_param, tmp_path):
    x = make_param("x", torch.zeros(1))
    x.grad = torch.ones(1)
    path = tmp_path / "optim.pt"
    path.write_bytes(b"previous checkpoint")
    sgd = optim.SGD({"lr": np.float64(0.1)})  # numpy scalars are not weights-only loadable
    sgd([x])
    with pytest.raises(
        OptimizerError, match=r"state\['x'\]\['param_groups'\]\[0\]\['lr'\] \(numpy"
    ):
        sgd.save(path)
    assert path.read_bytes() == b"previous checkpoint"
