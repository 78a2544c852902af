"""Mutation never drops provenance: in-place ops, out=, setitem, views, aliases."""

from __future__ import annotations

import pytest
import torch

from tracegraph.errors import ProvenanceError
from tracegraph.ops.provenance import (
    UNTRACKABLE_WRITE,
    DynamicShapeProvenanceTensor,
    ProvenanceTensor,
    control_flow_scope,
    detach_provenance,
    get_provenance,
    strict,
    take_raised,
    track_provenance,
)

A, B, C = frozenset({"a"}), frozenset({"b"}), frozenset({"c"})


def tracked(x: torch.Tensor, prov: frozenset = A) -> torch.Tensor:
    return track_provenance(x, prov)


MUTATIONS = {
    "add_": lambda m, v: m.add_(v),
    "iadd": lambda m, v: m.__iadd__(v),
    "mul_": lambda m, v: m.mul_(v),
    "copy_": lambda m, v: m.copy_(v),
    "setitem": lambda m, v: m.__setitem__(0, v[0]),
    "setitem_slice": lambda m, v: m.__setitem__(slice(0, 2), v[:2]),
    "masked_fill_": lambda m, v: m.masked_fill_(torch.tensor([True, False, True]), v[0]),
    "index_put_": lambda m, v: m.index_put_((torch.tensor([1]),), v[1:2]),
    "scatter_": lambda m, v: m.scatter_(0, torch.tensor([0, 1, 2]), v),
    "out=": lambda m, v: torch.add(v, 1.0, out=m),
    "clamp_": lambda m, v: m.clamp_(min=v),
    "torch.relu_": lambda m, v: (m.copy_(v), torch.relu_(m)),
}


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_mutating_plain_tensor_makes_it_tracked(name: str) -> None:
    m = torch.zeros(3)
    m_id = id(m)
    MUTATIONS[name](m, tracked(torch.ones(3), B))
    assert id(m) == m_id and isinstance(m, ProvenanceTensor)
    assert get_provenance(m) == B
    assert get_provenance(m * 2) == B  # later ops dispatch through the rules


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_mutating_tracked_tensor_joins_old_and_new(name: str) -> None:
    m = tracked(torch.zeros(3), A)
    MUTATIONS[name](m, tracked(torch.ones(3), B))
    assert get_provenance(m) == A | B


def test_inplace_add_with_python_operator_rebinds_to_tracked() -> None:
    m = torch.zeros(2)
    alias = m
    m += tracked(torch.ones(2), B)
    assert m is alias and get_provenance(alias) == B


def test_out_with_tuple_of_outputs_tracks_each() -> None:
    values, indices = torch.empty(0), torch.empty(0, dtype=torch.long)
    torch.max(tracked(torch.randn(2, 3), A), 1, out=(values, indices))
    assert get_provenance(values) == A and get_provenance(indices) == A


def test_setitem_with_tracked_index_joins_index_provenance() -> None:
    m = torch.zeros(3)
    m[tracked(torch.tensor([1]), C)] = 5.0
    assert get_provenance(m) == C


def test_mutating_a_view_taints_its_base() -> None:
    base = torch.zeros(2, 3)
    row = base[0]
    row.copy_(tracked(torch.ones(3), B))
    assert get_provenance(row) == B and get_provenance(base) == B


def test_mutating_base_reaches_existing_tracked_views() -> None:
    base = tracked(torch.zeros(4), A)
    view = base[1:3]
    base[1] = tracked(torch.tensor(7.0), B)
    assert get_provenance(view) == A | B
    assert get_provenance(view.sum()) == A | B


def test_mutating_a_sibling_view_reaches_tracked_views() -> None:
    base = tracked(torch.zeros(4), A)
    left, whole = base[:2], base.view(2, 2)
    left.fill_(tracked(torch.tensor(1.0), B))
    assert get_provenance(base) == A | B
    assert get_provenance(whole) == A | B


def test_mutating_detached_alias_reaches_source() -> None:
    t = tracked(torch.zeros(2), A) * 1
    t.detach().add_(tracked(torch.ones(2), B))
    t.data.mul_(tracked(torch.ones(2), C))
    assert get_provenance(t) == A | B | C


