import torch

from tracegraph.distributions.stable_log_prob import stable_standard_log_prob

D = torch.float64


def test_stable_standard_log_prob_is_minus_inf_outside_a_one_sided_support():
    # alpha < 1, beta = 1: support is x > zeta = -tan(pi alpha / 2).
    alpha, beta = torch.tensor(0.5, dtype=D), torch.tensor(1.0, dtype=D)
    out = stable_standard_log_prob(torch.tensor([-1.5, -0.5], dtype=D), alpha, beta)
    assert out[0] == -float("inf") and torch.isfinite(out[1])


def test_stable_standard_log_prob_converges_in_the_number_of_nodes():
    import tracegraph.distributions.stable_log_prob as module

    x = torch.tensor([-8.0, -2.0, 0.5, 4.0, 30.0], dtype=D)
    cases = [(1.9, 1.0), (0.4, -0.3), (1.0001, 0.5), (1.2, -0.3)]
    coarse = [
        stable_standard_log_prob(x, torch.tensor(a, dtype=D), torch.tensor(b, dtype=D))
        for a, b in cases
    ]
    saved = module._NUM_NODES
    module._NUM_NODES = 256
    try:
        fine = [
            stable_standard_log_prob(x, torch.tensor(a, dtype=D), torch.tensor(b, dtype=D))
            for a, b in cases
        ]
    finally:
        module._NUM_NODES = saved
    for c, f in zip(coarse, fine):
        torch.testing.assert_close(c, f, rtol=1e-6, atol=1e-6)


def test_stable_standard_log_prob_gradients_are_finite():
    alpha = torch.tensor([0.7, 1.0, 1.6], dtype=D, requires_grad=True)
    beta = torch.tensor([0.2, -0.5, 0.9], dtype=D, requires_grad=True)
    x = torch.tensor([0.3, -1.0, 2.0], dtype=D, requires_grad=True)
    stable_standard_log_prob(x, alpha, beta).sum().backward()
    for g in (alpha.grad, beta.grad, x.grad):
        assert torch.isfinite(g).all()
