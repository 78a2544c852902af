"""The ELBO base class: model/guide checks under validation, particles, plate
nesting and the ``nn.Module`` view.
"""

from __future__ import annotations

import pytest
import torch
from enumeration import MIXED, guide_params

import tracegraph
import tracegraph.distributions as dist
from tracegraph.errors import PlateError, ShapeError
from tracegraph.infer import ELBO, JitTraceGraph_ELBO, Trace_ELBO, TraceGraph_ELBO

ESTIMATORS = [Trace_ELBO, TraceGraph_ELBO, JitTraceGraph_ELBO]


def _observe():
    tracegraph.sample("x", dist.Normal(0.0, 1.0), obs=torch.tensor(0.5))


# -- model/guide checks ---------------------------------------------------------------


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_elbo_latent_site_missing_from_guide_warns_and_runs(estimator):
    # As Pyro: the site is drawn from the model's prior, with a warning naming it.
    def model():
        tracegraph.sample("z", dist.Normal(0.0, 1.0))
        tracegraph.sample("forgotten", dist.Bernoulli(0.5))
        _observe()

    def guide():
        tracegraph.sample("z", dist.Normal(0.0, 1.0))

    with pytest.warns(UserWarning, match="not in the guide: \\['forgotten'\\]"):
        loss = estimator().differentiable_loss(model, guide)
    assert torch.isfinite(loss)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_elbo_guide_site_missing_from_model_warns_and_counts_it(estimator):
    def model():
        tracegraph.sample("z", dist.Normal(0.0, 1.0))

    def guide():
        tracegraph.sample("z", dist.Normal(0.0, 1.0))
        tracegraph.sample("typo_z", dist.Normal(0.0, 1.0))

    with pytest.warns(UserWarning, match="not latent in the model: \\['typo_z'\\]"):
        estimator().differentiable_loss(model, guide)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_elbo_auxiliary_guide_site_needs_no_model_site(estimator):
    def model():
        tracegraph.sample("z", dist.Normal(0.0, 1.0))

    def guide():
        u = tracegraph.sample("u", dist.Normal(0.0, 1.0), infer={"is_auxiliary": True})
        tracegraph.sample("z", dist.Normal(u, 1.0))

    assert torch.isfinite(estimator().differentiable_loss(model, guide))  # no warning


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_elbo_guide_samples_observed_site_warns(estimator):
    def model():
        tracegraph.sample("x", dist.Normal(0.0, 1.0), obs=torch.tensor(0.5))

    def guide():
        tracegraph.sample("x", dist.Normal(0.0, 1.0))

    with pytest.warns(UserWarning, match="not latent in the model: \\['x'\\]"):
        estimator().differentiable_loss(model, guide)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_elbo_event_dims_disagree_raises_with_both_shapes(estimator):
    def model():
        tracegraph.sample("loc", dist.Normal(torch.zeros(3), 1.0).to_event(1))

    def guide():
        tracegraph.sample("loc", dist.Normal(torch.zeros(3), 1.0))

    with pytest.raises(ShapeError, match="'loc'") as info:
        estimator().differentiable_loss(model, guide)
    message = str(info.value)
    assert "event_dim 1" in message and "event_dim 0" in message
    assert "(3,)" in message and "()" in message


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_elbo_plate_in_guide_only_warns_naming_plate(estimator):
    def model():
        with tracegraph.plate("data", 2):
            tracegraph.sample("z", dist.Normal(0.0, 1.0))

    def guide():
        with tracegraph.plate("data", 2):
            with tracegraph.plate("extra", 1, dim=-2):
                tracegraph.sample("z", dist.Normal(0.0, 1.0))

    with pytest.warns(UserWarning, match="plates in the guide but not in the model: \\['extra'\\]"):
        estimator().differentiable_loss(model, guide)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_elbo_model_plate_missing_in_guide_raises_shapes(estimator):
    def model():
        with tracegraph.plate("p", 3):
            tracegraph.sample("z", dist.Normal(0.0, 1.0))

    def guide():
        tracegraph.sample("z", dist.Normal(0.0, 1.0))

    with pytest.raises(ShapeError, match="'z'.*\\(3,\\).*\\(\\)"):
        estimator().differentiable_loss(model, guide)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_elbo_plate_deeper_than_max_plate_nesting_raises(estimator):
    def model():
        with tracegraph.plate("a", 2), tracegraph.plate("b", 3):
            tracegraph.sample("x", dist.Normal(0.0, 1.0), obs=torch.zeros(3, 2))

    with pytest.raises(PlateError, match="plate stack overflow at site 'x'.*at least 2"):
        estimator(max_plate_nesting=1).differentiable_loss(model, lambda: None)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_elbo_free_dim_between_plates_accepted(estimator):
    # A batch dim right of the site's plate that no plate owns: Pyro accepts it.
    def model():
        with tracegraph.plate("p", 2, dim=-2):
            tracegraph.sample("x", dist.Normal(torch.zeros(2, 5), 1.0), obs=torch.zeros(2, 5))

    assert torch.isfinite(estimator().differentiable_loss(model, lambda: None))


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_elbo_batch_dim_outside_site_plates_raises_with_shapes(estimator):
    # "x" is in plate "a" only, but its loc keeps plate "b"'s dim (a forgotten
    # sum): its log-prob has a batch dim no plate of "x" declares.  Pyro raises
    # "invalid log_prob shape, Expected [2], actual [3, 2]"; summing that dim
    # away silently (as an event dim) would change the model.
    def model(data):
        with tracegraph.plate("a", 2, dim=-1):
            with tracegraph.plate("b", 3, dim=-2):
                z = tracegraph.sample("z", dist.Bernoulli(0.3))
            tracegraph.sample("x", dist.Normal(z, 1.0), obs=data)

    def guide(data):
        with tracegraph.plate("a", 2, dim=-1):
            with tracegraph.plate("b", 3, dim=-2):
                tracegraph.sample("z", dist.Bernoulli(0.4))

    with pytest.raises(ShapeError, match="'x'") as info:
        estimator().differentiable_loss(model, guide, torch.zeros(2))
    assert info.match(r"\(3, 2\)|\[3, 2\]")


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_elbo_vectorized_particle_dim_moved_into_plate_dim_raises(estimator):
    # z.sum(-2) is right for one particle, but with batched particles (a plate
    # left of "a" and "b") it moves the particle dim into "b"'s dim, and x is
    # silently broadcast across particles (the ELBO and every baseline built on
    # other particles' costs are then wrong).  x is in plates "a" and the particle
    # plate only, so its size-4 dim -2 belongs to none of its plates.
    def model(data):
        with tracegraph.plate("a", 2, dim=-1):
            with tracegraph.plate("b", 2, dim=-2):
                z = tracegraph.sample("z", dist.Bernoulli(0.3))
            tracegraph.sample("x", dist.Normal(z.sum(-2), 1.0), obs=data)

    def guide(data):
        with tracegraph.plate("a", 2, dim=-1):
            with tracegraph.plate("b", 2, dim=-2):
                tracegraph.sample("z", dist.Bernoulli(0.4))

    elbo = estimator(num_particles=4, vectorize_particles=True)
    with pytest.raises(ShapeError, match="'x'"):
        elbo.differentiable_loss(model, guide, torch.zeros(2))