def test_mutating_tracked_alias_taints_the_plain_source() -> None:
    x = torch.zeros(2)
    t = tracked(x, A)
    t.add_(tracked(torch.ones(2), B))
    assert torch.equal(x, torch.ones(2))  # same storage
    assert get_provenance(x) == A | B
    assert type(detach_provenance(t)) is torch.Tensor


def test_resizing_inplace_ops_refresh_the_cached_shape() -> None:
    t = tracked(torch.zeros(2, 3), A)
    assert t.shape == (2, 3)
    t.unsqueeze_(0)
    assert t.shape == torch.Size([1, 2, 3]) and t.size() == torch.Size([1, 2, 3])
    t.squeeze_(0)
    t.t_()
    assert t.shape == torch.Size([3, 2])
    t.resize_(6)
    assert t.shape == torch.Size([6])
    t.data = torch.zeros(5)
    assert t.shape == torch.Size([5]) and type(t.shape) is torch.Size
    out = tracked(torch.empty(0), A)
    _ = out.shape
    torch.add(torch.ones(4), tracked(torch.ones(4), B), out=out)
    assert out.shape == torch.Size([4]) and get_provenance(out) == A | B


def test_mutating_a_parameter_keeps_the_dependency_as_control_flow() -> None:
    # A parameter cannot carry provenance; Pyro runs such programs, so the write
    # counts as control flow (every later site depends on it) and, under
    # validation, is noted for the next sample site to warn about; strict mode
    # raises.
    param = torch.nn.Parameter(torch.zeros(2))
    take_raised()
    with torch.no_grad(), control_flow_scope() as scope:
        param.add_(tracked(torch.ones(2), B))
    assert scope.provenance == B and type(param) is torch.nn.Parameter
    assert take_raised() == [(["b"], UNTRACKABLE_WRITE)]
    with torch.no_grad(), strict(), pytest.raises(ProvenanceError, match="Parameter"):
        param.add_(tracked(torch.ones(2), B))


def test_mutation_with_data_dependent_out_shape_is_dynamic() -> None:
    out = torch.empty(0, dtype=torch.long)
    torch.nonzero(tracked(torch.tensor([0.0, 1.0]), A), out=out)
    assert isinstance(out, DynamicShapeProvenanceTensor)


def test_unknown_inplace_op_taints_every_tensor_argument() -> None:
    a, b = torch.zeros(2), tracked(torch.ones(2), B)

    def mystery_(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if torch.overrides.has_torch_function((x, y)):
            return torch.overrides.handle_torch_function(mystery_, (x, y), x, y)
        y.add_(x)
        return x

    mystery_(a, b)
    assert get_provenance(a) == B and get_provenance(b) == B


@pytest.mark.parametrize(
    "resize",
    [
        lambda t: t.transpose_(0, 1),
        lambda t: t.swapdims_(0, 1),
        lambda t: t.as_strided_((3,), (1,)),
        lambda t: t.set_(torch.zeros(4, 1)),
        lambda t: t.resize_as_(torch.zeros(1, 6)),
        lambda t: t.squeeze_().unsqueeze_(-1),
    ],
)
def test_every_resizing_inplace_op_keeps_shape_exact(resize) -> None:
    plain, t = torch.zeros(2, 3), tracked(torch.zeros(2, 3), A)
    _ = t.shape  # fill the cache
    resize(plain)
    resize(t)
    assert t.shape == plain.shape and t.size() == plain.size()
    assert type(t.shape) is torch.Size and t.stride() == plain.stride()


def test_tracked_results_and_detached_aliases_are_garbage_collected() -> None:
    import gc
    import weakref

    x = torch.randn(3, requires_grad=True)
    y = tracked(x) * 2
    alias_ref = weakref.ref(detach_provenance(y))
    view_ref = weakref.ref(y[0])
    y_ref = weakref.ref(y)
    del y
    gc.collect()
    assert alias_ref() is None and view_ref() is None and y_ref() is None


def test_set_from_tracked_source_joins_provenance() -> None:
    t = tracked(torch.zeros(2), A)
    t.set_(tracked(torch.ones(3), B))  # type: ignore[call-overload]
    assert get_provenance(t) == A | B and t.shape == torch.Size([3])
