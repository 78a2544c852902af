"""Tests of the Trace data structure, built directly with add_node."""

from __future__ import annotations

import math
import pickle

import pytest
import torch
import torch.distributions as tdist

import tracegraph.distributions as dist
from tracegraph.distributions.util import ScoreParts
from tracegraph.errors import HandlerError, ShapeError, SiteError, SiteTypeError
from tracegraph.poutine.edges import identify_dense_edges
from tracegraph.poutine.runtime import CondIndepStackFrame
from tracegraph.poutine.subsample_messenger import SubsampleDistribution
from tracegraph.poutine.trace_struct import (
    GRAPH_TYPES,
    Trace,
    allow_all_sites,
)
from tracegraph.primitives import validation_enabled


def add_sample(tr, name, fn, value, *, observed=False, scale=1.0, mask=None, stack=(), infer=None):
    tr.add_node(
        name,
        name=name,
        type="sample",
        fn=fn,
        args=(),
        kwargs={},
        value=value,
        is_observed=observed,
        scale=scale,
        mask=mask,
        cond_indep_stack=stack,
        infer={} if infer is None else infer,
        done=True,
        stop=False,
        continuation=None,
    )


def add_param(tr, name, value):
    tr.add_node(name, name=name, type="param", value=value, infer={}, cond_indep_stack=())


class CountingNormal(tdist.Normal):
    """A Normal that counts its log_prob calls (to test memoization)."""

    calls = 0

    def log_prob(self, value):
        type(self).calls += 1
        return super().log_prob(value)


class FixedLogProb:
    """A fake distribution whose log_prob is a given tensor."""

    has_rsample = False

    def __init__(self, log_prob, batch_shape=None, event_shape=()):
        self._lp = log_prob
        self.batch_shape = torch.Size(log_prob.shape if batch_shape is None else batch_shape)
        self.event_shape = torch.Size(event_shape)

    def log_prob(self, value):
        return self._lp


class RaisingDist:
    batch_shape = torch.Size([3])
    event_shape = torch.Size()
    has_rsample = False

    def __init__(self, exc):
        self.exc = exc

    def log_prob(self, value):
        raise self.exc


def chain_trace(names, graph_type="flat"):
    tr = Trace(graph_type)
    for n in names:
        add_param(tr, n, torch.tensor(0.0))
    return tr


# -- construction and nodes ----------------------------------------------------


def test_trace_unknown_graph_type_raises_naming_allowed():
    with pytest.raises(HandlerError, match="'flat', 'dense', 'provenance'") as info:
        Trace("bogus")
    assert "'bogus'" in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("graph_type", GRAPH_TYPES)
def test_trace_known_graph_types_accepted(graph_type):
    assert Trace(graph_type).graph_type == graph_type


def test_add_node_keeps_insertion_order_and_io_nodes():
    tr = Trace()
    tr.add_node("_INPUT", name="_INPUT", type="args", args=(1,), kwargs={"k": 2})
    add_param(tr, "s", torch.tensor(0.5))
    add_sample(tr, "z", tdist.Normal(0.0, 1.0), torch.tensor(0.1))
    tr.add_node("_RETURN", name="_RETURN", type="return", value=3)
    assert list(tr.nodes) == ["_INPUT", "s", "z", "_RETURN"]
    assert list(tr) == list(tr.nodes) and len(tr) == 4 and "z" in tr and "q" not in tr
    assert tr.nodes["_INPUT"]["args"] == (1,) and tr.nodes["_RETURN"]["value"] == 3


def test_add_node_duplicate_sample_raises_naming_site_and_first_type():
    tr = Trace()
    add_param(tr, "x", torch.tensor(0.0))
    with pytest.raises(SiteError, match="'x'") as info:
        add_sample(tr, "x", tdist.Normal(0.0, 1.0), torch.tensor(0.0))
    msg = str(info.value)
    assert "already has a param site 'x'" in msg and "got a sample site" in msg
    assert "plate" in msg  # the hint


def test_add_node_duplicate_sample_after_sample_raises():
    tr = Trace()
    add_sample(tr, "x", tdist.Normal(0.0, 1.0), torch.tensor(0.0))
    with pytest.raises(SiteError, match="Multiple sites named 'x'.*a sample site 'x'"):
        add_sample(tr, "x", tdist.Normal(0.0, 1.0), torch.tensor(0.0))


