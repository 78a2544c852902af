"""TracePosterior, EmpiricalMarginal and Marginals."""

import pytest
import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph import poutine
from tracegraph.infer.trace_posterior import EmpiricalMarginal, Marginals, TracePosterior


def vector_model():
    z = tracegraph.sample("z", dist.Normal(torch.zeros(3), 1.0).to_event(1))
    tracegraph.sample("w", dist.Normal(torch.zeros(3), 1.0).to_event(1))
    return z.sum()


class Chains(TracePosterior):
    """Traces of the prior, log weight i for the i-th, chain i % num_chains."""

    def __init__(self, n, num_chains=1):
        super().__init__(num_chains=num_chains)
        self.n = n

    def _traces(self):
        for i in range(self.n):
            yield poutine.trace(vector_model).get_trace(), float(i), i % self.num_chains


def test_trace_posterior_run_collects_traces_weights_and_chains():
    post = Chains(6, num_chains=2).run()
    assert len(post.exec_traces) == 6
    assert post.log_weights == [torch.tensor(float(i)) for i in range(6)]
    assert post.chain_ids == [0, 1, 0, 1, 0, 1]
    assert post._idx_by_chain == [[0, 2, 4], [1, 3, 5]]


def test_trace_posterior_run_is_hidden_from_outer_handlers():
    with poutine.trace() as outer:
        Chains(2).run()
    assert not outer.trace.stochastic_nodes


def test_trace_posterior_call_samples_by_weight():
    class OneHot(TracePosterior):
        def _traces(self):
            for i in range(4):
                yield poutine.trace(vector_model).get_trace(), 0.0 if i == 3 else -1e4

    post = OneHot().run()
    tr = post()
    assert tr.nodes["z"]["value"] is post.exec_traces[3].nodes["z"]["value"]
    assert tr is not post.exec_traces[3]


def test_trace_posterior_is_abstract():
    with pytest.raises(TypeError):
        TracePosterior()  # type: ignore[abstract]


def test_empirical_marginal_of_several_sites_stacks_them():
    post = Chains(4).run()
    marginal = EmpiricalMarginal(post, sites=["z", "w"])
    assert marginal.batch_shape == () and marginal.event_shape == (2, 3)
    assert torch.equal(marginal._samples[1, 0], post.exec_traces[1].nodes["z"]["value"])
    assert torch.equal(marginal.log_weights, torch.arange(4.0))


def test_empirical_marginal_default_site_is_the_return_value():
    post = Chains(3).run()
    marginal = EmpiricalMarginal(post)
    assert marginal.event_shape == ()
    returns = torch.stack([t.nodes["_RETURN"]["value"] for t in post.exec_traces])
    assert torch.equal(marginal._samples, returns)


def test_empirical_marginal_chains_form_the_batch_dim():
    marginal = EmpiricalMarginal(Chains(6, num_chains=2).run(), sites="z")
    assert marginal.batch_shape == (2,) and marginal._samples.shape == (2, 3, 3)
    assert torch.equal(marginal.log_weights, torch.tensor([[0.0, 2.0, 4.0], [1.0, 3.0, 5.0]]))


def test_empirical_marginal_errors():
    with pytest.raises(RuntimeError, match="different numbers of traces"):
        EmpiricalMarginal(Chains(5, num_chains=2).run(), sites="z")
    with pytest.raises(KeyError, match="nope"):
        EmpiricalMarginal(Chains(2).run(), sites="nope")
    with pytest.raises(RuntimeError, match="share one shape"):
        EmpiricalMarginal(Chains(2).run(), sites=["z", "_RETURN"])
    with pytest.raises(RuntimeError, match="run"):
        EmpiricalMarginal(Chains(2))


def test_marginals_support_and_flatten():
    post = Chains(6, num_chains=2).run()
    m = post.marginal(["z", "_RETURN"])
    assert isinstance(m, Marginals) and m.sites == ["z", "_RETURN"]
    assert {k: v.shape for k, v in m.support().items()} == {"z": (2, 3, 3), "_RETURN": (2, 3)}
    flat = m.support(flatten=True)
    assert flat["z"].shape == (6, 3) and torch.equal(flat["_RETURN"][:3], m.support()["_RETURN"][0])
    assert set(m.empirical) == {"z", "_RETURN"}
    assert Chains(2).run().marginal().sites == ["_RETURN"]
