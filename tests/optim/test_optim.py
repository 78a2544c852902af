"""Tests of PyroOptim: stepping, per-param options, clipping, argument errors."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import constraints

from tracegraph import optim
from tracegraph.optim import OptimizerError, PyroOptim
from tracegraph.params.param_store import get_param_store

TARGET = torch.tensor([1.5, -2.0, 0.25])


def _quadratic_step(params: list[torch.Tensor], step: object) -> None:
    """One gradient step on sum_i ||p_i - (i + 1) * TARGET||^2 (distinct optimum per param)."""
    for p in params:
        p.grad = None
    loss = sum(((p - (i + 1) * TARGET) ** 2).sum() for i, p in enumerate(params))
    loss.backward()  # type: ignore[union-attr]
    step()  # type: ignore[operator]


def test_adam_wrapper_matches_torch_adam_bitwise(make_param):
    init = [torch.tensor([0.3, -0.1, 2.0]), torch.tensor([1.0, 0.0, -1.0])]
    ours = [make_param(f"p{i}", v) for i, v in enumerate(init)]
    ref = [v.clone().requires_grad_() for v in init]
    wrapped = optim.Adam({"lr": 0.05, "betas": (0.8, 0.95)})
    torch_adam = torch.optim.Adam(ref, lr=0.05, betas=(0.8, 0.95))
    for _ in range(25):
        _quadratic_step(ours, lambda: wrapped(ours))
        _quadratic_step(ref, torch_adam.step)
    for a, b in zip(ours, ref, strict=True):
        assert torch.equal(a, b)
    assert not torch.equal(ours[0], init[0])  # it did move


def test_optim_call_grad_none_skipped(make_param):
    x = make_param("x", torch.ones(2))
    y = make_param("y", torch.ones(2))
    x.grad = torch.ones(2)
    sgd = optim.SGD({"lr": 0.5})
    sgd([x, y])
    assert torch.equal(y.detach(), torch.ones(2))
    assert torch.equal(x.detach(), torch.full((2,), 0.5))
    assert list(sgd.optim_objs) == [x]  # no optimizer made for y


def test_optim_call_duplicate_param_stepped_once():
    x = torch.zeros(1, requires_grad=True)
    x.grad = torch.ones(1)
    sgd = optim.SGD({"lr": 1.0})
    sgd([x, x, x])
    assert x.item() == -1.0


def test_optim_call_non_tensor_raises():
    with pytest.raises(OptimizerError, match="expected the unconstrained param tensors"):
        optim.SGD({"lr": 1.0})(["w"])


def test_optim_call_constrained_value_raises_instead_of_skipping():
    store = get_param_store()
    store.setdefault("scale", torch.tensor(2.0), constraints.positive)
    value = store["scale"]  # exp(leaf): not a leaf, never gets a .grad
    value.backward()
    with pytest.raises(OptimizerError, match=r"non-leaf tensor.*value.unconstrained\(\)"):
        optim.SGD({"lr": 1.0})([value])
    leaf = value.unconstrained()  # type: ignore[attr-defined]
    optim.SGD({"lr": 1.0})([leaf])
    # d exp(u) / du = exp(u) = 2 at u = log 2; float32 rounding only.
    assert leaf.item() == pytest.approx(math.log(2.0) - 2.0, rel=1e-6)


def test_optim_args_callable_gives_per_param_lr(make_param):
    a = make_param("a", torch.zeros(2))
    b = make_param("b", torch.zeros(2))
    seen = []

    def per_param(name):
        seen.append(name)
        return {"lr": 0.1 if name == "a" else 0.01}

    sgd = optim.SGD(per_param)
    a.grad, b.grad = torch.ones(2), torch.ones(2)
    sgd([a, b])
    sgd([a, b])  # the callable runs once per param, not per step
    assert sorted(seen) == ["a", "b"]
    # SGD moves by exactly -lr * grad; 0.1 and 0.01 are the same in float32 either way.
    assert torch.equal(a.detach(), torch.full((2,), -0.1) * 2)
    assert torch.equal(b.detach(), torch.full((2,), -0.01) * 2)


def test_optim_args_callable_of_two_parameters_gets_module_and_param_name(make_param):
    # Pyro's convention: (module name, param name), (name, name) outside a module;
    # a callable declaring one parameter (``*args`` too) gets the dotted name.
    w = make_param("net$$$weight", torch.zeros(2))
    loc = make_param("loc", torch.zeros(2))
    seen: list[tuple[object, ...]] = []

    def by_module(module_name, param_name, unused=None):
        seen.append((module_name, param_name))
        return {"lr": 0.1}

    def star(*args):
        seen.append(args)
        return {"lr": 0.1}

    for options in (by_module, star):
        sgd = optim.SGD(options)
        w.grad, loc.grad = torch.ones(2), torch.ones(2)
        sgd([w, loc])
    assert seen == [("net", "weight"), ("loc", "loc"), ("net.weight",), ("loc",)]


def test_optim_args_callable_param_not_in_store_raises():
    x = torch.zeros(1, requires_grad=True)
    x.grad = torch.ones(1)
    with pytest.raises(OptimizerError, match=r"not in the param store.*pass a dict"):
        optim.Adam(lambda name: {"lr": 0.1})([x])


def test_optim_args_callable_returning_non_dict_raises(make_param):
    x = make_param("x", torch.zeros(1))
    x.grad = torch.ones(1)
    with pytest.raises(OptimizerError, match=r"returned float 0.1 for param 'x'"):
        optim.Adam(lambda name: 0.1)([x])  # type: ignore[arg-type, return-value]


def test_optim_args_callable_unknown_key_raises_naming_param(make_param):
    x = make_param("x", torch.zeros(1))
    x.grad = torch.ones(1)
    with pytest.raises(OptimizerError, match=r"Adam options for param 'x': unknown option 'lrr'"):
        optim.Adam(lambda name: {"lrr": 0.1})([x])
    assert x.item() == 0.0


@pytest.mark.parametrize("bad", [[("lr", 0.1)], 0.1, "lr=0.1", None])
def test_optim_args_not_dict_or_callable_raises(bad):
    with pytest.raises(OptimizerError, match="Adam optim_args must be a dict"):
        optim.Adam(bad)


def test_optim_args_unknown_key_raises_with_hint():
    with pytest.raises(
        OptimizerError, match=r"Adam options: unknown option 'beta' \(did you mean 'betas'"
    ):
        optim.Adam({"lr": 0.1, "beta": (0.9, 0.99)})


def test_optim_args_non_string_key_raises():
    with pytest.raises(OptimizerError, match="option names must be strings"):
        optim.SGD({0: 0.1})  # type: ignore[dict-item]


def test_optim_args_bad_value_raises_at_first_step_naming_param(make_param):
    x = make_param("x", torch.zeros(1))
    x.grad = torch.ones(1)
    adam = optim.Adam({"lr": -1.0})
    with pytest.raises(ValueError, match="Invalid learning rate") as info:
        adam([x])
    assert any("Adam optimizer for param 'x'" in note for note in info.value.__notes__)
    assert not adam.optim_objs


def test_optim_args_dict_copied_at_construction():
    options = {"lr": 1.0}
    sgd = optim.SGD(options)
    options["lr"] = 100.0
    x = torch.zeros(1, requires_grad=True)
    x.grad = torch.ones(1)
    sgd([x])
    assert x.item() == -1.0


def test_optim_constructor_not_callable_raises():
    with pytest.raises(OptimizerError, match="must be a torch.optim.Optimizer class"):
        PyroOptim("Adam", {})  # type: ignore[arg-type]


def test_clip_norm_rescales_each_param_separately():
    x = torch.zeros(2, requires_grad=True)
    y = torch.zeros(1, requires_grad=True)
    x.grad = torch.tensor([3.0, 4.0])  # norm 5: rescaled to norm 1
    y.grad = torch.tensor([0.5])  # norm 0.5: left alone (a joint norm would shrink it)
    optim.SGD({"lr": 1.0}, {"clip_norm": 1.0})([x, y])
    ref = torch.zeros(2, requires_grad=True)
    ref.grad = torch.tensor([3.0, 4.0])
    torch.nn.utils.clip_grad_norm_(ref, 1.0)  # torch's own clipping is the reference
    assert torch.equal(x.detach(), -ref.grad)
    assert torch.allclose(x.detach().norm(), torch.tensor(1.0))
    assert y.item() == -0.5


def test_clip_value_clamps_elementwise():
    x = torch.zeros(3, requires_grad=True)
    x.grad = torch.tensor([-5.0, 0.1, 2.0])
    optim.SGD({"lr": 1.0}, {"clip_value": 0.5})([x])
    assert torch.equal(x.detach(), torch.tensor([0.5, -0.1, -0.5]))


def test_clip_args_callable_per_param(make_param):
    a = make_param("a", torch.zeros(1))
    b = make_param("b", torch.zeros(1))
    a.grad, b.grad = torch.tensor([4.0]), torch.tensor([4.0])
    optim.SGD({"lr": 1.0}, lambda name: {"clip_value": 1.0} if name == "a" else {})([a, b])
    assert (a.item(), b.item()) == (-1.0, -4.0)


@pytest.mark.parametrize(
    ("clip", "match"),
    [
        ({"clip_nrm": 1.0}, r"unknown option 'clip_nrm' \(did you mean 'clip_norm'"),
        ({"clip_norm": -1.0}, "clip_norm must be a number >= 0"),
        ({"clip_value": float("nan")}, "clip_value must be a number >= 0"),
        ({"clip_value": True}, "clip_value must be a number >= 0"),
        (1.0, "clip_args must be a dict"),
    ],
)
def test_clip_args_bad_raises(clip, match):
    with pytest.raises(OptimizerError, match=match):
        optim.Adam({}, clip)


def test_clip_args_unknown_key_is_also_a_type_error_as_in_pyro():
    with pytest.raises(TypeError, match="unknown option 'bogus'"):
        optim.Adam({}, {"bogus": 1.0})


def test_clip_value_zero_zeroes_the_gradient_as_in_pyro(make_param):
    x = make_param("x", torch.ones(2))
    x.grad = torch.tensor([3.0, -4.0])
    optim.SGD({"lr": 1.0}, {"clip_value": 0.0})([x])
    assert torch.equal(x.detach(), torch.ones(2))


def test_tracegraph_optim_is_pyro_optim():
    assert optim.TracegraphOptim is PyroOptim
    assert isinstance(optim.Adam({}), PyroOptim)


def test_extra_step_args_passed_to_torch_step():
    x = torch.zeros(1, requires_grad=True)
    x.grad = torch.ones(1)
    calls = []

    def closure():
        calls.append(1)
        return torch.tensor(0.0)

    optim.SGD({"lr": 1.0})([x], closure)
    assert calls == [1]


def test_is_scheduler_tells_schedulers_from_optimizers():
    from tracegraph.optim.optim import is_scheduler

    sgd = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    assert not is_scheduler(sgd)
    assert is_scheduler(torch.optim.lr_scheduler.StepLR(sgd, 1))
    assert is_scheduler(torch.optim.lr_scheduler.ReduceLROnPlateau(sgd))


def test_module_param_names_passed_to_callables_as_pyro_does():
    store = get_param_store()
    store["net$$$layer.weight"] = torch.zeros(2)
    leaf = dict(store.named_parameters())["net$$$layer.weight"]
    leaf.grad = torch.ones(2)
    seen = []

    def optim_args(name):
        seen.append(("optim", name))
        return {"lr": 0.1}

    def clip_args(module_name, param_name):
        seen.append(("clip", module_name, param_name))
        return {"clip_norm": 1.0}

    optim.SGD(optim_args, clip_args)([leaf])
    assert seen == [("clip", "net", "layer.weight"), ("optim", "net.layer.weight")]