def test_add_node_duplicate_param_replaces_node_keeping_position_and_edges():
    tr = chain_trace(["p", "q"])
    tr.add_edge("p", "q")
    add_param(tr, "p", torch.tensor(7.0))
    assert list(tr.nodes) == ["p", "q"]
    assert tr.nodes["p"]["value"].item() == 7.0
    assert tr.successors("p") == {"q"}


def test_add_node_stores_fresh_dict_per_node():
    tr = Trace()
    fields = {"type": "param", "value": 1.0}
    tr.add_node("a", **fields)
    tr.nodes["a"]["value"] = 2.0
    assert fields["value"] == 1.0


# -- edges -------------------------------------------------------------------------


def test_add_edge_unknown_sites_adds_empty_nodes_as_pyro():
    tr = chain_trace(["a"])
    tr.add_edge("a", "zz")
    tr.add_edge("yy", "a")
    assert list(tr.nodes) == ["a", "zz", "yy"]
    assert tr.nodes["zz"] == {} and tr.nodes["yy"] == {}
    assert tr.successors("a") == {"zz"} and tr.predecessors("a") == {"yy"}
    # Empty nodes are no sites of any kind.
    assert tr.stochastic_nodes == [] and tr.param_nodes == ["a"]


def test_add_node_fills_a_node_made_by_add_edge_keeping_edges():
    tr = Trace()
    tr.add_edge("a", "b")
    tr.add_node("b", name="b", type="param", value=1.0)
    assert tr.nodes["b"]["value"] == 1.0 and tr.predecessors("b") == {"a"}


def test_unknown_site_lookups_raise_key_error_naming_it():
    tr = chain_trace(["a"])
    for op in (tr.predecessors, tr.successors, tr.remove_node):
        with pytest.raises(KeyError, match="no site named 'zz'") as info:
            op("zz")
        assert isinstance(info.value, SiteError)


def test_predecessors_successors_reflect_edges_and_are_copies():
    tr = chain_trace("abc")
    tr.add_edge("a", "c")
    tr.add_edge("b", "c")
    assert tr.predecessors("c") == {"a", "b"}
    assert tr.successors("a") == {"c"} and tr.successors("c") == set()
    tr.predecessors("c").add("zz")
    assert tr.predecessors("c") == {"a", "b"}
    assert sorted(tr.edges) == [("a", "c"), ("b", "c")]
    with pytest.raises(SiteError):
        tr.predecessors("zz")
    with pytest.raises(SiteError):
        tr.successors("zz")


def test_remove_node_removes_its_edges():
    tr = chain_trace("abc")
    tr.add_edge("a", "b")
    tr.add_edge("b", "c")
    tr.remove_node("b")
    assert list(tr.nodes) == ["a", "c"]
    assert tr.successors("a") == set() and tr.predecessors("c") == set()
    assert list(tr.edges) == []
    with pytest.raises(SiteError, match="no site named 'b'"):
        tr.remove_node("b")


# -- topological sort ------------------------------------------------------------


def test_topological_sort_without_edges_is_reverse_insertion_order_as_pyro():
    tr = chain_trace(["c", "a", "b"])
    # Pyro 1.9.2 lists the last site added first (reverse=True: insertion order).
    assert tr.topological_sort() == ["b", "a", "c"]
    assert tr.topological_sort(reverse=True) == ["c", "a", "b"]


def test_topological_sort_respects_edges_and_insertion_order():
    tr = chain_trace("abcde")
    tr.add_edge("d", "a")
    tr.add_edge("e", "b")
    order = tr.topological_sort()
    # Pyro 1.9.2's order for this graph (depth-first from each site in insertion
    # order, reversed finishing order).
    assert order == ["e", "d", "c", "b", "a"]
    assert tr.topological_sort(reverse=True) == order[::-1]
    for u, v in tr.edges:
        assert order.index(u) < order.index(v)


def test_topological_sort_20000_site_chain_both_directions():
    n = 20_000
    names = [f"s{i}" for i in range(n)]
    tr = chain_trace(names)
    # Edges run against insertion order, so the sort really has to reorder.
    for i in range(n - 1):
        tr.add_edge(names[i + 1], names[i])
    assert tr.topological_sort() == names[::-1]
    assert tr.topological_sort(reverse=True) == names


def test_topological_sort_cycle_raises_naming_sites():
    tr = chain_trace("abc")
    tr.add_edge("a", "b")
    tr.add_edge("b", "a")
    with pytest.raises(SiteError, match="cycle.*'a', 'b'"):
        tr.topological_sort()


