"""Handlers that rewrite sites: ``do``, ``uncondition``, ``infer_config``,
``substitute``, ``escape`` and ``lift``."""

from __future__ import annotations

import pytest
import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph import poutine
from tracegraph.errors import HandlerError, SiteError, TracegraphWarning


def chain():
    z = tracegraph.sample("z", dist.Normal(0.0, 1.0))
    return tracegraph.sample("x", dist.Normal(z, 1.0))


def observed_chain():
    z = tracegraph.sample("z", dist.Normal(0.0, 1.0))
    tracegraph.sample("x", dist.Normal(z, 1.0), obs=torch.tensor(0.5))
    return z


def with_param():
    s = tracegraph.param("s", torch.tensor(0.5), constraint=dist.constraints.positive)
    return tracegraph.sample("z", dist.Normal(0.0, s))


# -- do --------------------------------------------------------------------------------


def test_do_downstream_sees_intervention():
    intervened = poutine.do(chain, data={"z": torch.tensor(100.0)})
    tr = poutine.trace(intervened).get_trace()
    assert tr.nodes["x"]["fn"].loc == 100.0


def test_do_records_fresh_unobserved_site_under_original_name():
    tr = poutine.trace(poutine.do(chain, data={"z": torch.tensor(100.0)})).get_trace()
    assert list(tr.nodes) == ["_INPUT", "z", "x", "_RETURN"]
    z = tr.nodes["z"]
    # The fresh site was drawn from the prior, not set to the intervention.
    assert not z["is_observed"] and abs(z["value"].item()) < 10.0


def test_do_inner_trace_sees_renamed_intervened_site():
    with poutine.do(data={"z": torch.tensor(4.0)}):
        tr = poutine.trace(chain).get_trace()
    assert list(tr.nodes) == ["_INPUT", "z", "z__CF", "x", "_RETURN"]
    assert tr.nodes["z__CF"]["value"] == 4.0 and not tr.nodes["z__CF"]["is_observed"]


def test_do_composes_with_condition_counterfactual():
    intervened = poutine.do(chain, data={"z": torch.tensor(4.0)})
    model = poutine.condition(intervened, data={"z": torch.tensor(-1.0)})
    tr = poutine.trace(model).get_trace()
    assert tr.nodes["z"]["value"] == -1.0 and tr.nodes["z"]["is_observed"]
    assert tr.nodes["x"]["fn"].loc == 4.0


def test_do_inside_plate_applies_plate_once():
    def model():
        with tracegraph.plate("data", 3), poutine.scale(scale=2.0):
            z = tracegraph.sample("z", dist.Normal(0.0, 1.0))
            return tracegraph.sample("x", dist.Normal(z, 1.0))

    tr = poutine.trace(poutine.do(model, data={"z": torch.zeros(3)})).get_trace()
    assert tr.nodes["z"]["scale"] == 2.0
    assert [f.name for f in tr.nodes["z"]["cond_indep_stack"]] == ["data"]
    assert tr.nodes["z"]["value"].shape == (3,)


def test_do_none_value_leaves_site_alone():
    tr = poutine.trace(poutine.do(chain, data={"z": None})).get_trace()
    assert list(tr.nodes) == ["_INPUT", "z", "x", "_RETURN"]
    assert tr.nodes["x"]["fn"].loc == tr.nodes["z"]["value"]


# -- uncondition -----------------------------------------------------------------------------


def test_uncondition_observed_site_becomes_latent_and_keeps_obs():
    tr = poutine.trace(poutine.uncondition(observed_chain)).get_trace()
    x = tr.nodes["x"]
    assert not x["is_observed"] and tr.stochastic_nodes == ["z", "x"]
    assert x["infer"]["obs"] == 0.5 and x["infer"]["was_observed"]
    assert x["value"] != 0.5


def test_uncondition_leaves_deterministic_sites_alone():
    def model():
        z = tracegraph.sample("z", dist.Normal(0.0, 1.0))
        tracegraph.deterministic("twice", 2 * z)

    tr = poutine.trace(poutine.uncondition(model)).get_trace()
    assert torch.equal(tr.nodes["twice"]["value"], 2 * tr.nodes["z"]["value"])
    assert tr.nodes["twice"]["is_observed"]


