"""compute_site_dice_factor: the magic-box exponent of a site, 0 when reparameterized."""

import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph import poutine
from tracegraph.infer.dice_factor import compute_site_dice_factor


def test_dice_factor_value_zero_gradient_is_the_score():
    p = torch.tensor(0.3, requires_grad=True)

    def guide():
        tracegraph.sample("b", dist.Bernoulli(p))
        tracegraph.sample("n", dist.Normal(p, 1.0))
        with tracegraph.plate("d", 2), poutine.scale(scale=3.0):
            tracegraph.sample("c", dist.Bernoulli(p))

    tr = poutine.trace(guide).get_trace()
    tr.compute_score_parts()
    assert compute_site_dice_factor(tr.nodes["n"]) == (0, 0)
    log_factor, log_denom = compute_site_dice_factor(tr.nodes["b"])
    assert log_denom == 0 and float(log_factor.detach()) == 0.0
    (grad,) = torch.autograd.grad(log_factor, p)
    b = tr.nodes["b"]["value"]
    assert torch.isclose(grad, b / 0.3 - (1 - b) / 0.7)
    # Unscaled: the subsampling scale multiplies costs, not scores.
    log_factor, _ = compute_site_dice_factor(tr.nodes["c"])
    (grad,) = torch.autograd.grad(log_factor.sum(), p)
    c = tr.nodes["c"]["value"]
    assert torch.isclose(grad, (c / 0.3 - (1 - c) / 0.7).sum())


def test_dice_factor_uses_packed_score_parts_when_present():
    def guide():
        with tracegraph.plate("d", 2, dim=-2):
            tracegraph.sample("b", dist.Bernoulli(torch.full((2, 1), 0.4, requires_grad=True)))

    tr = poutine.trace(guide).get_trace()
    tr.compute_score_parts()
    tr.pack_tensors()
    log_factor, _ = compute_site_dice_factor(tr.nodes["b"])
    assert log_factor.shape == (2,)
