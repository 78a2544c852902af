import torch

from tracegraph.distributions.transform_module import ComposeTransformModule, TransformModule
from tracegraph.distributions.transforms import ExpTransform, iterated


class Shift(TransformModule):
    domain = codomain = torch.distributions.constraints.real
    bijective = True

    def __init__(self):
        super().__init__()
        self.shift = torch.nn.Parameter(torch.tensor([1.0]))

    def _call(self, x):
        return x + self.shift

    def _inverse(self, y):
        return y - self.shift


def test_transform_module_is_a_module_with_parameters():
    t = Shift()
    assert isinstance(t, torch.nn.Module) and [n for n, _ in t.named_parameters()] == ["shift"]
    assert torch.equal(t.inv(t(torch.zeros(1))), torch.zeros(1))
    assert hash(t) == hash(t)


def test_compose_transform_module_registers_parts_that_are_modules():
    flow = ComposeTransformModule([Shift(), ExpTransform(), Shift()])
    assert len(list(flow.parameters())) == 2
    assert torch.allclose(flow(torch.zeros(1)), torch.tensor([1.0]).exp() + 1)
    assert flow.with_cache(0) is flow
    cached = ComposeTransformModule([ExpTransform()]).with_cache(1)
    assert type(cached) is ComposeTransformModule and cached._cache_size == 1


def test_iterated_composes_fresh_transforms():
    flow = iterated(3, Shift)
    assert len(list(flow.parameters())) == 3
    assert torch.equal(flow(torch.zeros(1)), torch.tensor([3.0]))