def test_uncondition_undoes_condition():
    conditioned = poutine.condition(chain, data={"x": torch.tensor(3.0)})
    tr = poutine.trace(poutine.uncondition(conditioned)).get_trace()
    assert tr.stochastic_nodes == ["z", "x"] and tr.nodes["x"]["infer"]["obs"] == 3.0


# -- infer_config ----------------------------------------------------------------------------


def test_infer_config_merges_into_sample_and_param_sites():
    def model():
        tracegraph.param("p", torch.tensor(1.0))
        tracegraph.sample("z", dist.Bernoulli(0.5), infer={"keep": 1, "over": 0})

    cfg = poutine.infer_config(model, config_fn=lambda msg: {"over": msg["name"]})
    tr = poutine.trace(cfg).get_trace()
    assert tr.nodes["z"]["infer"] == {"keep": 1, "over": "z"}
    assert tr.nodes["p"]["infer"] == {"over": "p"}


def test_infer_config_non_dict_result_raises_naming_site():
    with pytest.raises(SiteError, match="'z'"):
        poutine.infer_config(chain, config_fn=lambda msg: None)()  # type: ignore[arg-type, return-value]


def test_infer_config_non_callable_config_raises():
    with pytest.raises(HandlerError, match="callable"):
        poutine.infer_config(chain, config_fn={"enumerate": "parallel"})  # type: ignore[call-overload]


# -- substitute ---------------------------------------------------------------------------------


def test_substitute_fixes_params_and_leaves_sample_sites_as_pyro():
    def model():
        s = tracegraph.param("s", torch.tensor(1.0))
        z = tracegraph.sample("z", dist.Normal(0.0, s))
        tracegraph.sample("x", dist.Normal(z, 1.0), obs=torch.tensor(0.0))

    data = {"s": torch.tensor(2.0)}
    tr = poutine.trace(poutine.substitute(model, data=data)).get_trace()
    assert tr.nodes["s"]["value"] == 2.0 and tr.nodes["z"]["fn"].scale == 2.0
    assert tr.nodes["x"]["value"] == 0.0
    assert "s" not in tracegraph.get_param_store()


def test_substitute_warns_about_names_no_param_site_had():
    def model():
        tracegraph.param("s", torch.tensor(1.0))
        return tracegraph.sample("z", dist.Normal(0.0, 1.0))

    data = {"s": torch.tensor(2.0), "z": torch.tensor(0.7)}
    with pytest.warns(UserWarning, match=r"substitute: data names \['z'\] matched no param"):
        z = poutine.substitute(model, data=data)()
    assert z != 0.7


def test_substitute_fn_keyword_refused_as_pyro():
    # Pyro 1.9.2's substitute takes data only: an unknown keyword is a TypeError.
    with pytest.raises(TypeError):
        poutine.substitute(chain_with_param, substitute_fn=lambda msg: None)


def chain_with_param():
    w = tracegraph.param("w", torch.tensor(0.0))
    return tracegraph.sample("z", dist.Normal(w, 1.0))


def test_substitute_without_data_raises_type_error():
    with pytest.raises(TypeError, match="substitute needs data="):
        poutine.substitute(chain)


# -- escape ------------------------------------------------------------------------------------


def test_escape_raises_nonlocal_exit_with_site():
    def model():
        chain()
        raise AssertionError("not reached")

    with poutine.trace() as tm:
        with pytest.raises(poutine.NonlocalExit) as info:
            poutine.escape(model, escape_fn=lambda msg: msg["name"] == "x")()
    assert info.value.site["name"] == "x" and info.value.site["value"] is None
    # Outer handlers never see the escaped site.
    assert list(tm.trace.nodes) == ["z"]


