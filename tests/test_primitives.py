import pickle

import pytest
import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph import poutine
from tracegraph.errors import ShapeError, SiteError, SiteTypeError


def test_sample_plain_torch_distribution_works_and_is_traced():
    def model():
        return tracegraph.sample("x", torch.distributions.Normal(0.0, 1.0))

    tr = poutine.trace(model).get_trace()
    assert tr.nodes["x"]["value"].shape == ()
    expected = torch.distributions.Normal(0.0, 1.0).log_prob(tr.nodes["x"]["value"])
    assert torch.allclose(tr.log_prob_sum(), expected)
    # Without a handler it just draws.
    assert model().shape == ()


def test_sample_name_none_raises_assertion_compatible_error():
    # Pyro asserts that a site has a name; any other hashable name is accepted.
    with pytest.raises(AssertionError, match="needs a name") as info:
        tracegraph.poutine.trace(lambda: tracegraph.sample(None, dist.Normal(0.0, 1.0)))()
    assert isinstance(info.value, SiteError)


def test_sample_accepts_non_str_names_as_pyro():
    def model():
        tracegraph.sample(("z", 1), dist.Normal(0.0, 1.0))
        return tracegraph.sample(3, dist.Normal(0.0, 1.0))

    tr = tracegraph.poutine.trace(model).get_trace()
    assert list(tr.nodes) == ["_INPUT", ("z", 1), 3, "_RETURN"]


def _log_prob_error(model):
    # As Pyro: the site is recorded; the mismatch surfaces with its log-density.
    tr = poutine.trace(model).get_trace()
    with pytest.raises(ValueError) as info:
        tr.log_prob_sum()
    return str(info.value) + "\n" + "\n".join(getattr(info.value, "__notes__", []))


def test_sample_observed_wrong_shape_fails_at_log_prob_naming_site():
    def model():
        tracegraph.sample("x", dist.Normal(torch.zeros(3), 1.0), obs=torch.zeros(4))

    message = _log_prob_error(model)
    assert "site 'x'" in message and "[4]" in message and "[3]" in message


def test_sample_observed_wrong_event_shape_fails_at_log_prob_naming_site():
    def model():
        d = dist.MultivariateNormal(torch.zeros(3), torch.eye(3))
        tracegraph.sample("y", d, obs=torch.zeros(2))

    assert "site 'y'" in _log_prob_error(model)


def test_sample_observed_without_handler_warns_as_pyro():
    with pytest.warns(RuntimeWarning, match="outside of inference at x"):
        value = tracegraph.sample("x", dist.Normal(0.0, 1.0), obs=torch.tensor(2.0))
    assert value == 2.0


def test_sample_fn_not_callable_raises_type_error():
    def model():
        tracegraph.sample("x", torch.tensor(1.0))

    with pytest.raises(TypeError, match="site 'x'.*not callable"):
        poutine.trace(model).get_trace()


def _notes(exc: BaseException) -> str:
    return str(exc) + "\n" + "\n".join(getattr(exc, "__notes__", []))


def test_sample_fn_class_raises_type_error_naming_site():
    # Pyro calls the class and fails with torch's TypeError; ours subclasses it.
    with pytest.raises(SiteTypeError, match="site 'x': fn is the class Normal, not a distribution"):
        poutine.trace(lambda: tracegraph.sample("x", dist.Normal)).get_trace()
    with pytest.raises(TypeError, match="site 'x'.*missing 2 required positional"):
        tracegraph.sample("x", dist.Normal)  # no handler: the same error


def test_sample_fn_class_observed_is_recorded_then_log_prob_names_site():
    # As Pyro, the observed site is recorded; scoring it fails.
    tr = poutine.trace(lambda: tracegraph.sample("x", dist.Normal, obs=torch.zeros(()))).get_trace()
    assert tr.nodes["x"]["fn"] is dist.Normal
    with pytest.raises(SiteTypeError, match="site 'x': fn is the class Normal") as info:
        tr.log_prob_sum()
    assert "ProvenanceFastPath" not in _notes(info.value)


def test_sample_fn_class_called_with_args_as_pyro():
    # Pyro calls the class with the site's args: the value is a distribution.
    tr = poutine.trace(lambda: tracegraph.sample("x", dist.Normal, 0.0, 1.0)).get_trace()
    assert isinstance(tr.nodes["x"]["value"], dist.Normal)


def test_sample_accepts_non_torch_distribution_callables():
    class Constant(dist.Distribution):
        def sample(self, *args, **kwargs):
            return torch.tensor(1.0)

        def log_prob(self, x):
            return torch.tensor(-0.5)

    tr = poutine.trace(lambda: tracegraph.sample("c", Constant())).get_trace()
    assert tr.nodes["c"]["value"] == 1.0 and tr.log_prob_sum() == -0.5