def test_elbo_checks_skipped_without_validation():
    def model():
        tracegraph.sample("z", dist.Normal(0.0, 1.0))

    def guide():
        tracegraph.sample("z", dist.Normal(0.0, 1.0))
        tracegraph.sample("unused", dist.Normal(0.0, 1.0))

    with tracegraph.validation_enabled(False):
        loss = Trace_ELBO().differentiable_loss(model, guide)
    assert torch.isfinite(loss)


# -- particles and plate nesting ------------------------------------------------------


def test_elbo_num_particles_must_be_positive_int():
    for bad in (0, -1, 2.0):
        with pytest.raises(ValueError, match="num_particles"):
            Trace_ELBO(num_particles=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("depth", [0, 1, 2])
def test_elbo_max_plate_nesting_guessed_from_one_run(estimator, depth):
    def program():
        with tracegraph.plate_stack("p", [2] * depth) if depth else _nothing():
            tracegraph.sample("z", dist.Normal(0.0, 1.0))

    elbo = estimator(num_particles=3, vectorize_particles=True)
    elbo.differentiable_loss(program, program)
    assert elbo.max_plate_nesting == depth


def test_elbo_max_plate_nesting_ignores_sequential_plates():
    def program():
        for i in tracegraph.plate("seq", 2):
            with tracegraph.plate(f"inner_{i}", 3):
                tracegraph.sample(f"z_{i}", dist.Normal(0.0, 1.0))

    elbo = Trace_ELBO(num_particles=2, vectorize_particles=True)
    elbo.differentiable_loss(program, program)
    assert elbo.max_plate_nesting == 1


def test_elbo_explicit_max_plate_nesting_is_kept():
    shapes = []

    def guide():
        with tracegraph.plate("data", 2):
            shapes.append(tracegraph.sample("z", dist.Normal(0.0, 1.0)).shape)

    def model():
        with tracegraph.plate("data", 2):
            tracegraph.sample("z", dist.Normal(0.0, 1.0))

    elbo = Trace_ELBO(num_particles=4, vectorize_particles=True, max_plate_nesting=3)
    elbo.differentiable_loss(model, guide)
    assert elbo.max_plate_nesting == 3
    # The particle dim is left of all max_plate_nesting dims.
    assert shapes == [torch.Size([4, 1, 1, 2])]


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_elbo_vectorized_particles_get_leading_dim(estimator):
    shapes: dict[str, torch.Size] = {}

    def guide(data):
        g = tracegraph.sample("g", dist.Bernoulli(0.5))
        with tracegraph.plate("data", len(data)):
            z = tracegraph.sample("z", dist.Normal(0.0, 1.0))
        shapes.update(g=g.shape, z=z.shape)

    def model(data):
        tracegraph.sample("g", dist.Bernoulli(0.5))
        with tracegraph.plate("data", len(data)):
            z = tracegraph.sample("z", dist.Normal(0.0, 1.0))
            tracegraph.sample("x", dist.Normal(z, 1.0), obs=data)
        shapes.update(model_z=z.shape)

    loss = estimator(num_particles=5, vectorize_particles=True).differentiable_loss(
        model, guide, torch.zeros(3)
    )
    assert loss.shape == torch.Size([])
    assert shapes == {"g": (5, 1), "z": (5, 3), "model_z": (5, 3)}


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_elbo_loop_particles_run_guide_once_each(estimator):
    runs = []

    def guide():
        runs.append(1)
        tracegraph.sample("z", dist.Bernoulli(0.5))

    def model():
        tracegraph.sample("z", dist.Bernoulli(0.5))

    estimator(num_particles=4).differentiable_loss(model, guide)
    # Jit's first run is tracked at once (nothing is cached yet).  Every estimator
    # tracks its first run completely; this structure has no plated score, so the
    # second falls back to less tracking, and Jit runs it again tracked once (its
    # table was made under complete tracking): one repeated run, once.
    assert len(runs) == (5 if estimator is JitTraceGraph_ELBO else 4)


# -- the nn.Module view and the abstract base ----------------------------------------


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_elbo_call_returns_module_whose_forward_is_differentiable_loss(estimator):
    elbo = estimator(num_particles=2)
    module = elbo(MIXED.model, MIXED.guide)
    assert isinstance(module, torch.nn.Module)
    module(*MIXED.args)  # creates the params; Jit learns the structure
    tracegraph.set_rng_seed(3)
    loss = module(*MIXED.args)
    tracegraph.set_rng_seed(3)
    expected = elbo.differentiable_loss(MIXED.model, MIXED.guide, *MIXED.args)
    assert torch.equal(loss.detach(), expected.detach())
    params = {id(p) for p in module.parameters()}
    assert params == {id(p) for p in guide_params(MIXED.guide, *MIXED.args).values()}


def test_elbo_base_differentiable_loss_is_abstract():
    with pytest.raises(NotImplementedError):
        ELBO().differentiable_loss(lambda: None, lambda: None)


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return None


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_elbo_vectorized_particles_with_item_names_site_and_dim(estimator):
    def model():
        z = tracegraph.sample("z", dist.Bernoulli(0.5))
        if z.item() == 1.0:
            tracegraph.sample("w", dist.Normal(0.0, 1.0))

    elbo = estimator(num_particles=3, vectorize_particles=True, max_plate_nesting=0)
    with pytest.raises(RuntimeError) as info:
        elbo.differentiable_loss(model, model)
    note = "\n".join(getattr(info.value, "__notes__", []))
    assert "after site 'z' (value shape (3,))" in note and "dim -1" in note
    assert "vectorize_particles=False" in note


# -- a subclass that overrides differentiable_loss keeps its loss everywhere ------------


def _leaf(name: str) -> torch.Tensor:
    return dict(tracegraph.get_param_store().named_parameters())[name]


class PenalizedTraceELBO(Trace_ELBO):
    """A user's ELBO: Trace_ELBO's loss plus a penalty on a param."""

    def differentiable_loss(self, model, guide, *args, **kwargs):
        loss = super().differentiable_loss(model, guide, *args, **kwargs)
        return loss + 10.0 * tracegraph.param("p") ** 2


def test_subclass_differentiable_loss_is_what_loss_and_grads_differentiates():
    def model() -> None:
        tracegraph.sample("z", dist.Bernoulli(0.5))

    def guide() -> None:
        tracegraph.sample("z", dist.Bernoulli(tracegraph.param("p", torch.tensor(0.3))))

    guide()
    p = _leaf("p")
    tracegraph.set_rng_seed(0)
    loss = PenalizedTraceELBO().differentiable_loss(model, guide)
    (want,) = torch.autograd.grad(loss, [p])
    tracegraph.set_rng_seed(0)
    value = PenalizedTraceELBO().loss_and_grads(model, guide)
    assert value == pytest.approx(float(loss.detach()))
    assert p.grad is not None and float(p.grad) == pytest.approx(float(want))
    tracegraph.set_rng_seed(0)
    assert PenalizedTraceELBO().loss(model, guide) == pytest.approx(float(loss.detach()))