# -- copy, detach, pickle, repr ------------------------------------------------------


def test_copy_edges_are_independent():
    tr = chain_trace("abc")
    tr.add_edge("a", "b")
    tr2 = tr.copy()
    tr2.add_edge("b", "c")
    tr2.remove_node("a")
    assert sorted(tr.edges) == [("a", "b")]
    assert tr.successors("b") == set() and list(tr.nodes) == ["a", "b", "c"]
    assert sorted(tr2.edges) == [("b", "c")]


def test_copy_nodes_are_independent_dicts():
    tr = Trace("dense")
    add_sample(tr, "z", tdist.Normal(0.0, 1.0), torch.tensor(0.0), infer={"k": 1})
    tr2 = tr.copy()
    assert tr2.graph_type == "dense"
    tr2.nodes["z"]["value"] = torch.tensor(5.0)
    tr2.nodes["z"]["infer"]["k"] = 2
    add_param(tr2, "new", 1.0)
    assert tr.nodes["z"]["value"].item() == 0.0
    assert tr.nodes["z"]["infer"] == {"k": 1}
    assert "new" not in tr
    # Values and distributions are shared, not cloned.
    assert tr2.nodes["z"]["fn"] is tr.nodes["z"]["fn"]


def test_detach_detaches_sample_values_only():
    loc = torch.tensor(1.0, requires_grad=True)
    tr = Trace()
    add_param(tr, "loc", loc)
    add_sample(tr, "z", tdist.Normal(loc, 1.0), loc * 2)
    add_sample(tr, "n", tdist.Normal(0.0, 1.0), 3.0)  # a non-tensor value is left alone
    tr.detach_()
    assert not tr.nodes["z"]["value"].requires_grad
    assert tr.nodes["z"]["value"].item() == 2.0
    assert tr.nodes["loc"]["value"] is loc
    assert tr.nodes["n"]["value"] == 3.0


def test_trace_pickles_with_nodes_and_edges():
    tr = Trace("dense")
    add_sample(tr, "a", tdist.Normal(0.0, 1.0), torch.tensor(0.5))
    add_sample(tr, "b", tdist.Bernoulli(0.3), torch.tensor(1.0), observed=True)
    tr.add_edge("a", "b")
    tr.compute_log_prob()
    tr2 = pickle.loads(pickle.dumps(tr))
    assert list(tr2.nodes) == ["a", "b"] and list(tr2.edges) == [("a", "b")]
    assert torch.equal(tr2.nodes["b"]["log_prob"], tr.nodes["b"]["log_prob"])
    assert tr2.graph_type == "dense"


def test_repr_is_short_and_truncated():
    assert repr(chain_trace("ab")) == "Trace(graph_type='flat', sites=['a', 'b'], edges=0)"
    long = repr(chain_trace([f"s{i}" for i in range(100)]))
    assert "(92 more)" in long and "s50" not in long


# -- node lists ------------------------------------------------------------------


class SettableRsample:
    """A stand-in for a wrapped distribution whose has_rsample was switched off."""

    def __init__(self, has_rsample):
        self.has_rsample = has_rsample


def node_zoo():
    tr = Trace()
    tr.add_node("_INPUT", name="_INPUT", type="args", args=(), kwargs={})
    add_param(tr, "p", torch.tensor(1.0))
    add_sample(tr, "rep", tdist.Normal(0.0, 1.0), torch.tensor(0.0))
    add_sample(tr, "disc", tdist.Bernoulli(0.5), torch.tensor(1.0))
    add_sample(tr, "obs", tdist.Normal(0.0, 1.0), torch.tensor(0.0), observed=True)
    add_sample(tr, "off", SettableRsample(False), torch.tensor(0.0))
    add_sample(tr, "on", SettableRsample(True), torch.tensor(0.0))
    tr.add_node("_RETURN", name="_RETURN", type="return", value=None)
    return tr


def test_node_lists_classify_sites_in_order():
    tr = node_zoo()
    assert tr.observation_nodes == ["obs"]
    assert tr.stochastic_nodes == ["rep", "disc", "off", "on"]
    assert tr.param_nodes == ["p"]
    assert tr.reparameterized_nodes == ["rep", "on"]
    assert tr.nonreparam_stochastic_nodes == ["disc", "off"]
    assert [n for n, _ in tr.iter_stochastic_nodes()] == tr.stochastic_nodes
    assert all(site is tr.nodes[n] for n, site in tr.iter_stochastic_nodes())