def test_obs_mask_splits_observed_and_latent_parts():
    data = torch.tensor([1.0, 2.0, 3.0])
    mask = torch.tensor([True, False, True])

    def model():
        with tracegraph.plate("data", 3):
            return tracegraph.sample("x", dist.Normal(0.0, 1.0), obs=data, obs_mask=mask)

    tr = poutine.trace(model).get_trace()
    value = tr.nodes["_RETURN"]["value"]
    assert torch.equal(value[mask], data[mask])
    assert torch.equal(value[~mask], tr.nodes["x_unobserved"]["value"][~mask])
    assert tr.nodes["x_observed"]["is_observed"]
    assert not tr.nodes["x_unobserved"]["is_observed"]
    lp = dist.Normal(0.0, 1.0).log_prob
    expected = lp(data)[mask].sum() + lp(tr.nodes["x_unobserved"]["value"])[~mask].sum()
    total = tr.log_prob_sum(lambda name, site: name in ("x_observed", "x_unobserved"))
    assert torch.allclose(total, expected)


def test_obs_mask_not_bool_raises():
    with pytest.raises(SiteError, match="obs_mask must be a bool tensor"):
        tracegraph.sample("x", dist.Normal(0.0, 1.0), obs=torch.zeros(2), obs_mask=torch.ones(2))


def _masked_model(obs: torch.Tensor, mask: torch.Tensor):
    def model():
        with tracegraph.plate("p", 3):
            return tracegraph.sample("x", dist.Normal(0.0, 1.0), obs=obs, obs_mask=mask)

    return model


def test_obs_mask_wrong_shape_raises_value_error_naming_site_and_shapes():
    model = _masked_model(torch.zeros(3), torch.ones(2, dtype=torch.bool))
    with pytest.raises(ShapeError) as info:
        poutine.trace(model).get_trace()
    message = str(info.value)
    assert isinstance(info.value, ValueError)  # Pyro: ValueError("Invalid obs_mask shape ...")
    assert "site 'x': obs_mask has shape (2,)" in message
    assert "batch shape (3,)" in message and "'p' (dim -1, size 3)" in message


def test_obs_mask_and_obs_not_broadcasting_keep_runtime_error_with_note():
    # Pyro raises torch's RuntimeError when the two values do not broadcast.
    model = _masked_model(torch.zeros(2), torch.ones(2, dtype=torch.bool))
    with pytest.raises(RuntimeError) as info:
        poutine.trace(model).get_trace()
    text = _notes(info.value)
    assert "observed and the latent values of site 'x'" in text
    assert "obs has shape (2,) and the latent value (3,)" in text
    assert "raised by the program after" not in text  # the site is named already


def test_obs_mask_broadcasting_to_a_larger_shape_runs_as_pyro():
    model = _masked_model(torch.zeros(3), torch.ones(3, 1, dtype=torch.bool))
    assert poutine.trace(model).get_trace().nodes["x"]["value"].shape == (3, 3)


def test_factor_adds_log_factor_to_log_prob_sum():
    def model():
        tracegraph.factor("f", torch.tensor(-2.5))

    tr = poutine.trace(model).get_trace()
    assert torch.allclose(tr.log_prob_sum(), torch.tensor(-2.5))
    assert tr.nodes["f"]["is_observed"]


def test_deterministic_records_value_without_log_prob():
    def model():
        z = tracegraph.sample("z", dist.Normal(0.0, 1.0))
        return tracegraph.deterministic("w", 2 * z)

    tr = poutine.trace(model).get_trace()
    assert torch.equal(tr.nodes["w"]["value"], 2 * tr.nodes["z"]["value"])
    lp_z = dist.Normal(0.0, 1.0).log_prob(tr.nodes["z"]["value"])
    assert torch.allclose(tr.log_prob_sum(), lp_z)


def test_factor_nan_keeps_value_error_and_notes_site_and_shape():
    with pytest.raises(ValueError, match="log_factor") as info:
        poutine.trace(lambda: tracegraph.factor("f", torch.tensor([0.0, float("nan")])))()
    text = _notes(info.value)
    assert "factor site 'f' from a log_factor of shape (2,)" in text
    assert "before its first site" not in text


def test_factor_nan_without_validation_runs_as_pyro():
    with tracegraph.validation_enabled(False):
        tr = poutine.trace(lambda: tracegraph.factor("f", torch.tensor(float("nan")))).get_trace()
        assert tr.log_prob_sum().isnan()


def test_deterministic_event_dim_above_rank_names_site():
    with pytest.raises(ShapeError, match="deterministic site 'd': event_dim=2 .* shape \\(\\)"):
        poutine.trace(lambda: tracegraph.deterministic("d", torch.tensor(3.0), event_dim=2))()


def test_deterministic_negative_event_dim_counts_as_zero_as_pyro():
    tr = poutine.trace(lambda: tracegraph.deterministic("d", torch.zeros(2), event_dim=-1))
    node = tr.get_trace().nodes["d"]
    assert node["fn"].batch_shape == (2,) and node["fn"].event_shape == ()