def test_escape_inner_trace_records_escaped_site():
    with poutine.escape(escape_fn=lambda msg: msg["name"] == "x"):
        with pytest.raises(poutine.NonlocalExit):
            with poutine.trace() as tm:
                chain()
    assert list(tm.trace.nodes) == ["z", "x"] and tm.trace.nodes["x"]["value"] is None


def test_trace_handler_keeps_partial_trace_after_escape():
    traced = poutine.trace(poutine.escape(chain, escape_fn=lambda msg: msg["name"] == "x"))
    with pytest.raises(poutine.NonlocalExit):
        traced()
    assert list(traced.trace.nodes) == ["_INPUT", "z"]


def test_escape_all_escape_util_stops_at_first_new_site():
    prefix = poutine.trace(poutine.block(chain, expose=["z"])).get_trace()
    replayed = poutine.replay(chain, trace=prefix)
    escaping = poutine.escape(replayed, escape_fn=lambda m: poutine.util.all_escape(prefix, m))
    with pytest.raises(poutine.NonlocalExit) as info:
        escaping()
    assert info.value.site["name"] == "x"


# -- lift ------------------------------------------------------------------------------------------


def test_lift_distribution_prior_turns_params_into_samples():
    tr = poutine.trace(poutine.lift(with_param, prior=dist.Gamma(2.0, 2.0))).get_trace()
    assert tr.param_nodes == [] and tr.stochastic_nodes == ["s", "z"]
    assert isinstance(tr.nodes["s"]["fn"], torch.distributions.Gamma)
    assert tr.nodes["s"]["value"] > 0 and "s" not in tracegraph.get_param_store()


def test_lift_dict_prior_lifts_only_named_params():
    def model():
        tracegraph.param("a", torch.tensor(1.0))
        tracegraph.param("b", torch.tensor(1.0))

    tr = poutine.trace(poutine.lift(model, prior={"a": dist.Normal(0.0, 1.0)})).get_trace()
    assert tr.stochastic_nodes == ["a"] and tr.param_nodes == ["b"]


def test_lift_plain_torch_distribution_prior():
    prior = torch.distributions.Normal(5.0, 0.01)
    tr = poutine.trace(poutine.lift(with_param, prior={"s": prior})).get_trace()
    assert abs(tr.nodes["s"]["value"].item() - 5.0) < 0.1
    assert tr.nodes["z"]["fn"].scale == tr.nodes["s"]["value"]


def test_lift_module_params_matched_by_local_name():
    def model():
        tracegraph.module("net", torch.nn.Linear(2, 1))

    tr = poutine.trace(
        poutine.lift(model, prior={"weight": dist.Normal(0.0, 1.0).expand([1, 2]).to_event(2)})
    ).get_trace()
    assert tr.stochastic_nodes == ["net$$$weight"] and tr.param_nodes == ["net$$$bias"]


def test_lift_repeated_param_drawn_once():
    def model():
        a = tracegraph.param("s", torch.tensor(1.0))
        b = tracegraph.param("s", torch.tensor(1.0))
        return a, b

    traced = poutine.trace(poutine.lift(model, prior=dist.Normal(0.0, 1.0)))
    a, b = traced()
    assert torch.equal(a, b) and traced.trace.stochastic_nodes == ["s"]


def test_lift_callable_prior_value_used_and_site_hidden():
    def prior(init, *args, **kwargs):
        return tracegraph.sample("s_raw", dist.Normal(init, 0.001)).exp()

    tr = poutine.trace(poutine.lift(with_param, prior=prior)).get_trace()
    assert "s" not in tr.nodes and tr.stochastic_nodes == ["s_raw", "z"]
    assert tr.nodes["z"]["fn"].scale == tr.nodes["s_raw"]["value"].exp()


def test_lift_unused_prior_name_warns():
    with pytest.warns(TracegraphWarning, match="matched no param"):
        poutine.lift(with_param, prior={"typo": dist.Normal(0.0, 1.0)})()


def test_lift_bad_prior_raises():
    with pytest.raises(HandlerError, match="prior"):
        poutine.lift(with_param, prior={"s": 3.0})  # type: ignore[dict-item]
