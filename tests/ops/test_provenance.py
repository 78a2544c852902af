"""Unit tests of the public provenance API (tracegraph.ops.provenance)."""

from __future__ import annotations

import collections
import copy
import io
import pickle

import pytest
import torch
import torch.nn.functional as F

from tracegraph.ops.provenance import (
    ProvenanceTensor,
    control_flow_scope,
    detach_provenance,
    extract_provenance,
    get_provenance,
    strict,
    track_provenance,
)

A, B, C = frozenset({"a"}), frozenset({"b"}), frozenset({"c"})


def tracked(x: torch.Tensor, prov: frozenset = A) -> torch.Tensor:
    return track_provenance(x, prov)


# --- seed 000: the three rules ------------------------------------------------


def test_sample_value_has_its_own_name() -> None:
    z = tracked(torch.tensor(1.0), frozenset({"z"}))
    assert get_provenance(z) == frozenset({"z"})


def test_constants_and_params_have_empty_provenance() -> None:
    param = torch.nn.Parameter(torch.ones(2))
    assert get_provenance(torch.tensor(3.0)) == frozenset()
    assert get_provenance(param) == frozenset()
    assert get_provenance(param * 2) == frozenset()


def test_op_output_is_union_of_inputs() -> None:
    z, w = tracked(torch.tensor(1.0), A), tracked(torch.tensor(2.0), B)
    y = z * w + torch.tensor(3.0)
    assert get_provenance(y) == A | B


def test_dependency_of_next_site_through_distribution_params() -> None:
    z = tracked(torch.tensor(0.3), frozenset({"z"}))
    d = torch.distributions.Normal(z * 2, 1.0)
    assert get_provenance(d.log_prob(torch.tensor(1.0))) == frozenset({"z"})


# --- constructors and container functions -------------------------------------


def test_empty_provenance_returns_input_itself() -> None:
    x = torch.ones(2)
    assert track_provenance(x, frozenset()) is x
    assert ProvenanceTensor(x, frozenset()) is x
    items = [x]
    assert track_provenance(items, set()) is items


def test_provenance_tensor_rejects_non_tensor_with_type_error() -> None:
    with pytest.raises(TypeError, match="track_provenance"):
        ProvenanceTensor(3.0, A)  # type: ignore[arg-type]


def test_track_accepts_any_iterable_of_names() -> None:
    assert get_provenance(track_provenance(torch.ones(1), ["a", "b"])) == A | B


def test_track_twice_joins_provenance() -> None:
    x = torch.ones(2)
    t = tracked(tracked(x, A), B)
    assert get_provenance(t) == A | B
    assert detach_provenance(t) is x


def test_detach_of_tracked_returns_the_same_object() -> None:
    x = torch.randn(3)
    t = tracked(x)
    assert detach_provenance(t) is x
    assert detach_provenance(t) is detach_provenance(t)
    params = {x: "stored"}  # tensors are dict keys in the param store
    assert params[detach_provenance(t)] == "stored"


def test_detach_of_op_result_is_stable_plain_alias() -> None:
    y = tracked(torch.randn(3, requires_grad=True)) * 2
    plain = detach_provenance(y)
    assert type(plain) is torch.Tensor
    assert detach_provenance(y) is plain
    assert torch.equal(plain, y)
    assert plain.data_ptr() == y.data_ptr()


def test_detach_of_op_result_keeps_gradient_flow() -> None:
    x = torch.randn(3, requires_grad=True)
    detach_provenance(tracked(x) * 3).sum().backward()
    assert x.grad is not None and torch.equal(x.grad, torch.full((3,), 3.0))


def test_nested_containers_track_extract_detach() -> None:
    x, y = torch.ones(1), torch.zeros(2)
    Pair = collections.namedtuple("Pair", "first second")
    value = {"list": [x, 1.5], "tuple": (y, None), "pair": Pair(x, "s"), "set": {x}}
    t = track_provenance(value, A)
    assert type(t["pair"]) is Pair and t["pair"].second == "s"
    assert isinstance(t["list"][0], ProvenanceTensor) and t["list"][1] == 1.5
    assert get_provenance(t) == A
    plain, prov = extract_provenance(t)
    assert prov == A
    assert plain["list"][0] is x and plain["tuple"][0] is y and plain["pair"].first is x
    assert plain["set"] == {x}
    assert detach_provenance(t)["tuple"][0] is y


def test_nested_plain_structure_is_returned_unchanged() -> None:
    value = [torch.ones(1), {"k": (2, None)}]
    assert detach_provenance(value) is value
    assert extract_provenance(value) == (value, frozenset())