# -- log-probabilities -------------------------------------------------------------


def test_log_prob_sum_matches_manual_sum_including_observed():
    tr = Trace()
    add_param(tr, "p", torch.tensor(1.0))
    add_sample(tr, "z", tdist.Normal(0.0, 2.0), torch.tensor(0.3))
    add_sample(tr, "x", tdist.Normal(torch.zeros(3), 1.0), torch.ones(3), observed=True)
    expected = tdist.Normal(0.0, 2.0).log_prob(torch.tensor(0.3)) + 3 * tdist.Normal(
        0.0, 1.0
    ).log_prob(torch.tensor(1.0))
    assert torch.allclose(tr.log_prob_sum(), expected)


def test_log_prob_sum_site_filter_and_empty():
    tr = Trace()
    assert tr.log_prob_sum() == 0.0
    add_sample(tr, "z", tdist.Normal(0.0, 1.0), torch.tensor(0.0))
    add_sample(tr, "x", tdist.Normal(0.0, 1.0), torch.tensor(1.0), observed=True)
    only_x = tr.log_prob_sum(lambda name, site: site["is_observed"])
    assert torch.allclose(only_x, tdist.Normal(0.0, 1.0).log_prob(torch.tensor(1.0)))
    assert tr.log_prob_sum(lambda name, site: False) == 0.0
    assert allow_all_sites("z", tr.nodes["z"]) is True


def test_log_prob_memoized_across_methods():
    CountingNormal.calls = 0
    tr = Trace()
    add_sample(tr, "z", CountingNormal(0.0, 1.0), torch.tensor(0.5))
    first = tr.log_prob_sum()
    second = tr.log_prob_sum()
    # As Pyro, log_prob_sum memoizes the sum only, so compute_log_prob computes
    # the per-element log-prob once more; from then on everything is memoized.
    assert CountingNormal.calls == 1 and set(tr.nodes["z"]) & {"log_prob"} == set()
    tr.compute_log_prob()
    tr.compute_score_parts()
    tr.compute_log_prob()
    assert CountingNormal.calls == 2
    assert torch.equal(second, first)
    assert torch.equal(tr.nodes["z"]["log_prob_sum"], first)


def test_log_prob_sum_uses_existing_log_prob():
    tr = Trace()
    add_sample(tr, "z", tdist.Normal(0.0, 1.0), torch.tensor(0.0))
    tr.nodes["z"]["log_prob"] = torch.tensor([1.0, 2.0])
    assert tr.log_prob_sum().item() == 3.0


def test_compute_log_prob_sets_scaled_and_unscaled():
    tr = Trace()
    add_sample(tr, "z", tdist.Normal(torch.zeros(2), 1.0), torch.zeros(2), scale=3.0)
    add_sample(tr, "skip", tdist.Normal(0.0, 1.0), torch.tensor(0.0))
    tr.compute_log_prob(lambda name, site: name == "z")
    site = tr.nodes["z"]
    unscaled = tdist.Normal(0.0, 1.0).log_prob(torch.zeros(2))
    assert torch.allclose(site["unscaled_log_prob"], unscaled)
    assert torch.allclose(site["log_prob"], 3 * unscaled)
    assert torch.allclose(site["log_prob_sum"], 6 * unscaled[0])
    assert "log_prob" not in tr.nodes["skip"]


@pytest.mark.parametrize("method", ["compute_log_prob", "compute_score_parts"])
def test_compute_without_sums_leaves_them_to_be_computed_later(method):
    tr = Trace()
    add_sample(tr, "z", tdist.Normal(torch.zeros(2), 1.0), torch.zeros(2), scale=2.0)
    getattr(tr, method)(sums=False)
    site = tr.nodes["z"]
    assert "log_prob" in site and "log_prob_sum" not in site
    assert torch.allclose(tr.log_prob_sum(), site["log_prob"].sum())
    getattr(tr, method)()  # memoized log-probs; the missing sums are filled in
    assert torch.allclose(site["log_prob_sum"], site["log_prob"].sum())


