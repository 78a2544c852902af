"""DenseNN and ConditionalDenseNN: output blocks, context order, layer names."""

from __future__ import annotations

import torch

from tracegraph.nn import ConditionalDenseNN, DenseNN


def test_dense_nn_splits_output_into_param_blocks():
    net = DenseNN(3, [4, 5], param_dims=[1, 2])
    a, b = net(torch.randn(7, 3))
    assert a.shape == (7, 1) and b.shape == (7, 2)
    assert [n for n, _ in net.named_parameters()] == [
        f"layers.{i}.{p}" for i in range(3) for p in ("weight", "bias")
    ]


def test_dense_nn_single_block_is_one_tensor():
    assert DenseNN(3, [4], param_dims=[2])(torch.randn(7, 3)).shape == (7, 2)
    assert DenseNN(3, [4], param_dims=[1])(torch.randn(3)).shape == (1,)


def test_conditional_dense_nn_reads_context_first_and_broadcasts_it():
    net = ConditionalDenseNN(3, 2, [4], param_dims=[1, 2])
    with torch.no_grad():
        net.layers[0].weight.zero_()
        net.layers[0].bias.zero_()
        net.layers[0].weight[:, 0] = 1.0  # the first input: the context's first entry
        net.layers[1].weight.fill_(1.0)
        net.layers[1].bias.zero_()
    a, _ = net(torch.zeros(3), context=torch.tensor([5.0, 0.0]))
    b, _ = net(torch.tensor([5.0, 0.0, 0.0]), context=torch.zeros(2))
    assert a.item() == 20.0 and b.item() == 0.0
    x, y = net(torch.randn(6, 3), context=torch.randn(2))
    assert x.shape == (6, 1) and y.shape == (6, 2)


def test_dense_nn_uses_the_given_nonlinearity():
    net = DenseNN(2, [3], param_dims=[1], nonlinearity=torch.nn.Tanh())
    assert isinstance(net.f, torch.nn.Tanh) and net.context_dim == 0
    assert net.param_slices == [slice(0, 1)]
