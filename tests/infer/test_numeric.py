"""torch_item, torch_backward, torch_exp, torch_sum and zero_grads on tensors and numbers."""

import math

import pytest
import torch

from tracegraph.infer.numeric import torch_backward, torch_exp, torch_item, torch_sum, zero_grads


def test_torch_item_tensor_and_number():
    assert torch_item(torch.tensor(2.5)) == 2.5 and isinstance(torch_item(torch.tensor(2)), int)
    assert torch_item(3) == 3 and torch_item(1.5) == 1.5


def test_torch_item_of_many_elements_raises():
    with pytest.raises(RuntimeError):
        torch_item(torch.ones(2))


def test_torch_backward_only_where_there_is_a_graph():
    w = torch.tensor(2.0, requires_grad=True)
    torch_backward(w * w)
    assert w.grad == 4.0
    torch_backward(3.0)
    torch_backward(torch.tensor(1.0))  # no graph: nothing happens
    assert w.grad == 4.0


def test_torch_backward_retain_graph_allows_a_second_pass():
    w = torch.tensor(1.0, requires_grad=True)
    y = w * 3
    torch_backward(y, retain_graph=True)
    torch_backward(y)
    assert w.grad == 6.0


def test_torch_exp_tensor_and_number():
    assert torch.equal(torch_exp(torch.tensor(0.0)), torch.tensor(1.0))
    assert torch_exp(1) == pytest.approx(math.e) and isinstance(torch_exp(0), float)


@pytest.mark.parametrize(
    ("dims", "shape"),
    [((-1,), (2, 3)), ((-3,), (3, 4)), ((-5,), (2, 3, 4)), ({-2, -1}, (2,)), ((-5, -1), (2, 3)),
     ((), (2, 3, 4)), ((0, -3), (3, 4))],
)
def test_torch_sum_skips_dims_the_tensor_lacks(dims, shape):
    assert torch_sum(torch.ones(2, 3, 4), dims).shape == shape


def test_torch_sum_of_number_is_the_number():
    assert torch_sum(2.0, (-1,)) == 2.0


def test_zero_grads_replaces_existing_grads_only():
    a = torch.ones(2, requires_grad=True)
    (a * 2).sum().backward()
    old = a.grad
    b = torch.ones(2, requires_grad=True)
    zero_grads([a, b])
    assert torch.equal(a.grad, torch.zeros(2)) and a.grad is not old
    assert torch.equal(old, torch.full((2,), 2.0))  # a new tensor, the old one untouched
    assert b.grad is None
