import torch

from tracegraph.distributions.tensors import deep_to, detach, eye_like, gather, scalar_like


def test_scalar_like_and_eye_like_take_dtype_and_device():
    proto = torch.zeros(3, dtype=torch.float64)
    assert scalar_like(proto, 2).dtype == torch.float64 and scalar_like(proto, 2).dim() == 0
    assert torch.equal(eye_like(proto, 2, 3), torch.eye(2, 3, dtype=torch.float64))


def test_gather_broadcasts_every_dim_but_the_gathered_one():
    value = torch.arange(12.0).reshape(3, 4)
    index = torch.tensor([[[1]], [[3]]])  # (2, 1, 1): a new batch dim of 2
    out = gather(value, index, -1)
    expected = torch.stack([value[:, 1:2], value[:, 3:4]])  # brute force
    assert torch.equal(out, expected)


def test_gather_along_dim_zero_keeps_index_size():
    value = torch.arange(12.0).reshape(3, 4)
    out = gather(value, torch.tensor([[1, 2, 0, 0]]), 0)
    assert torch.equal(out, value[[1, 2, 0, 0], [0, 1, 2, 3]].unsqueeze(0))


def test_detach_copies_structure_shares_data_and_keeps_aliasing():
    x = torch.ones(2, requires_grad=True) * 3

    class Box:
        pass

    box = Box()
    box.t, box.n = x, 5
    out = detach({"box": box, "again": x, "s": "keep"})
    assert out["box"] is not box and out["box"].n == 5 and out["s"] == "keep"
    assert out["box"].t is out["again"] and not out["again"].requires_grad
    assert out["again"].data_ptr() == x.data_ptr()


def test_deep_to_moves_tensors_and_modules():
    module = torch.nn.Linear(2, 2)
    out = deep_to({"m": module, "x": torch.ones(1)}, torch.float64)
    assert out["x"].dtype == torch.float64 and out["m"].weight.dtype == torch.float64
    same = torch.ones(1)
    assert deep_to(same, torch.float32) is same  # like Tensor.to: nothing to change