def test_param_lazy_init_called_once_and_constraint_kept():
    calls = []

    def init():
        calls.append(1)
        return torch.tensor(2.0)

    a = tracegraph.param("s", init, constraint=dist.constraints.positive)
    b = tracegraph.param("s", init, constraint=dist.constraints.positive)
    assert len(calls) == 1
    assert torch.equal(a, b)
    assert float(a.unconstrained().detach()) == pytest.approx(torch.tensor(2.0).log().item())


def test_module_registers_module_tensors_in_store():
    lin = torch.nn.Linear(3, 2)
    tracegraph.module("net", lin)
    store = tracegraph.get_param_store()
    assert store["net$$$weight"].unconstrained() is lin.weight


def test_module_update_module_params_loads_stored_values():
    lin = torch.nn.Linear(2, 1)
    tracegraph.module("net", lin)
    state = tracegraph.get_param_store().get_state()
    fresh = torch.nn.Linear(2, 1)
    tracegraph.get_param_store().set_state(state)
    tracegraph.module("net", fresh, update_module_params=True)
    assert torch.equal(fresh.weight.detach(), lin.weight.detach())
    assert tracegraph.get_param_store()["net$$$weight"].unconstrained() is fresh.weight


def test_module_non_module_raises():
    with pytest.raises(SiteError, match="torch.nn.Module"):
        tracegraph.module("net", object())


def test_set_rng_seed_reproduces_samples():
    tracegraph.set_rng_seed(3)
    a = tracegraph.sample("x", dist.Normal(torch.zeros(4), 1.0))
    tracegraph.set_rng_seed(3)
    b = tracegraph.sample("x", dist.Normal(torch.zeros(4), 1.0))
    assert torch.equal(a, b)


def _picklable_model():
    return tracegraph.sample("x", dist.Normal(0.0, 1.0))


def test_trace_handler_pickles():
    traced = pickle.loads(pickle.dumps(poutine.trace(_picklable_model)))
    assert traced.get_trace().stochastic_nodes == ["x"]


# -- Pyro's primitives module names ---------------------------------------------------


def test_barrier_is_an_effect_returning_its_data():
    seen = []

    class Spy(tracegraph.poutine.Messenger):
        def _pyro_barrier(self, msg):
            seen.append(msg["args"][0])

    data = torch.ones(2)
    with Spy():
        assert tracegraph.barrier(data) is data
    assert seen == [data] and tracegraph.barrier(data) is data


def test_param_message_args_and_kwargs_as_pyro():
    init = torch.tensor(1.0)

    def model():
        tracegraph.param("a", init)
        tracegraph.param("b", event_dim=0, init_tensor=torch.ones(1))

    tr = tracegraph.poutine.trace(model).get_trace()
    a = tr.nodes["a"]
    assert a["args"] == ("a", init) and set(a["kwargs"]) == {"constraint", "event_dim"}
    assert tr.nodes["b"]["kwargs"]["event_dim"] == 0


def test_obs_mask_masks_the_two_sites_as_pyro():
    def model():
        return tracegraph.sample(
            "x",
            dist.Normal(torch.zeros(3), 1.0),
            obs=torch.tensor([1.0, 2.0, 3.0]),
            obs_mask=torch.tensor([True, False, True]),
        )

    tr = tracegraph.poutine.trace(model).get_trace()
    assert tr.nodes["x_observed"]["mask"].tolist() == [True, False, True]
    assert tr.nodes["x_unobserved"]["mask"].tolist() == [False, True, False]
    assert type(tr.nodes["x_observed"]["fn"]).__name__ == "Normal"


def test_enable_validation_and_validation_enabled_switch_every_flag():
    from tracegraph.poutine import validation

    with tracegraph.validation_enabled(False):
        assert not tracegraph.is_validation_enabled() and not validation.is_validation_enabled()
    assert tracegraph.is_validation_enabled() and validation.is_validation_enabled()
    with pytest.raises(ValueError, match="expects a bool"):
        tracegraph.enable_validation("yes")


def test_primitives_reexport_pyros_runtime_names():
    from tracegraph import primitives
    from tracegraph.poutine import runtime

    assert primitives.effectful is runtime.effectful
    assert primitives.apply_stack is runtime.apply_stack
    assert primitives.clear_param_store is tracegraph.clear_param_store


def test_factor_outside_inference_warns_and_deterministic_does_not_as_pyro():
    with pytest.warns(RuntimeWarning, match="outside of inference at penalty"):
        tracegraph.factor("penalty", torch.tensor(-1.0))
    assert tracegraph.deterministic("d", torch.tensor(2.0)) == 2.0  # warnings are errors here


def test_factor_has_rsample_defaults_to_false_as_pyro():
    tr = poutine.trace(lambda: tracegraph.factor("f", torch.tensor(0.5))).get_trace()
    assert tr.nodes["f"]["fn"].has_rsample is False
    assert tr.nodes["f"]["infer"] == {"is_auxiliary": True}