def test_dict_subclasses_survive_tracking() -> None:
    d = collections.OrderedDict(a=torch.ones(1))
    assert type(track_provenance(d, A)) is collections.OrderedDict


def test_non_tensors_pass_through_with_empty_provenance() -> None:
    for value in (None, 3, 2.5, "text", True):
        assert track_provenance(value, A) is value
        assert get_provenance(value) == frozenset()
        assert extract_provenance(value) == (value, frozenset())


# --- metadata, values and gradients are exact ---------------------------------


def test_shape_and_size_are_torch_size_everywhere() -> None:
    t = tracked(torch.randn(2, 3))
    for obj in (t, t + 1, t[0], t.sum(0), t.unsqueeze(0), *t.unbind(0)):
        assert type(obj.shape) is torch.Size
        assert type(obj.size()) is torch.Size
        assert type(torch.Tensor.size(obj)) is torch.Size
    assert t.size(1) == 3 and t.size(-1) == 3 and t.size(dim=0) == 2


def test_metadata_matches_plain_computation() -> None:
    x = torch.randn(2, 3, requires_grad=True)
    t = tracked(x)
    for plain, trk in ((x, t), (x * 2, t * 2), (x.sum(), t.sum()), (x[0], t[0])):
        assert plain.shape == trk.shape and plain.dtype == trk.dtype
        assert plain.device == trk.device and plain.dim() == trk.dim()
        assert plain.numel() == trk.numel() and plain.requires_grad == trk.requires_grad
        assert plain.is_leaf == trk.is_leaf
        assert type(plain.grad_fn) is type(trk.grad_fn)


def test_tracked_leaf_stays_a_leaf_with_the_leaf_gradient() -> None:
    x = torch.randn(3, requires_grad=True)
    t = tracked(x)
    assert t.is_leaf and t.grad_fn is None
    (t * t).sum().backward()
    assert t.grad is not None and torch.equal(t.grad, 2 * x.detach())
    assert t.grad is x.grad


def test_values_and_gradients_are_bitwise_equal() -> None:
    x = torch.randn(4, requires_grad=True)
    plain = torch.logsumexp(torch.sigmoid(x * 3.0) ** 2, 0) + x.exp().mean()
    plain.backward()
    assert x.grad is not None
    grad_plain, x.grad = x.grad.clone(), None
    t = tracked(x)
    trk = torch.logsumexp(torch.sigmoid(t * 3.0) ** 2, 0) + t.exp().mean()
    trk.backward()
    assert x.grad is not None
    assert torch.equal(plain, trk) and torch.equal(grad_plain, x.grad)


def test_repr_looks_like_a_tensor_with_provenance() -> None:
    t = tracked(torch.tensor([1.0, 2.0]), frozenset({"b", "a"}))
    assert repr(t) == "tensor([1., 2.], provenance={'a', 'b'})"
    assert str(t * 2) == "tensor([2., 4.], provenance={'a', 'b'})"
    r = repr(tracked(torch.ones(2, requires_grad=True)) * 2)
    assert "grad_fn=<MulBackward0>" in r and r.startswith("tensor(")
    assert f"{tracked(torch.tensor(0.25)):.1f}" == "0.2"
    assert "provenance" in repr(tracked(torch.ones(30, 30)))


def test_deepcopy_and_copy_keep_provenance() -> None:
    t = tracked(torch.randn(3), A | B)
    other = copy.deepcopy(t)
    assert isinstance(other, ProvenanceTensor)
    assert get_provenance(other) == A | B and torch.equal(other, t)
    assert other.data_ptr() != t.data_ptr()
    shallow = copy.copy(t)  # shares storage, as copy.copy of a plain tensor does
    assert get_provenance(shallow) == A | B and shallow.data_ptr() == t.data_ptr()
    t.add_(tracked(torch.ones(3), C))
    assert get_provenance(shallow) == A | B | C


@pytest.mark.parametrize("how", ["pickle", "torch.save"])
def test_serialising_writes_plain_data_and_records_control_flow(how) -> None:
    # torch.load's default weights_only=True must accept the file (it refuses
    # every class but torch's own), and the reader may depend on the value.
    t = tracked(torch.randn(3), A | B)
    with control_flow_scope() as scope:
        if how == "pickle":
            other = pickle.loads(pickle.dumps(t))
        else:
            buf = io.BytesIO()
            torch.save({"t": t}, buf)
            buf.seek(0)
            other = torch.load(buf)["t"]
    assert type(other) is torch.Tensor and torch.equal(other, t)
    assert scope.provenance == A | B


