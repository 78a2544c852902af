"""Tests of PyroLRScheduler and the scheduler wrappers against torch's schedulers."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch.optim import lr_scheduler

from tracegraph import optim
from tracegraph.optim import OptimizerError, PyroLRScheduler
from tracegraph.params.param_store import clear_param_store, get_param_store

# Options for each scheduler (SGD with momentum underneath: CyclicLR and OneCycleLR
# cycle the momentum too). Metrics for ReduceLROnPlateau plateau from epoch 2 on.
SCHEDULERS: dict[str, dict[str, Any]] = {
    "ConstantLR": {"factor": 0.5, "total_iters": 3},
    "CosineAnnealingLR": {"T_max": 5},
    "CosineAnnealingWarmRestarts": {"T_0": 3},
    "CyclicLR": {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 2},
    "ExponentialLR": {"gamma": 0.7},
    "LambdaLR": {"lr_lambda": lambda epoch: 1.0 / (1 + epoch)},
    "LinearLR": {"start_factor": 0.2, "total_iters": 4},
    "MultiStepLR": {"milestones": [2, 5], "gamma": 0.3},
    "MultiplicativeLR": {"lr_lambda": lambda epoch: 0.8},
    "OneCycleLR": {"max_lr": 0.2, "total_steps": 20},
    "PolynomialLR": {"total_iters": 6, "power": 2.0},
    "ReduceLROnPlateau": {"patience": 1, "factor": 0.5},
    "StepLR": {"step_size": 2, "gamma": 0.5},
}
METRICS = [3.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0]
SGD_OPTIONS: dict[str, Any] = {"lr": 0.1, "momentum": 0.9}


def _epoch(params, step_optimizers):
    for p in params:
        p.grad = None
    sum(((p - 1.0) ** 2).sum() for p in params).backward()
    step_optimizers()


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_scheduler_wrapper_matches_torch_bitwise(name):
    options = SCHEDULERS[name]
    ours = [torch.zeros(2, requires_grad=True), torch.full((3,), 2.0, requires_grad=True)]
    ref = [p.detach().clone().requires_grad_() for p in ours]
    wrapped = getattr(optim, name)(
        {"optimizer": torch.optim.SGD, "optim_args": SGD_OPTIONS, **options}
    )
    torch_sgd = torch.optim.SGD(ref, **SGD_OPTIONS)
    torch_sched = getattr(lr_scheduler, name)(torch_sgd, **options)
    lrs = []
    for metric in METRICS:
        _epoch(ours, lambda: wrapped(ours))
        _epoch(ref, torch_sgd.step)
        args = (metric,) if name == "ReduceLROnPlateau" else ()
        wrapped.step(*args)
        torch_sched.step(*args)
        got = {s.optimizer.param_groups[0]["lr"] for s in wrapped.optim_objs.values()}
        assert got == {torch_sgd.param_groups[0]["lr"]}
        lrs.append(got.pop())
    assert len(set(lrs)) > 1  # the schedule did change the learning rate
    for a, b in zip(ours, ref, strict=True):
        assert torch.equal(a, b)


def test_all_torch_schedulers_covered():
    wrappable = {
        name
        for name, obj in vars(lr_scheduler).items()
        if isinstance(obj, type)
        and issubclass(obj, lr_scheduler.LRScheduler | lr_scheduler.ReduceLROnPlateau)
        and not name.startswith("_")
        and name not in {"LRScheduler", "SequentialLR", "ChainedScheduler"}
    }
    # Those three are wrapped too (as in Pyro) and tested on their own below.
    for name in ("LRScheduler", "_LRScheduler", "SequentialLR", "ChainedScheduler"):
        assert getattr(optim, name).__name__ == name
    assert wrappable <= set(SCHEDULERS) | set(optim.__all__)
    assert set(SCHEDULERS) <= wrappable  # tested here, and all wrapped:
    for name in wrappable:
        assert getattr(optim, name).__name__ == name


@pytest.mark.parametrize("name", ["StepLR", "ReduceLROnPlateau", "OneCycleLR"])
def test_scheduler_save_load_resumes_bitwise(name, make_param, tmp_path, assert_same_state):
    def make():
        return getattr(optim, name)(
            {"optimizer": torch.optim.Adam, "optim_args": {"lr": 0.1}, **SCHEDULERS[name]}
        )

    def train(params, sched, metrics):
        for metric in metrics:
            _epoch(params, lambda: sched(params))
            sched.step(*((metric,) if name == "ReduceLROnPlateau" else ()))

    init = {"a": torch.zeros(2), "b": torch.ones(3)}
    params = [make_param(n, v) for n, v in init.items()]
    full = make()
    train(params, full, METRICS)
    expected = [p.detach().clone() for p in params]

    clear_param_store()
    params = [make_param(n, v) for n, v in init.items()]
    first = make()
    train(params, first, METRICS[:4])
    values = {n: get_param_store()[n].detach().clone() for n in init}
    state = first.get_state()
    assert set(state["a"]) == {"optimizer", "scheduler"}
    first.save(tmp_path / "sched.pt")

    clear_param_store()
    params = [make_param(n, v) for n, v in values.items()]
    second = make()
    second.load(tmp_path / "sched.pt")
    assert_same_state(second.get_state(), state)
    train(params, second, METRICS[4:])
    for got, want in zip(params, expected, strict=True):
        assert torch.equal(got.detach(), want)


def test_scheduler_state_without_scheduler_part_raises():
    sched = optim.StepLR({"optimizer": torch.optim.SGD, "optim_args": {"lr": 0.1}, "step_size": 1})
    optimizer_only = {"state": {}, "param_groups": [{"lr": 0.1, "params": [0]}]}
    with pytest.raises(OptimizerError, match=r"param 'x' is not a scheduler state"):
        sched.set_state({"x": optimizer_only})


def test_scheduler_callable_optim_args_per_param(make_param):
    a = make_param("a", torch.zeros(1))
    b = make_param("b", torch.zeros(1))
    sched = optim.ExponentialLR(
        {
            "optimizer": torch.optim.SGD,
            "optim_args": lambda name: {"lr": 1.0 if name == "a" else 0.5},
            "gamma": 0.5,
        }
    )
    a.grad, b.grad = torch.ones(1), torch.ones(1)
    sched([a, b])
    sched.step()
    assert [s.optimizer.param_groups[0]["lr"] for s in sched.optim_objs.values()] == [0.5, 0.25]


def test_scheduler_step_before_any_param_is_noop():
    sched = optim.StepLR({"optimizer": torch.optim.SGD, "optim_args": {"lr": 0.1}, "step_size": 1})
    sched.step()
    assert sched.optim_objs == {}


def test_scheduler_does_not_mutate_callers_dict():
    options = {"optimizer": torch.optim.SGD, "optim_args": {"lr": 0.1}, "gamma": 0.5}
    optim.ExponentialLR(options)
    assert set(options) == {"optimizer", "optim_args", "gamma"}


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"optim_args": {"lr": 0.1}, "gamma": 0.5}, "expects optim_args = {'optimizer'"),
        (
            {"optimizer": optim.Adam, "gamma": 0.5},
            r"must be a torch.optim.Optimizer class.*pass the class torch.optim.adam.Adam itself",
        ),
        ({"optimizer": "Adam", "gamma": 0.5}, "must be a torch.optim.Optimizer class"),
        (
            {"optimizer": torch.optim.SGD, "optim_args": {"lr": 0.1}},
            "ExponentialLR options: missing required option.*'gamma'",
        ),
        (
            {"optimizer": torch.optim.SGD, "gama": 0.5},
            r"ExponentialLR options: unknown option 'gama' \(did you mean 'gamma'",
        ),
        (
            {"optimizer": torch.optim.SGD, "optim_args": {"rl": 0.1}, "gamma": 0.5},
            "SGD options: unknown option 'rl'",
        ),
    ],
)
def test_scheduler_bad_options_raise(options, match):
    with pytest.raises(OptimizerError, match=match):
        optim.ExponentialLR(options)


def test_scheduler_optim_args_not_dict_raises():
    with pytest.raises(OptimizerError, match="expects optim_args"):
        PyroLRScheduler(lr_scheduler.StepLR, [torch.optim.SGD])  # type: ignore[arg-type]


def _reference_and_ours(name, factories, **options):
    ref_x = torch.zeros(2, requires_grad=True)
    ref_opt = torch.optim.SGD([ref_x], lr=0.5)
    subs = [f(ref_opt) for f in factories]
    if name == "ChainedScheduler":
        ref = lr_scheduler.ChainedScheduler(subs, optimizer=ref_opt)
    else:
        ref = getattr(lr_scheduler, name)(ref_opt, subs, **options)
    get_param_store()["x"] = torch.zeros(2)
    x = dict(get_param_store().named_parameters())["x"]
    ours = getattr(optim, name)(
        {"optimizer": torch.optim.SGD, "optim_args": {"lr": 0.5}, "schedulers": factories}
        | options
    )
    return ref_x, ref_opt, ref, x, ours


@pytest.mark.parametrize("name", ["SequentialLR", "ChainedScheduler"])
def test_composite_schedulers_take_factories_and_follow_torch(name):
    import functools

    factories = [
        functools.partial(lr_scheduler.ConstantLR, factor=0.5, total_iters=2),
        functools.partial(lr_scheduler.ExponentialLR, gamma=0.9),
    ]
    options = {"milestones": [2]} if name == "SequentialLR" else {}
    ref_x, ref_opt, ref, x, ours = _reference_and_ours(name, factories, **options)
    for step in range(5):
        g = torch.full((2,), float(step + 1))
        ref_x.grad, x.grad = g.clone(), g.clone()
        ref_opt.step()
        ref.step()
        ours([x])
        ours.step()
    assert torch.equal(x.detach(), ref_x.detach())


def test_composite_scheduler_entry_that_is_not_callable_raises():
    get_param_store()["x"] = torch.zeros(1)
    x = dict(get_param_store().named_parameters())["x"]
    x.grad = torch.ones(1)
    options = {"optimizer": torch.optim.SGD, "optim_args": {"lr": 0.1}}
    sched = optim.SequentialLR(options | {"schedulers": [3], "milestones": []})
    with pytest.raises(optim.OptimizerError, match="callables taking the optimizer"):
        sched([x])
