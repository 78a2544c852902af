"""Differential tests: ``pyro.optim`` and tracegraph's optimizers step the same params
to the same values (bitwise where the arithmetic is torch's or the same as Pyro's),
for every optimizer and scheduler Pyro 1.9.2 wraps, with and without clipping.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pytest
import torch

pyro = pytest.importorskip("pyro", reason="differential tests compare against pyro-ppl==1.9.2")

import pyro.optim as poptim  # noqa: E402
import pyro.optim.optim as poptim_optim  # noqa: E402

import tracegraph  # noqa: E402
import tracegraph.optim as toptim  # noqa: E402
import tracegraph.optim.optim as toptim_optim  # noqa: E402

lr_scheduler = torch.optim.lr_scheduler

INIT = {"a": torch.tensor([[0.5, -1.0], [2.0, 0.1], [-0.3, 0.7]]), "b": torch.tensor([[1.0, 2.0]])}
STEPS = 6

OPTIMIZERS: dict[str, dict[str, Any]] = {
    "Adadelta": {"lr": 0.5},
    "Adafactor": {"lr": 0.05},
    "Adagrad": {"lr": 0.1},
    "Adam": {"lr": 0.1, "betas": (0.8, 0.99)},
    "AdamW": {"lr": 0.1, "weight_decay": 0.1},
    "Adamax": {"lr": 0.1},
    "ASGD": {"lr": 0.05},
    "Muon": {"lr": 0.05},
    "NAdam": {"lr": 0.1},
    "RAdam": {"lr": 0.1},
    "RMSprop": {"lr": 0.01, "momentum": 0.5},
    "Rprop": {"lr": 0.01},
    "SGD": {"lr": 0.1, "momentum": 0.9, "nesterov": True},
    "ClippedAdam": {"lr": 0.1, "clip_norm": 0.5, "lrd": 0.9, "weight_decay": 0.01},
    "AdagradRMSProp": {"eta": 0.3, "t": 0.2},
    "DCTAdam": {"lr": 0.1, "clip_norm": 0.5, "lrd": 0.95},
}


def test_optimizer_table_covers_every_optimizer_pyro_wraps():
    schedulers = set(SCHEDULERS) | {
        "LRScheduler",
        "_LRScheduler",
        "SequentialLR",
        "ChainedScheduler",
    }
    skipped = {"PyroOptim", "PyroLRScheduler", "HorovodOptimizer", "SparseAdam"}
    assert set(poptim.__all__) == set(OPTIMIZERS) | schedulers | skipped


def _loss(params: dict[str, torch.Tensor], step: int) -> torch.Tensor:
    # A different smooth loss each step, so every optimizer's state matters.
    a, b = params["a"], params["b"]
    return ((a - step) ** 2).sum() + (a.sum(0, keepdim=True) * b).sum() + (b**4).sum() / (1 + step)


def _train(lib: Any, optim_lib: Any, make: Callable[[Any], Any], steps: int = STEPS, **kw: Any):
    lib.clear_param_store()
    for name, value in INIT.items():
        lib.param(name, value.clone())
    optimizer = make(optim_lib)
    store = lib.get_param_store()
    for step in range(steps):
        values = {name: lib.param(name) for name in INIT}
        leaves = [_leaf(lib, name) for name in INIT]
        for leaf in leaves:
            leaf.grad = None
        _loss(values, step).backward()
        optimizer(leaves)
        if kw.get("scheduler_step"):
            kw["scheduler_step"](optimizer, step)
    return {name: store[name].detach().clone() for name in INIT}, optimizer


def _leaf(lib: Any, name: str) -> torch.Tensor:
    if lib is tracegraph:
        return tracegraph.param(name).unconstrained()
    return pyro.get_param_store()._params[name]


def _same_params(ours: dict[str, torch.Tensor], theirs: dict[str, torch.Tensor], exact: bool):
    for name in INIT:
        if exact:
            assert torch.equal(ours[name], theirs[name]), (name, ours[name], theirs[name])
        else:
            assert torch.allclose(ours[name], theirs[name], rtol=1e-6, atol=1e-6), name


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize(
    "clip_args",
    [None, {"clip_norm": 1.0}, {"clip_value": 0.5}, {"clip_norm": 1.0, "clip_value": 0.3}],
    ids=["noclip", "norm", "value", "both"],
)
def test_optimizer_steps_params_like_pyro(name, clip_args):
    options = OPTIMIZERS[name]
    if name in ("AdagradRMSProp", "DCTAdam", "ClippedAdam"):
        if clip_args is not None:
            pytest.skip(f"Pyro's {name} wrapper takes no clip_args")

        def make(lib):
            return getattr(lib, name)(dict(options))
    else:

        def make(lib):
            return getattr(lib, name)(dict(options), clip_args)

    ours, _ = _train(tracegraph, toptim, make)
    theirs, _ = _train(pyro, poptim, make)
    _same_params(ours, theirs, exact=True)


def test_dct_adam_with_time_dim_steps_like_pyro():
    def train(lib, optim_lib):
        lib.clear_param_store()
        values = {name: lib.param(name, value.clone()) for name, value in INIT.items()}
        leaves = [_leaf(lib, name) for name in INIT]
        for leaf in leaves:
            leaf._pyro_dct_dim = -2
        optimizer = optim_lib.DCTAdam({"lr": 0.1, "clip_norm": 2.0})
        for step in range(STEPS):
            for leaf in leaves:
                leaf.grad = None
            values = {name: lib.param(name) for name in INIT}
            _loss(values, step).backward()
            optimizer(leaves)
        return {name: lib.get_param_store()[name].detach().clone() for name in INIT}

    _same_params(train(tracegraph, toptim), train(pyro, poptim), exact=False)


def test_clipped_adam_centered_variance_steps_like_pyro():
    def make(lib):
        return lib.ClippedAdam({"lr": 0.1, "centered_variance": True})

    ours, _ = _train(tracegraph, toptim, make)
    theirs, _ = _train(pyro, poptim, make)
    _same_params(ours, theirs, exact=True)


def test_per_param_options_callable_like_pyro():
    def options(name: str) -> dict[str, float]:
        return {"lr": 0.2 if name == "a" else 0.01}

    def make(lib):
        # Pyro calls clip_args with (module name, param name): (name, name) here.
        return lib.Adam(options, lambda module, name: {"clip_norm": 0.5 if name == "b" else 10.0})

    ours, _ = _train(tracegraph, toptim, make)
    theirs, _ = _train(pyro, poptim, make)
    _same_params(ours, theirs, exact=True)


SCHEDULERS: dict[str, dict[str, Any]] = {
    "ConstantLR": {"factor": 0.5, "total_iters": 3},
    "CosineAnnealingLR": {"T_max": 4},
    "CosineAnnealingWarmRestarts": {"T_0": 2},
    "CyclicLR": {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 2},
    "ExponentialLR": {"gamma": 0.7},
    "LambdaLR": {"lr_lambda": lambda epoch: 0.9**epoch},
    "LinearLR": {"start_factor": 0.3, "total_iters": 4},
    "MultiStepLR": {"milestones": [2, 4], "gamma": 0.5},
    "MultiplicativeLR": {"lr_lambda": lambda epoch: 0.8},
    "OneCycleLR": {"max_lr": 0.2, "total_steps": 10},
    "PolynomialLR": {"total_iters": 5, "power": 2.0},
    "ReduceLROnPlateau": {"patience": 0, "factor": 0.5},
    "StepLR": {"step_size": 2, "gamma": 0.5},
}


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_scheduler_steps_params_like_pyro(name):
    def make(lib):
        return getattr(lib, name)(
            {"optimizer": torch.optim.SGD, "optim_args": {"lr": 0.1, "momentum": 0.9}}
            | SCHEDULERS[name]
        )

    def scheduler_step(scheduler, step):
        if name == "ReduceLROnPlateau":
            scheduler.step(1.0)  # a flat metric: the plateau rule keeps halving lr
        else:
            scheduler.step()

    ours, ours_sched = _train(tracegraph, toptim, make, scheduler_step=scheduler_step)
    theirs, theirs_sched = _train(pyro, poptim, make, scheduler_step=scheduler_step)
    _same_params(ours, theirs, exact=True)
    lrs_ours = sorted(s.optimizer.param_groups[0]["lr"] for s in ours_sched.optim_objs.values())
    lrs_theirs = sorted(s.optimizer.param_groups[0]["lr"] for s in theirs_sched.optim_objs.values())
    assert lrs_ours == lrs_theirs


@pytest.mark.parametrize(
    "name, options",
    [
        ("SequentialLR", {"schedulers": [], "milestones": []}),
        # (Pyro's ChainedScheduler fails on every input -- it passes the optimizer
        # where torch expects the schedulers; ours works, see tests/optim.)
        ("LRScheduler", {}),
        ("_LRScheduler", {}),
        ("StepLR", {}),
    ],
)
def test_scheduler_failures_raise_the_same_type(name, options):
    # Pyro passes the options on unchecked and fails on the first step; we check
    # them up front, raising the same exception type (or a subclass).
    def run(lib, optim_lib):
        lib.clear_param_store()
        x = lib.param("x", torch.zeros(2))
        leaf = _leaf(lib, "x")
        try:
            scheduler = getattr(optim_lib, name)(
                {"optimizer": torch.optim.SGD, "optim_args": {"lr": 0.1}} | options
            )
            (x**2).sum().backward()
            scheduler([leaf])
            scheduler.step()
        except Exception as exc:  # noqa: BLE001
            return type(exc)
        return None

    theirs = run(pyro, poptim)
    ours = run(tracegraph, toptim)
    assert theirs is not None and ours is not None and issubclass(ours, theirs), (ours, theirs)


def test_sequential_lr_with_scheduler_factories_follows_torch():
    # Where Pyro cannot build SequentialLR per param, ours takes factories.
    tracegraph.clear_param_store()
    x = tracegraph.param("x", torch.zeros(2))
    leaf = x.unconstrained()
    scheduler = toptim.SequentialLR(
        {
            "optimizer": torch.optim.SGD,
            "optim_args": {"lr": 0.1},
            "schedulers": [
                functools.partial(lr_scheduler.ConstantLR, factor=0.5, total_iters=2),
                functools.partial(lr_scheduler.ExponentialLR, gamma=0.9),
            ],
            "milestones": [2],
        }
    )
    ref_x = torch.zeros(2, requires_grad=True)
    ref_opt = torch.optim.SGD([ref_x], lr=0.1)
    ref = lr_scheduler.SequentialLR(
        ref_opt,
        [lr_scheduler.ConstantLR(ref_opt, 0.5, 2), lr_scheduler.ExponentialLR(ref_opt, 0.9)],
        [2],
    )
    for step in range(5):
        leaf.grad = torch.full((2,), float(step + 1))
        ref_x.grad = torch.full((2,), float(step + 1))
        scheduler([leaf])
        scheduler.step()
        ref_opt.step()
        ref.step()
    assert torch.equal(leaf.detach(), ref_x.detach())


def test_optim_module_names_equal():
    assert (
        toptim_optim.is_scheduler(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0))
        is False
    )
    sgd = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    for obj in (sgd, lr_scheduler.StepLR(sgd, 1), lr_scheduler.ReduceLROnPlateau(sgd)):
        assert toptim_optim.is_scheduler(obj) == poptim_optim.is_scheduler(obj)
    for name in ("Tensor", "Optimizer", "clip_grad_norm_", "clip_grad_value_"):
        assert getattr(toptim_optim, name) is getattr(poptim_optim, name)
    for name in ("normalize_param_name", "user_param_name", "module_from_param_with_module_name"):
        for value in ("net$$$layer.weight", "loc"):
            assert getattr(toptim_optim, name)(value) == getattr(poptim_optim, name)(value)
    for name in ("pt_ClippedAdam", "pt_AdagradRMSProp", "pt_DCTAdam"):
        ours, theirs = getattr(toptim_optim, name), getattr(poptim_optim, name)
        x, y = torch.ones(3, requires_grad=True), torch.ones(3, requires_grad=True)
        o1, o2 = ours([x]), theirs([y])
        assert o1.defaults == o2.defaults
        for _ in range(3):
            x.grad, y.grad = torch.tensor([1.0, -2.0, 30.0]), torch.tensor([1.0, -2.0, 30.0])
            o1.step()
            o2.step()
        assert torch.equal(x, y)