# --- ops ----------------------------------------------------------------------


def test_conversions_and_copies_keep_provenance() -> None:
    t = tracked(torch.randn(3))
    for out in (
        t.data,
        t.detach(),
        t.clone(),
        t.to(torch.float64),
        t.cpu(),
        t.float(),
        t.contiguous(),
        torch.as_tensor(t),
        t.type(torch.float64),
    ):
        assert get_provenance(out) == A
    assert t.float() is t and t.contiguous() is t  # no-op conversions return self


def test_stack_cat_where_and_index_join_provenance() -> None:
    a, b = tracked(torch.randn(3), A), tracked(torch.randn(3), B)
    assert get_provenance(torch.stack([a, b])) == A | B
    assert get_provenance(torch.cat([a, torch.zeros(2)])) == A
    assert get_provenance(torch.where(a > 0, a, b)) == A | B
    idx = tracked(torch.tensor([2, 0]), C)
    assert get_provenance(torch.arange(3.0)[idx]) == C
    assert get_provenance(a[idx]) == A | C
    assert get_provenance(a[(idx,)]) == A | C


def test_tuple_outputs_track_each_element() -> None:
    t = tracked(torch.randn(4, 2))
    for parts in (t.unbind(0), t.split(2), t.chunk(2), torch.broadcast_tensors(t, torch.ones(1))):
        assert all(get_provenance(p) == A for p in parts)
    result = t.max(0)
    assert type(result) is torch.return_types.max
    assert get_provenance(result.values) == A and get_provenance(result.indices) == A


def test_keyword_arguments_expand_and_reductions() -> None:
    t = tracked(torch.randn(2, 3))
    assert get_provenance(t.sum(dim=1, keepdim=True)) == A
    assert t.sum(dim=1, keepdim=True).shape == torch.Size([2, 1])
    assert get_provenance(t.expand(4, 2, 3)) == A
    assert get_provenance(torch.logsumexp(t, dim=-1)) == A


def test_nn_functional_ops() -> None:
    t, y = tracked(torch.randn(3), A), tracked(torch.rand(3), B)
    k = tracked(torch.tensor([0, 2]), C)
    outs = {
        "softplus": (F.softplus(t), A),
        "logsigmoid": (F.logsigmoid(t), A),
        "log_softmax": (F.log_softmax(t, dim=-1), A),
        "bce": (F.binary_cross_entropy_with_logits(t, y, reduction="none"), A | B),
        "one_hot": (F.one_hot(k, 3), C),
        "relu": (F.relu(t), A),
    }
    for name, (out, expected) in outs.items():
        assert get_provenance(out) == expected, name


def test_functional_inplace_flag_mutates_input() -> None:
    x = torch.tensor([-1.0, 1.0])
    t = tracked(x)
    assert F.relu(t, inplace=True) is t
    assert F.relu(t, True) is t  # the flag given positionally
    assert get_provenance(t) == A and torch.equal(x, torch.tensor([0.0, 1.0]))


@pytest.mark.parametrize(
    "make",
    [
        lambda p: torch.distributions.Normal(p, p.exp()),
        lambda p: torch.distributions.Bernoulli(logits=p),
        lambda p: torch.distributions.Categorical(logits=p.expand(2, 3)),
        lambda p: torch.distributions.Beta(p.exp(), 2.0),
        lambda p: torch.distributions.Gamma(p.exp(), p.exp() + 1),
        lambda p: torch.distributions.Dirichlet(p.exp()),
    ],
    ids=["Normal", "Bernoulli", "Categorical", "Beta", "Gamma", "Dirichlet"],
)
def test_distribution_log_prob_under_strict_mode(make) -> None:
    p = tracked(torch.tensor([0.1, -0.3, 0.5]), A)
    with strict(), control_flow_scope() as scope:
        d = make(p)
        value = tracked(d.sample(), B)
        lp = d.log_prob(value)
        assert get_provenance(lp) == A | B
        assert get_provenance(d.sample()) == A
        d.entropy()
    # argument validation only decides "raise or go on": not control flow
    assert scope.provenance == frozenset()


def test_rsample_carries_parameter_provenance_and_gradient() -> None:
    loc = torch.zeros(2, requires_grad=True)
    d = torch.distributions.Normal(tracked(loc), 1.0)
    z = d.rsample()
    assert get_provenance(z) == A
    z.sum().backward()
    assert loc.grad is not None and torch.equal(loc.grad, torch.ones(2))
