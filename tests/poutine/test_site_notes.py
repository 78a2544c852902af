"""Errors torch raises inside a program get notes naming the site, its plates and
shapes, keep their type, and never name the tracked tensor class."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

import pytest
import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph import poutine
from tracegraph.errors import ShapeError
from tracegraph.infer import Trace_ELBO, TraceGraph_ELBO


def _guide() -> None:
    q = tracegraph.param("q", torch.tensor(0.3))
    tracegraph.sample("z", dist.Bernoulli(q))


def _nan_loc() -> None:
    z = tracegraph.sample("z", dist.Bernoulli(0.5))
    with tracegraph.plate("p", 3):
        tracegraph.sample("x", dist.Normal(z * float("nan"), 1.0), obs=torch.zeros(3))


def _negative_scale() -> None:
    z = tracegraph.sample("z", dist.Bernoulli(0.5))
    with tracegraph.plate("p", 3):
        tracegraph.sample("x", dist.Normal(0.0, z - 2.0), obs=torch.zeros(3))


def _outside_support() -> None:
    z = tracegraph.sample("z", dist.Bernoulli(0.5))
    with tracegraph.plate("p", 3):
        tracegraph.sample("x", dist.Bernoulli(0.25 + 0.5 * z), obs=torch.tensor([0.0, 2.0, 1.0]))


def _mask_handler_shape() -> None:
    z = tracegraph.sample("z", dist.Bernoulli(0.5))
    with tracegraph.plate("p", 3), poutine.mask(mask=torch.tensor([True, False])):
        tracegraph.sample("x", dist.Normal(z, 1.0), obs=torch.zeros(3))


def _mask_method_shape() -> None:
    z = tracegraph.sample("z", dist.Bernoulli(0.5))
    with tracegraph.plate("p", 3):
        d = dist.Normal(z + torch.zeros(3), 1.0).mask(torch.tensor([True, False]))
        tracegraph.sample("x", d, obs=torch.zeros(3))


def _bad_probs_draw() -> None:
    z = tracegraph.sample("z", dist.Bernoulli(0.5))
    with tracegraph.plate("p", 3):
        tracegraph.sample("y", dist.Bernoulli(1.5 + z, validate_args=False))


# program -> (exception type torch raises, what the notes must say; batch shapes
# gain a particle dim when particles are vectorized)
CASES: dict[str, tuple[Callable[[], None], type[Exception], list[str]]] = {
    "nan_loc": (_nan_loc, ValueError, ["after entering plate 'p' (size 3)"]),
    "negative_scale": (_negative_scale, ValueError, ["after entering plate 'p'"]),
    "outside_support": (
        _outside_support,
        ValueError,
        ["log_prob at site 'x': Bernoulli with batch_shape (", "'p' (dim -1, size 3)"],
    ),
    "mask_handler": (
        _mask_handler_shape,
        RuntimeError,
        ["log_prob at site 'x'", "mask shape (2,)", "'p' (dim -1, size 3)"],
    ),
    "mask_method": (
        _mask_method_shape,
        ShapeError,
        ["the mask has shape (2,) and the distribution batch_shape (", "plate 'p'"],
    ),
    "bad_probs_draw": (
        _bad_probs_draw,
        RuntimeError,
        ["while drawing a value at site 'y': Bernoulli", "'p' (dim -1, size 3)"],
    ),
}

RUNNERS: dict[str, Callable[[Callable[[], None]], Any]] = {
    "trace": lambda m: poutine.trace(m).get_trace().log_prob_sum(),
    "provenance_trace": lambda m: (
        poutine.trace(m, graph_type="provenance").get_trace().log_prob_sum()
    ),
    "Trace_ELBO": lambda m: Trace_ELBO().loss_and_grads(m, _guide),
    "TraceGraph_ELBO": lambda m: TraceGraph_ELBO().loss_and_grads(m, _guide),
    "TraceGraph_ELBO_vectorized": lambda m: TraceGraph_ELBO(
        num_particles=2, vectorize_particles=True, max_plate_nesting=1
    ).loss_and_grads(m, _guide),
}


def _full_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(exc))


@pytest.mark.parametrize("runner", sorted(RUNNERS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_error_in_program_notes_site_keeps_type_no_tracked_names(case: str, runner: str):
    program, kind, expected = CASES[case]
    if runner == "TraceGraph_ELBO_vectorized" and case == "mask_handler":
        expected = ["log_prob at site 'x'", "mask shape (2,)"]
    with tracegraph.validation_enabled(True), pytest.raises(kind) as info:
        RUNNERS[runner](program)
    text = _full_text(info.value)
    assert "ProvenanceTensor" not in text
    for part in expected:
        assert part in text, (part, text)


def test_error_before_first_site_says_so():
    def model() -> None:
        torch.zeros(2) + torch.zeros(3)

    with pytest.raises(RuntimeError) as info:
        poutine.trace(model).get_trace()
    assert "raised by the program before its first site" in _full_text(info.value)


def test_error_after_param_names_it():
    def model() -> None:
        tracegraph.param("w", torch.ones(2))
        torch.zeros(2) + torch.zeros(3)

    with pytest.raises(RuntimeError) as info:
        poutine.trace(model).get_trace()
    assert "raised by the program after param 'w'" in _full_text(info.value)


def test_vectorized_item_names_site_and_hint():
    def model() -> None:
        z = tracegraph.sample("z", dist.Normal(0.0, 1.0))
        if z.item() > 0:
            pass

    def guide() -> None:
        tracegraph.sample("z", dist.Normal(tracegraph.param("m", torch.tensor(0.0)), 1.0))

    with pytest.raises(RuntimeError, match="cannot be converted to Scalar") as info:
        Trace_ELBO(num_particles=3, vectorize_particles=True).loss(model, guide)
    text = _full_text(info.value)
    assert "after site 'z'" in text and "vectorize_particles=False" in text
    assert "ProvenanceTensor" not in text


# -- errors raised while a distribution is built: no site is known yet ---------


def _bad_bernoulli_after_a() -> None:
    tracegraph.sample("a", dist.Normal(0.0, 1.0))
    tracegraph.sample("x", dist.Bernoulli(1.5))  # the constructor refuses 1.5


@pytest.mark.parametrize("runner", sorted(RUNNERS))
def test_constructor_failure_quotes_program_line_and_names_last_site_only(runner: str):
    with tracegraph.validation_enabled(True), pytest.raises(ValueError) as info:
        RUNNERS[runner](_bad_bernoulli_after_a)
    text = _full_text(info.value)
    assert "raised by the program after site 'a', before the next site was recorded" in text
    assert f'File "{__file__}", line ' in text
    assert 'in _bad_bernoulli_after_a: tracegraph.sample("x", dist.Bernoulli(1.5))' in text
    assert "(the last site recorded: site 'a': Normal with batch_shape (" in text
    assert "site 'x'" not in text  # never recorded: no note may claim it


def test_constructor_failure_before_any_site_quotes_program_line():
    def model() -> None:
        tracegraph.sample("x", dist.Categorical(torch.tensor([-1.0, 2.0])))

    with pytest.raises(ValueError, match="Simplex") as info:
        poutine.trace(model).get_trace()
    note = info.value.__notes__[0]
    assert note.splitlines() == [
        "raised by the program before its first site was recorded",
        f'  File "{__file__}", line {model.__code__.co_firstlineno + 1}, in model: '
        'tracegraph.sample("x", dist.Categorical(torch.tensor([-1.0, 2.0])))',
    ]


def test_error_noted_at_a_site_gets_no_program_line_note():
    def model() -> None:
        tracegraph.sample("y", dist.Bernoulli(torch.tensor(1.5), validate_args=False))

    with pytest.raises(RuntimeError) as info:
        poutine.trace(model).get_trace()
    text = _full_text(info.value)
    assert "while drawing a value at site 'y'" in text and "raised by the program" not in text