def test_compute_score_parts_without_scale_or_mask_keeps_the_parts():
    tr = Trace()
    add_sample(tr, "z", tdist.Bernoulli(0.3), torch.tensor(1.0))
    add_sample(tr, "w", tdist.Bernoulli(0.3), torch.tensor(1.0), scale=2.0)
    tr.compute_score_parts()
    z, w = tr.nodes["z"]["score_parts"], tr.nodes["w"]["score_parts"]
    assert z.scale_and_mask(1.0, None) is z  # nothing to apply: not rebuilt
    assert z.log_prob is z.score_function
    assert torch.allclose(w.log_prob, 2.0 * w.score_function)


def test_scale_tensor_and_mask_broadcast_with_log_prob():
    tr = Trace()
    scale = torch.tensor([[1.0], [2.0], [3.0]])  # (3, 1) against log_prob (4,)
    mask = torch.tensor([True, False, True, True])
    add_sample(tr, "z", tdist.Normal(torch.zeros(4), 1.0), torch.zeros(4), scale=scale, mask=mask)
    tr.compute_log_prob()
    lp = tr.nodes["z"]["log_prob"]
    c = tdist.Normal(0.0, 1.0).log_prob(torch.tensor(0.0))
    expected = scale * torch.where(mask, c, torch.tensor(0.0))
    assert lp.shape == (3, 4)
    assert torch.allclose(lp, expected)
    assert torch.allclose(tr.log_prob_sum(), expected.sum())


def test_masked_neg_inf_gives_zero_not_nan():
    tr = Trace()
    lp = torch.tensor([-1.0, -math.inf])
    add_sample(tr, "z", FixedLogProb(lp), torch.zeros(2), mask=torch.tensor([True, False]))
    total = tr.log_prob_sum()
    assert total.item() == -1.0
    tr.compute_log_prob()
    assert torch.equal(tr.nodes["z"]["log_prob"], torch.tensor([-1.0, 0.0]))


def test_mask_false_zeroes_site():
    tr = Trace()
    add_sample(tr, "z", tdist.Normal(torch.zeros(2), 1.0), torch.zeros(2), mask=False)
    assert tr.log_prob_sum().item() == 0.0


def test_compute_score_parts_plain_torch_convention():
    tr = Trace()
    mask = torch.tensor([True, False])
    add_sample(tr, "rep", tdist.Normal(torch.zeros(2), 1.0), torch.zeros(2), scale=2.0, mask=mask)
    add_sample(tr, "disc", tdist.Bernoulli(torch.full((2,), 0.25)), torch.ones(2), scale=2.0,
               mask=mask)  # fmt: skip
    tr.compute_score_parts()
    rep, disc = tr.nodes["rep"], tr.nodes["disc"]
    unscaled_rep = tdist.Normal(0.0, 1.0).log_prob(torch.zeros(2))
    scaled_rep = torch.where(mask, 2 * unscaled_rep, torch.tensor(0.0))
    assert isinstance(rep["score_parts"], ScoreParts)
    assert rep["score_parts"].score_function == 0.0
    assert isinstance(rep["score_parts"].entropy_term, torch.Tensor)
    assert torch.allclose(rep["score_parts"].entropy_term, scaled_rep)
    assert torch.allclose(rep["log_prob"], scaled_rep)
    assert torch.allclose(rep["unscaled_log_prob"], unscaled_rep)
    assert torch.allclose(rep["log_prob_sum"], scaled_rep.sum())
    unscaled_disc = torch.full((2,), math.log(0.25))
    # As in Pyro, the score function is neither scaled nor masked.
    assert torch.allclose(disc["score_parts"].score_function, unscaled_disc)
    assert disc["score_parts"].entropy_term == 0.0
    assert torch.allclose(disc["log_prob"], torch.where(mask, 2 * unscaled_disc, 0.0))


def test_compute_score_parts_uses_fn_score_parts_and_is_memoized():
    class WithScoreParts(FixedLogProb):
        calls = 0

        def score_parts(self, value):
            type(self).calls += 1
            return ScoreParts(self._lp, 7 * self._lp, 0.0)

    tr = Trace()
    add_sample(tr, "z", WithScoreParts(torch.tensor([1.0, 2.0])), torch.zeros(2), scale=0.5)
    tr.compute_score_parts()
    tr.compute_score_parts()
    parts = tr.nodes["z"]["score_parts"]
    assert WithScoreParts.calls == 1
    assert torch.equal(parts.score_function, torch.tensor([7.0, 14.0]))
    assert torch.equal(parts.log_prob, torch.tensor([0.5, 1.0]))
    assert tr.nodes["z"]["log_prob_sum"].item() == 1.5


