"""Programs after the examples in the docstrings of Pyro 1.9.2's in-scope modules.

Each program does what one documented example shows (the docstring it follows is
named in its first comment), rewritten here with its own models and numbers; it
returns what the example looks at.  ``test_documented_examples.py`` runs every
program (and the realistic programs of ``zoo_held_out.py``) through both
libraries and compares the outcomes (see ``differential.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from differential import Lib, traced

#: name -> program, in definition order.
EXAMPLES: dict[str, Callable[[Lib], Any]] = {}


def example(fn: Callable[[Lib], Any]) -> Callable[[Lib], Any]:
    """Register ``fn`` in :data:`EXAMPLES` under its own name."""
    if fn.__name__ in EXAMPLES:
        raise ValueError(f"two documented examples named {fn.__name__}")
    EXAMPLES[fn.__name__] = fn
    return fn


def _scaled_model(lib: Lib) -> Callable[[float], Any]:
    pyro, dist = lib.pyro, lib.dist

    def model(x: float) -> Any:
        width = pyro.param("width", torch.tensor(0.8), constraint=dist.constraints.positive)
        z = pyro.sample("z", dist.Normal(x, width))
        return z.exp()

    return model


# -- pyro.poutine: handlers ----------------------------------------------------------


@example
def doc_trace_log_joint_and_params(lib: Lib) -> Any:
    # poutine.trace / poutine.Trace: record a run, sum its log-joint, list its params.
    tr = traced(lib, _scaled_model(lib), 1.5)
    unconstrained = [tr.nodes[n]["value"].unconstrained() for n in tr.param_nodes]
    return tr, tr.log_prob_sum(), unconstrained, list(tr.nodes)


@example
def doc_replay_reuses_recorded_values(lib: Lib) -> Any:
    # poutine.replay: sample sites take the values of an earlier trace.
    model = _scaled_model(lib)
    old = traced(lib, model, -1.0)
    replayed = lib.poutine.replay(model, trace=old)
    return bool(replayed(3.0) == old.nodes["_RETURN"]["value"]), traced(lib, replayed, 3.0)


@example
def doc_block_hides_a_site_from_outer_handlers(lib: Lib) -> Any:
    # poutine.block: an outer trace does not see a hidden site; an inner one does.
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine

    def fn() -> Any:
        first = pyro.sample("first", dist.Normal(1.0, 2.0))
        return pyro.sample("second", dist.Normal(first, 0.5))

    inner = poutine.trace(fn)
    outer = poutine.trace(poutine.block(inner, hide=["first"]))
    inner_tr, outer_tr = inner.get_trace(), outer.get_trace()
    return [(n in inner_tr, n in outer_tr) for n in ("first", "second")]


@example
def doc_lift_turns_params_into_samples(lib: Lib) -> Any:
    # poutine.lift: a param site becomes a sample site from the given prior.
    lifted = lib.poutine.lift(_scaled_model(lib), prior={"width": lib.dist.Gamma(2.0, 3.0)})
    first, second = traced(lib, lifted, 0.0), traced(lib, lifted, 0.0)
    same = bool((first.nodes["width"]["value"] == second.nodes["width"]["value"]).all())
    return first.nodes["width"]["type"], same, first


@example
def doc_equalize_shares_values_across_categories(lib: Lib) -> Any:
    # poutine.equalize: sites matching a pattern take the first match's value
    # (sample sites by default, params with type="param").
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine

    def group(name: str) -> Any:
        offset = pyro.param(f"{name}_offset", torch.tensor([float(len(name))]))
        centre = pyro.sample(f"{name}_centre", dist.Normal(0.0, 2.0))
        spread = pyro.sample(f"{name}_spread", dist.LogNormal(0.0, 0.5))
        return pyro.sample(f"{name}_obs", dist.Normal(centre + offset, spread))

    def model(names: list[str]) -> Any:
        return {name: group(name) for name in names}

    shared = poutine.equalize(poutine.equalize(model, ".+_spread"), ".+_offset", "param")
    return traced(lib, shared, ["cats", "dogs", "birds"])


@example
def doc_equalize_keep_dist_conditions_on_equality(lib: Lib) -> Any:
    # poutine.equalize(keep_dist=True): later sites keep their distribution and
    # score the shared value.
    pyro, dist = lib.pyro, lib.dist

    def model() -> Any:
        u = pyro.sample("u", dist.Normal(-1.0, 1.0))
        v = pyro.sample("v", dist.Normal(2.0, 0.5))
        return u, v

    tr = traced(lib, lib.poutine.equalize(model, ["u", "v"], keep_dist=True))
    return tr, tr.nodes["v"]["is_observed"]


@example
def doc_condition_observes_a_latent(lib: Lib) -> Any:
    # pyro.condition: a latent site becomes observed at the given value.
    pyro, dist = lib.pyro, lib.dist

    def model() -> Any:
        rate = pyro.sample("rate", dist.Gamma(2.0, 1.0))
        return pyro.sample("count", dist.Poisson(rate))

    conditioned = pyro.condition(model, data={"count": torch.tensor(4.0)})
    return traced(lib, conditioned)


@example
def doc_do_intervenes_without_scoring(lib: Lib) -> Any:
    # pyro.do: the intervened value is used downstream; the site is renamed and
    # a fresh sample is recorded under the original name.
    pyro, dist = lib.pyro, lib.dist

    def model() -> Any:
        cause = pyro.sample("cause", dist.Normal(0.0, 1.0))
        return pyro.sample("effect", dist.Normal(3.0 * cause, 0.1))

    return traced(lib, pyro.do(model, data={"cause": torch.tensor(2.0)}))


@example
def doc_scale_multiplies_log_densities(lib: Lib) -> Any:
    # poutine.scale: every log-density inside is multiplied by the factor.
    pyro, dist = lib.pyro, lib.dist

    def model() -> None:
        pyro.sample("a", dist.Normal(0.0, 1.0), obs=torch.tensor(0.3))
        pyro.sample("b", dist.Exponential(2.0), obs=torch.tensor(1.2))

    plain, scaled = traced(lib, model), traced(lib, lib.poutine.scale(model, scale=0.25))
    return plain.log_prob_sum(), scaled.log_prob_sum(), scaled


@example
def doc_substitute_fixes_param_values(lib: Lib) -> Any:
    # poutine.substitute: param sites take the given values; the store is untouched.
    substituted = lib.poutine.substitute(_scaled_model(lib), data={"width": torch.tensor(0.1)})
    tr = traced(lib, substituted, 0.0)
    return tr.nodes["width"]["value"], "width" in lib.pyro.get_param_store()


@example
def doc_broadcast_expands_to_the_plates(lib: Lib) -> Any:
    # poutine.broadcast: a scalar distribution inside plates is expanded to them.
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine

    @poutine.broadcast
    def model() -> Any:
        with pyro.plate("rows", 3, dim=-2), pyro.plate("cols", 4, dim=-1):
            return pyro.sample("cell", dist.Bernoulli(0.25))

    return traced(lib, model)


# -- pyro: plates, markov, primitives -------------------------------------------------


@example
def doc_plate_minibatch_scales_the_likelihood(lib: Lib) -> Any:
    # pyro.plate(subsample_size=...): a random minibatch, log-densities scaled by
    # size / subsample_size.
    pyro, dist = lib.pyro, lib.dist
    data = torch.linspace(-2.0, 2.0, 50)

    def model() -> Any:
        mean = pyro.sample("mean", dist.Normal(0.0, 10.0))
        with pyro.plate("data", len(data), subsample_size=8) as idx:
            pyro.sample("obs", dist.Normal(mean, 1.0), obs=data[idx])
        return idx

    tr = traced(lib, model)
    return tr, tr.nodes["obs"]["scale"]


@example
def doc_plate_sequential_and_nested(lib: Lib) -> Any:
    # pyro.plate as an iterator (sequential) and as nested contexts (vectorized,
    # each taking the next dim to the left).
    pyro, dist = lib.pyro, lib.dist

    def model() -> Any:
        draws = []
        for i in pyro.plate("groups", 2):
            with pyro.plate(f"members_{i}", 3):
                draws.append(pyro.sample(f"w_{i}", dist.Normal(float(i), 1.0)))
        with pyro.plate("x_axis", 5), pyro.plate("y_axis", 2, dim=-2):
            grid = pyro.sample("grid", dist.Normal(0.0, 1.0))
        return [d.shape for d in draws], grid.shape

    return traced(lib, model)


@example
def doc_markov_chain_with_history(lib: Lib) -> Any:
    # pyro.markov: as an iterator over time steps, and as a context manager.
    pyro, dist = lib.pyro, lib.dist

    def model(steps: int) -> Any:
        level = torch.tensor(0.0)
        for t in pyro.markov(range(steps), history=2):
            level = pyro.sample(f"level_{t}", dist.Normal(0.9 * level, 1.0))
            pyro.sample(f"reading_{t}", dist.Normal(level, 0.3), obs=torch.tensor(0.1 * t))
        with pyro.markov():
            pyro.sample("final", dist.Normal(level, 1.0))
        return level

    return traced(lib, model, 4)


@example
def doc_block_plate_samples_a_global(lib: Lib) -> Any:
    # plate_messenger.block_plate: a site inside a plate drawn once, as if outside it.
    pyro, dist = lib.pyro, lib.dist
    block_plate = lib.mod(".poutine.plate_messenger").block_plate

    def model(data: torch.Tensor) -> Any:
        centre = pyro.sample("centre", dist.Normal(0.0, 1.0))
        with pyro.plate("items", len(data)):
            with block_plate("items"):
                spread = pyro.sample("spread", dist.LogNormal(0.0, 1.0))
            pyro.sample("obs", dist.Normal(centre, spread), obs=data)
        return spread.shape

    return traced(lib, model, torch.tensor([0.2, -0.4, 1.1]))


@example
def doc_factor_deterministic_subsample_module(lib: Lib) -> Any:
    # pyro.factor, pyro.deterministic, pyro.subsample and pyro.module in one model.
    pyro = lib.pyro
    torch.manual_seed(3)
    net = torch.nn.Linear(2, 1)
    inputs = torch.arange(12.0).reshape(6, 2)

    def model() -> Any:
        pyro.module("regressor", net)
        with pyro.plate("rows", 6, subsample_size=3):
            batch = pyro.subsample(inputs, event_dim=1)
            mean = pyro.deterministic("mean", net(batch).squeeze(-1))
            pyro.factor("penalty", -0.01 * mean**2)
        return batch

    tr = traced(lib, model)
    return tr, sorted(lib.pyro.get_param_store().keys())


# -- pyro.infer -------------------------------------------------------------------


@example
def doc_get_model_relations(lib: Lib) -> Any:
    # infer.inspect.get_model_relations: sample->sample edges, distributions,
    # plates, observed sites.
    pyro, dist = lib.pyro, lib.dist

    def model(data: torch.Tensor) -> None:
        loc = pyro.sample("loc", dist.Normal(0.0, 1.0))
        scale = pyro.sample("scale", dist.LogNormal(loc, 0.5))
        with pyro.plate("points", len(data)):
            pyro.sample("y", dist.Normal(loc, scale), obs=data)

    inspect = lib.mod(".infer.inspect")
    return inspect.get_model_relations(model, model_args=(torch.tensor([0.5, 1.5]),))


@example
def doc_get_dependencies_moralization(lib: Lib) -> Any:
    # infer.inspect.get_dependencies: two independent causes of one collider
    # become dependent in the posterior.
    pyro, dist = lib.pyro, lib.dist

    def model() -> None:
        left = pyro.sample("left", dist.Normal(0.0, 1.0))
        right = pyro.sample("right", dist.LogNormal(0.0, 1.0))
        middle = pyro.sample("middle", dist.Normal(left, right))
        pyro.sample("seen", dist.Normal(middle, 1.0), obs=torch.tensor(0.5))

    return lib.mod(".infer.inspect").get_dependencies(model)


@example
def doc_track_nonreparam_provenance(lib: Lib) -> Any:
    # infer.tracegraph_elbo.TrackNonReparam: log-probs carry the
    # non-reparameterized sites they depend on.
    pyro, dist = lib.pyro, lib.dist
    get_provenance = lib.mod(".ops.provenance").get_provenance
    track = lib.mod(".infer.tracegraph_elbo").TrackNonReparam

    def model() -> None:
        first = pyro.sample("first", dist.Categorical(torch.tensor([0.6, 0.4])))
        table = torch.tensor([[0.2, 0.8], [0.7, 0.3]])
        second = pyro.sample("second", dist.Categorical(table[first]))
        pyro.sample("last", dist.Categorical(table[second]), obs=torch.tensor(1))

    with track():
        tr = traced(lib, model)
    tr.compute_log_prob()
    return {n: sorted(get_provenance(tr.nodes[n]["log_prob"])) for n in ("first", "second", "last")}


@example
def doc_importance_and_empirical_marginal(lib: Lib) -> Any:
    # infer.Importance + EmpiricalMarginal: a weighted posterior from the prior.
    pyro, dist = lib.pyro, lib.dist

    def model() -> None:
        p = pyro.sample("p", dist.Beta(2.0, 2.0))
        pyro.sample("heads", dist.Binomial(10, p), obs=torch.tensor(7.0))

    posterior = pyro.infer.Importance(model, num_samples=200).run()
    marginal = pyro.infer.EmpiricalMarginal(posterior, sites="p")
    return marginal.mean, marginal.variance, posterior.get_ESS()


@example
def doc_vectorized_importance_weights(lib: Lib) -> Any:
    # infer.importance.vectorized_importance_weights: one batched run of model
    # and guide gives log-weights for every particle.
    pyro, dist = lib.pyro, lib.dist

    def model() -> None:
        z = pyro.sample("z", dist.Normal(0.0, 1.0))
        pyro.sample("x", dist.Normal(z, 0.5), obs=torch.tensor(0.8))

    def guide() -> None:
        pyro.sample("z", dist.Normal(0.5, 0.6))

    importance = lib.mod(".infer.importance")
    log_w, model_tr, guide_tr = importance.vectorized_importance_weights(
        model, guide, num_samples=16, max_plate_nesting=0
    )
    return log_w, model_tr.nodes["z"]["value"].shape


@example
def doc_predictive_from_posterior_samples(lib: Lib) -> Any:
    # infer.Predictive: the model run at given posterior samples returns the
    # sites not given.
    pyro, dist = lib.pyro, lib.dist

    def model(x: torch.Tensor) -> None:
        slope = pyro.sample("slope", dist.Normal(0.0, 1.0))
        with pyro.plate("x", len(x)):
            pyro.sample("y", dist.Normal(slope * x, 0.1))

    samples = {"slope": torch.tensor([0.5, 1.0, 2.0])}
    predictive = pyro.infer.Predictive(model, posterior_samples=samples)
    return predictive(torch.tensor([1.0, 2.0]))


# -- pyro.ops.provenance, pyro.distributions ----------------------------------------------


@example
def doc_provenance_tensor_union_and_detach(lib: Lib) -> Any:
    # ops.provenance.ProvenanceTensor: provenance of a result is the union of its
    # inputs'; detach_provenance drops it.
    prov = lib.mod(".ops.provenance")
    u = prov.ProvenanceTensor(torch.ones(2), frozenset({"u"}))
    w = prov.ProvenanceTensor(torch.full((2,), 3.0), frozenset({"w"}))
    plain = torch.arange(2.0)
    return (
        sorted(prov.get_provenance(u * w - plain)),
        sorted(prov.get_provenance(u + prov.detach_provenance(w) + plain)),
    )


@example
def doc_empirical_shapes_and_sampling(lib: Lib) -> Any:
    # distributions.Empirical: batch and event shapes, draws and their scores.
    dist = lib.dist
    torch.manual_seed(1)
    empirical = dist.Empirical(torch.randn(3, 5, 4), torch.zeros(3, 5))
    one = empirical.sample()
    many = empirical.sample((7,))
    return empirical.batch_shape, empirical.event_shape, one.shape, many.shape, (
        empirical.log_prob(one).shape
    )


@example
def doc_independent_reinterprets_batch_dims(lib: Lib) -> Any:
    # distributions.Independent / .to_event: batch dims become event dims.
    dist = lib.dist
    base = dist.Normal(torch.zeros(4, 3), torch.ones(4, 3))
    joined = dist.Independent(base, 1)
    value = torch.full((4, 3), 0.5)
    return base.batch_shape, joined.batch_shape, joined.event_shape, joined.log_prob(value)


@example
def doc_mixture_same_family(lib: Lib) -> Any:
    # distributions.MixtureSameFamily: a Gaussian mixture from a categorical over
    # a batch of components.
    dist = lib.dist
    weights = dist.Categorical(torch.tensor([0.2, 0.5, 0.3]))
    components = dist.Normal(torch.tensor([-2.0, 0.0, 3.0]), torch.tensor([0.5, 1.0, 0.7]))
    mixture = dist.MixtureSameFamily(weights, components)
    points = torch.tensor([-2.0, 0.1, 2.9])
    return mixture.log_prob(points), mixture.mean, mixture.sample((5,))


@example
def doc_masked_mixture_switches_components(lib: Lib) -> Any:
    # distributions.MaskedMixture: a mask picks the component per batch element.
    pyro, dist = lib.pyro, lib.dist
    data = torch.tensor([0.1, -0.2, 4.8, 5.3])

    def model() -> Any:
        switch = torch.arange(len(data)) >= 2
        with pyro.plate("data", len(data)):
            mix = dist.MaskedMixture(switch, dist.Normal(0.0, 1.0), dist.Normal(5.0, 1.0))
            pyro.sample("obs", mix, obs=data)

    return traced(lib, model)
