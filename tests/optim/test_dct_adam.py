import math

import pytest
import torch

from tracegraph import optim
from tracegraph.optim.clipped_adam import ClippedAdam
from tracegraph.optim.dct_adam import DCTAdam, next_fast_len


def test_dct_adam_without_time_dim_is_clipped_adam():
    x = torch.randn(4, 3, requires_grad=True)
    y = x.detach().clone().requires_grad_()
    a, b = (
        DCTAdam([x], lr=0.1, clip_norm=0.5, lrd=0.9),
        ClippedAdam([y], lr=0.1, clip_norm=0.5, lrd=0.9),
    )
    for _ in range(5):
        g = torch.randn(4, 3) * 2
        x.grad, y.grad = g.clone(), g.clone()
        a.step()
        b.step()
    assert torch.equal(x, y)


def test_dct_adam_with_time_dim_first_step_is_transpose_of_extended_sign_step():
    # Adam's first step is -lr * sign(g) elementwise in the extended space
    # [g, dct(g)]; mapped back by the transpose of the extension.
    from tracegraph.distributions.transforms.spectral import dct, idct

    g = torch.tensor([1.0, -2.0, 0.5, 3.0, -1.0], dtype=torch.float64)
    x = torch.zeros(5, dtype=torch.float64, requires_grad=True)
    x._pyro_dct_dim = -1
    optimizer = DCTAdam([x], lr=0.1, eps=0.0)
    x.grad = g.clone()
    optimizer.step()
    extended = torch.cat([g, dct(g)])
    step = -0.1 * extended.sign()
    expected = step[:5] + idct(step[5:])
    assert torch.allclose(x.detach(), expected)
    assert optimizer.state[x]["exp_avg"].shape == (10,)


def test_dct_adam_pads_to_fast_length():
    assert [next_fast_len(n) for n in (1, 7, 11, 13, 14, 17)] == [1, 8, 12, 15, 15, 18]
    x = torch.zeros(7, 2, requires_grad=True)
    x._pyro_dct_dim = -2
    optimizer = DCTAdam([x])
    x.grad = torch.ones(7, 2)
    optimizer.step()
    assert optimizer.state[x]["exp_avg"].shape == (7 + 8, 2)


def test_dct_adam_subsample_aware_counts_steps_per_element():
    x = torch.zeros(4, 2, requires_grad=True)
    optimizer = DCTAdam([x], lr=0.1, subsample_aware=True)
    x._pyro_subsample = {-2: torch.tensor([1, 3])}
    x.grad = torch.ones(4, 2)
    optimizer.step()
    assert torch.equal(optimizer.state[x]["step"][:, 0], torch.tensor([0.0, 1.0, 0.0, 1.0]))
    # Untouched rows stay put; touched rows take Adam's first step, -lr * sign(g).
    assert torch.allclose(x.detach()[:, 0], torch.tensor([0.0, -0.1, 0.0, -0.1]))
    x._pyro_dct_dim = -2
    with pytest.raises(NotImplementedError, match="cannot combine"):
        optimizer.step()


def test_dct_adam_wrapper(make_param):
    a = make_param("a", torch.zeros(3))
    a.grad = torch.ones(3)
    optim.DCTAdam({"lr": 0.2})([a])
    assert torch.allclose(a.detach(), torch.full((3,), -0.2))
    assert math.isclose(optim.DCTAdam({"lrd": 0.5}).pt_optim_args["lrd"], 0.5)