def test_compute_score_parts_wrapped_distribution_with_rsample_switched_off():
    tr = Trace()
    fn = dist.Normal(torch.zeros(2), 1.0).has_rsample_(False)
    add_sample(tr, "z", fn, torch.zeros(2), scale=3.0)
    assert tr.nonreparam_stochastic_nodes == ["z"] and tr.reparameterized_nodes == []
    tr.compute_score_parts()
    parts = tr.nodes["z"]["score_parts"]
    unscaled = tdist.Normal(0.0, 1.0).log_prob(torch.zeros(2))
    assert torch.allclose(parts.score_function, unscaled)
    assert torch.allclose(parts.log_prob, 3 * unscaled) and parts.entropy_term == 0.0


@pytest.mark.parametrize("method", ["log_prob_sum", "compute_log_prob", "compute_score_parts"])
def test_log_prob_failure_reraises_same_exception_with_site_and_table(method):
    err = ValueError("bad value")
    tr = Trace()
    add_param(tr, "p", torch.ones(2))
    add_sample(tr, "good", tdist.Normal(0.0, 1.0), torch.tensor(0.0))
    add_sample(tr, "bad", RaisingDist(err), torch.zeros(3))
    add_sample(tr, "later", tdist.Normal(0.0, 1.0), torch.tensor(0.0))
    with pytest.raises(ValueError) as info:
        getattr(tr, method)()
    assert info.value is err
    notes = "\n".join(info.value.__notes__)
    assert "at site 'bad'" in notes
    assert "Trace Shapes:" in notes and "bad dist" in notes and "good dist" in notes
    assert "later" not in notes  # the table stops at the failing site


@pytest.mark.parametrize("method", ["log_prob_sum", "compute_log_prob", "compute_score_parts"])
def test_log_prob_of_class_fn_raises_site_type_error_without_internal_names(method):
    # (Pyro: TypeError "Normal.log_prob() missing 1 required positional argument".)
    tr = Trace()
    add_sample(tr, "x", dist.Normal, torch.zeros(2))
    with pytest.raises(SiteTypeError, match="site 'x': fn is the class Normal") as info:
        getattr(tr, method)()
    assert info.value.__suppress_context__  # torch's message names an internal class
    notes = "\n".join(info.value.__notes__)
    assert "while computing" in notes and "at site 'x': the class Normal" in notes
    assert "x dist" in notes and "Provenance" not in notes


def test_log_prob_of_function_fn_keeps_attribute_error_with_hint():
    tr = Trace()
    add_sample(tr, "x", lambda: 0.0, torch.zeros(2))
    with pytest.raises(AttributeError) as info:
        tr.log_prob_sum()
    assert "hint: site 'x' has a function as fn, which has no log_prob" in info.value.__notes__[1]


def test_invalid_log_prob_shape_raises_under_validation_only():
    # batch_shape (3,) but log_prob (2,): not the broadcast of value and batch shapes.
    fn = FixedLogProb(torch.zeros(2), batch_shape=(3,))
    tr = Trace()
    add_sample(tr, "w", fn, torch.zeros(3))
    with validation_enabled(True), pytest.raises(ShapeError) as info:
        tr.compute_log_prob()
    msg = str(info.value)
    assert "site 'w'" in msg and "(2,)" in msg and "expected (3,)" in msg
    assert any("Trace Shapes:" in n for n in info.value.__notes__)
    with validation_enabled(False):
        tr.compute_log_prob()
    assert tr.nodes["w"]["log_prob"].shape == (2,)


def test_value_not_broadcasting_with_batch_shape_raises_under_validation():
    fn = FixedLogProb(torch.zeros(3))
    tr = Trace()
    add_sample(tr, "w", fn, torch.zeros(2))
    with validation_enabled(True), pytest.raises(ShapeError, match=r"site 'w'.*\(2,\).*\(3,\)"):
        tr.log_prob_sum()


def test_log_prob_sum_single_site_result_is_not_the_memo():
    tr = Trace()
    add_sample(tr, "z", tdist.Normal(0.0, 1.0), torch.tensor(0.0))
    total = tr.log_prob_sum()
    total += 100.0
    assert tr.nodes["z"]["log_prob_sum"].item() == pytest.approx(-0.9189385)
    assert tr.log_prob_sum().item() == pytest.approx(-0.9189385)


