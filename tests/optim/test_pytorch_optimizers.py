"""Tests that every torch.optim optimizer is wrapped and behaves exactly like torch's."""

from __future__ import annotations

import pytest
import torch

import tracegraph.optim as optim
from tracegraph.optim import pytorch_optimizers

TORCH_OPTIMIZERS = sorted(
    name
    for name, obj in vars(torch.optim).items()
    if isinstance(obj, type)
    and issubclass(obj, torch.optim.Optimizer)
    and obj is not torch.optim.Optimizer
    and name != "LBFGS"
)


def test_every_torch_optimizer_is_wrapped():
    for name in TORCH_OPTIMIZERS:
        assert name in optim.__all__
        wrapper = getattr(optim, name)
        assert wrapper.__name__ == name
        assert wrapper({}).pt_optim_constructor is getattr(torch.optim, name)


@pytest.mark.parametrize("name", TORCH_OPTIMIZERS)
def test_optimizer_wrapper_matches_torch_bitwise(name):
    # 2-D params: Muon accepts only matrices. SparseAdam needs sparse gradients.
    sparse = name == "SparseAdam"
    ours = [torch.randn(3, 2, requires_grad=True), torch.randn(2, 4, requires_grad=True)]
    ref = [p.detach().clone().requires_grad_() for p in ours]
    init = [p.detach().clone() for p in ours]
    wrapped = getattr(optim, name)({"lr": 0.01})
    torch_optim = getattr(torch.optim, name)(ref, lr=0.01)
    for step in range(4):
        for group in (ours, ref):
            for i, p in enumerate(group):
                g = torch.sin(p.detach() * (step + 1) + i)
                p.grad = g.to_sparse() if sparse else g
        wrapped(ours)
        torch_optim.step()
    for a, b in zip(ours, ref, strict=True):
        assert torch.equal(a, b)
    assert not torch.equal(ours[0].detach(), init[0])  # it did move


def test_lbfgs_not_wrapped_with_reason():
    with pytest.raises(AttributeError, match="does not wrap LBFGS: its step needs a closure"):
        optim.LBFGS  # noqa: B018


def test_unknown_attribute_raises_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'Adamm'"):
        optim.Adamm  # noqa: B018


def test_extra_names_exported():
    for name in pytorch_optimizers.EXTRA_NAMES:
        assert getattr(optim, name) is getattr(pytorch_optimizers, name)
        assert name in optim.__all__


def test_wrapper_doc_names_the_torch_class():
    assert "torch.optim.Adam" in (optim.Adam.__doc__ or "")
    assert "torch.optim.lr_scheduler.StepLR" in (optim.StepLR.__doc__ or "")