def test_log_prob_shape_not_checked_at_subsample_sites():
    tr = Trace()
    fn = SubsampleDistribution(3, 3)  # batch_shape (), value (3,): indices of a plate
    add_sample(tr, "data", fn, torch.arange(3))
    with validation_enabled(True):
        assert tr.log_prob_sum().item() == 0.0


def test_log_prob_shape_allows_extra_leading_value_dims():
    # A value with extra leading (sample or enumeration) dims is fine.
    tr = Trace()
    add_sample(tr, "z", tdist.Normal(torch.zeros(3), 1.0), torch.zeros(5, 1, 3))
    with validation_enabled(True):
        tr.compute_log_prob()
    assert tr.nodes["z"]["log_prob"].shape == (5, 1, 3)


def test_log_prob_shape_check_ignores_event_dims():
    fn = tdist.Independent(tdist.Normal(torch.zeros(4, 2), 1.0), 1)
    tr = Trace()
    add_sample(tr, "z", fn, torch.zeros(4, 2))
    with validation_enabled(True):
        tr.compute_score_parts()
    assert tr.nodes["z"]["log_prob"].shape == (4,)


# -- dense edges ---------------------------------------------------------------------


def seq(counter):
    return (CondIndepStackFrame("loop", None, 2, counter, 2),)


def test_dense_edges_respect_sequential_plate_iterations():
    vec = CondIndepStackFrame("data", -1, 3, 0, 3)
    tr = Trace("dense")
    n01 = tdist.Normal(0.0, 1.0)
    add_sample(tr, "a", n01, torch.tensor(0.0))
    add_param(tr, "p", torch.tensor(1.0))
    add_sample(tr, "x_0", n01, torch.tensor(0.0), stack=seq(0))
    add_sample(tr, "y_0", n01, torch.tensor(0.0), stack=(vec,) + seq(0), observed=True)
    add_sample(tr, "x_1", n01, torch.tensor(0.0), stack=seq(1))
    add_sample(tr, "y_1", n01, torch.tensor(0.0), stack=(vec,) + seq(1), observed=True)
    add_sample(tr, "b", n01, torch.tensor(0.0), stack=(vec,))
    identify_dense_edges(tr)
    expected = {
        ("a", "x_0"), ("a", "y_0"), ("a", "x_1"), ("a", "y_1"), ("a", "b"),
        ("x_0", "y_0"), ("x_1", "y_1"),
        ("x_0", "b"), ("y_0", "b"), ("x_1", "b"), ("y_1", "b"),
    }  # fmt: skip
    assert set(tr.edges) == expected
    assert tr.predecessors("p") == set() and tr.successors("p") == set()


def test_dense_edges_skip_subsample_sites():
    tr = Trace("dense")
    n01 = tdist.Normal(0.0, 1.0)
    add_sample(tr, "data", SubsampleDistribution(3, 3), torch.arange(3))
    add_sample(tr, "z", n01, torch.tensor(0.0))
    add_sample(tr, "x", n01, torch.tensor(0.0))
    identify_dense_edges(tr)
    assert set(tr.edges) == {("z", "x")}


def test_dense_edges_match_brute_force_on_nested_loops():
    # Brute force: an edge unless some sequential plate both sites share has
    # different counters.
    tr = Trace("dense")
    stacks: dict[str, tuple[CondIndepStackFrame, ...]] = {}
    n01 = tdist.Normal(0.0, 1.0)
    for i in range(3):
        for j in range(2):
            st: tuple[CondIndepStackFrame, ...] = (
                CondIndepStackFrame("outer", None, 3, i, 3),
                CondIndepStackFrame("inner", None, 2, j, 2),
            )
            add_sample(tr, f"z_{i}_{j}", n01, torch.tensor(0.0), stack=st)
            stacks[f"z_{i}_{j}"] = st
        add_sample(tr, f"w_{i}", n01, torch.tensor(0.0), stack=st[:1])
        stacks[f"w_{i}"] = st[:1]
    identify_dense_edges(tr)
    names = list(stacks)
    expected = set()
    for k, cur in enumerate(names):
        for past in names[:k]:
            sep = any(
                f.name == g.name and f.counter != g.counter
                for f in stacks[cur]
                for g in stacks[past]
            )
            if not sep:
                expected.add((past, cur))
    assert set(tr.edges) == expected
    assert ("z_0_0", "z_0_1") not in expected and ("z_0_0", "w_0") in expected
