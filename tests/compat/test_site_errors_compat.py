"""Errors of bad programs name their site, keep Pyro's exception type and never
show tracegraph's internal class names (issue 16).

Each program below runs in Pyro 1.9.2 and in tracegraph, through
``poutine.trace`` (then ``log_prob_sum``), ``Trace_ELBO`` and ``TraceGraph_ELBO``
(one ``SVI`` step each), and through ``poutine.trace`` alone (where Pyro
records sites it cannot score).  Where Pyro runs the program, tracegraph must run it
too; where Pyro raises, tracegraph raises Pyro's type or a subclass, and its
message or notes name the site -- or, when the program failed while building a
distribution (no site is known yet), quote the program's own line.
"""

from __future__ import annotations

import inspect
import re
import sys
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch

pytest.importorskip("pyro", reason="the differential tests compare against pyro-ppl==1.9.2")

from differential import PYRO, TRACEGRAPH, Lib, run_in, same_exception_type  # noqa: E402

Model = Callable[[], Any]

# -- programs: each builds a model from a library; the site its error must name ------


def _after_a(lib: Lib) -> None:
    lib.pyro.sample("a", lib.dist.Normal(0.0, 1.0))


def normal_negative_scale(lib: Lib) -> Model:
    return lambda: lib.pyro.sample("x", lib.dist.Normal(0.0, -1.0))


def normal_nan_loc(lib: Lib) -> Model:
    def model() -> None:
        _after_a(lib)
        lib.pyro.sample("x", lib.dist.Normal(float("nan"), 1.0))

    return model


def bernoulli_probs_above_one(lib: Lib) -> Model:
    def model() -> None:
        _after_a(lib)
        lib.pyro.sample("x", lib.dist.Bernoulli(1.5))

    return model


def categorical_negative_probs(lib: Lib) -> Model:
    return lambda: lib.pyro.sample("x", lib.dist.Categorical(torch.tensor([-1.0, 2.0])))


def beta_negative_concentration(lib: Lib) -> Model:
    return lambda: lib.pyro.sample("x", lib.dist.Beta(-1.0, 1.0))


def dirichlet_negative_concentration(lib: Lib) -> Model:
    def model() -> None:
        with lib.pyro.plate("p", 3):
            lib.pyro.sample("x", lib.dist.Dirichlet(torch.tensor([1.0, -1.0])))

    return model


def mvn_not_positive_definite(lib: Lib) -> Model:
    cov = torch.tensor([[1.0, 2.0], [2.0, 1.0]])
    return lambda: lib.pyro.sample("x", lib.dist.MultivariateNormal(torch.zeros(2), cov))


def obs_wrong_shape(lib: Lib) -> Model:
    return lambda: lib.pyro.sample("x", lib.dist.Normal(torch.zeros(3), 1.0), obs=torch.zeros(2))


def obs_wrong_shape_in_plate(lib: Lib) -> Model:
    def model() -> None:
        with lib.pyro.plate("p", 3):
            lib.pyro.sample("x", lib.dist.Normal(0.0, 1.0), obs=torch.zeros(2))

    return model


def obs_outside_support(lib: Lib) -> Model:
    def model() -> None:
        with lib.pyro.plate("p", 3):
            lib.pyro.sample("x", lib.dist.Bernoulli(0.5), obs=torch.tensor([0.0, 2.0, 1.0]))

    return model


def obs_mask_wrong_shape_in_plate(lib: Lib) -> Model:
    def model() -> None:
        with lib.pyro.plate("p", 3):
            lib.pyro.sample(
                "x",
                lib.dist.Normal(0.0, 1.0),
                obs=torch.zeros(3),
                obs_mask=torch.ones(2, dtype=torch.bool),
            )

    return model


def fn_class(lib: Lib) -> Model:
    return lambda: lib.pyro.sample("x", lib.dist.Normal)


def fn_class_observed(lib: Lib) -> Model:
    return lambda: lib.pyro.sample("x", lib.dist.Normal, obs=torch.zeros(()))


def fn_class_observed_in_plate(lib: Lib) -> Model:
    def model() -> None:
        with lib.pyro.plate("p", 3):
            lib.pyro.sample("x", lib.dist.Normal, obs=torch.zeros(3))

    return model


def fn_class_with_args(lib: Lib) -> Model:
    # Pyro calls the class with the site's args: the value is a distribution.
    return lambda: lib.pyro.sample("x", lib.dist.Normal, 0.0, 1.0)


def fn_function(lib: Lib) -> Model:
    return lambda: lib.pyro.sample("x", lambda: torch.tensor(0.0))


def fn_function_observed(lib: Lib) -> Model:
    return lambda: lib.pyro.sample("x", lambda: torch.tensor(0.0), obs=torch.zeros(()))


def fn_none(lib: Lib) -> Model:
    return lambda: lib.pyro.sample("x", None)


def fn_tensor(lib: Lib) -> Model:
    return lambda: lib.pyro.sample("x", torch.zeros(2))


def fn_tensor_observed(lib: Lib) -> Model:
    return lambda: lib.pyro.sample("x", torch.zeros(2), obs=torch.zeros(2))


def factor_nan(lib: Lib) -> Model:
    return lambda: lib.pyro.factor("x", torch.tensor(float("nan")))


def deterministic_event_dim_too_large(lib: Lib) -> Model:
    return lambda: lib.pyro.deterministic("x", torch.tensor(3.0), event_dim=2)


def deterministic_negative_event_dim(lib: Lib) -> Model:
    # Pyro runs it: a negative event_dim counts as 0.
    return lambda: lib.pyro.deterministic("x", torch.tensor(3.0), event_dim=-1)


def deterministic_negative_event_dim_batched(lib: Lib) -> Model:
    # Runs under poutine.trace; an ELBO refuses its log_prob shape (no plates).
    return lambda: lib.pyro.deterministic("x", torch.zeros(2, 3), event_dim=-1)


#: Programs that fail while building a distribution, before ``sample`` is
#: called: their notes quote the program's line instead of naming a site.
CONSTRUCTOR_FAILURES = (
    normal_negative_scale,
    normal_nan_loc,
    bernoulli_probs_above_one,
    categorical_negative_probs,
    beta_negative_concentration,
    dirichlet_negative_concentration,
    mvn_not_positive_definite,
)

PROGRAMS = [
    *CONSTRUCTOR_FAILURES,
    obs_wrong_shape,
    obs_wrong_shape_in_plate,
    obs_outside_support,
    obs_mask_wrong_shape_in_plate,
    fn_class,
    fn_class_observed,
    fn_class_observed_in_plate,
    fn_class_with_args,
    fn_function,
    fn_function_observed,
    fn_none,
    fn_tensor,
    fn_tensor_observed,
    factor_nan,
    deterministic_event_dim_too_large,
    deterministic_negative_event_dim,
    deterministic_negative_event_dim_batched,
]


# -- how each program is run -------------------------------------------------------


def _traced(lib: Lib, model: Model) -> Any:
    return lib.poutine.trace(model).get_trace().log_prob_sum()


def _svi_step(elbo: str) -> Callable[[Lib, Model], Any]:
    def step(lib: Lib, model: Model) -> Any:
        def guide() -> None:
            lib.pyro.param("q", torch.tensor(0.0))

        infer = lib.mod(".infer")
        svi = infer.SVI(model, guide, lib.mod(".optim").Adam({"lr": 0.1}), getattr(infer, elbo)())
        return svi.step()

    return step


RUNNERS: dict[str, Callable[[Lib, Model], Any]] = {
    # (Node names only: the summary of a trace reads each fn's shapes.)
    "trace_only": lambda lib, model: list(lib.poutine.trace(model).get_trace().nodes),
    "trace": _traced,
    "Trace_ELBO": _svi_step("Trace_ELBO"),
    "TraceGraph_ELBO": _svi_step("TraceGraph_ELBO"),
}


# -- what a message may not show ---------------------------------------------------


def _internal_class_names() -> frozenset[str]:
    # Classes tracegraph defines that Pyro has no class of that name for, except
    # exceptions and warnings (users catch those by name), plus the tracked
    # tensor (Pyro has a class of that name, but a user never built one here).
    import tracegraph  # noqa: F401 - loads the package's modules

    pyro_names = {
        v.__name__
        for name, mod in list(sys.modules.items())
        if name.split(".")[0] == "pyro"
        for v in vars(mod).values()
        if inspect.isclass(v)
    }
    ours = {
        v.__name__
        for name, mod in list(sys.modules.items())
        if name.split(".")[0] == "tracegraph"
        for v in vars(mod).values()
        if inspect.isclass(v)
        and v.__module__.split(".")[0] == "tracegraph"
        and not issubclass(v, (BaseException, Warning))
    }
    return frozenset(ours - pyro_names) | {"ProvenanceTensor", "ProvenanceFastPath"}


def _shown(exc: BaseException) -> Iterator[str]:
    # What a printed traceback shows of each exception of the chain: its type,
    # message and notes.
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        yield "".join(traceback.format_exception_only(e))
        e = e.__cause__ or (None if e.__suppress_context__ else e.__context__)


def _run_both(program: Callable[[Lib], Model], runner: str) -> tuple[Any, Any]:
    run = RUNNERS[runner]
    return (
        run_in(PYRO, lambda lib: run(lib, program(lib))),
        run_in(TRACEGRAPH, lambda lib: run(lib, program(lib))),
    )


@pytest.mark.parametrize("runner", sorted(RUNNERS))
@pytest.mark.parametrize("program", PROGRAMS, ids=lambda p: p.__name__)
def test_bad_program_error_names_site_keeps_pyro_type(
    program: Callable[[Lib], Model], runner: str
) -> None:
    pyro, ours = _run_both(program, runner)
    assert not ours.leftover_handlers
    if pyro.error is None:
        assert ours.error is None, f"pyro runs, tracegraph {ours.describe()}"
        return
    assert ours.error is not None, f"pyro {pyro.describe()}, tracegraph runs"
    assert same_exception_type(type(pyro.error), type(ours.error)), (
        f"pyro {pyro.describe()}, tracegraph {ours.describe()}"
    )
    shown = list(_shown(ours.error))
    text = "\n".join(shown)
    if program in CONSTRUCTOR_FAILURES:
        # The note quotes the line of this file that built the distribution.
        assert re.search(rf'File "{re.escape(__file__)}", line \d+, in \S+: .*"x"', text), text
        assert "raised by the program " in text, text
    else:
        assert "site 'x'" in text, text
    internal = _internal_class_names()
    for part in shown:
        named = set(re.findall(r"\b[A-Za-z_][A-Za-z0-9_]*\b", part)) & internal
        assert not named, (named, part)


def test_internal_class_names_cover_the_tracked_classes() -> None:
    names = _internal_class_names()
    assert {"ProvenanceTensor", "ProvenanceFastPath", "TrackProvenanceMessenger"} <= names
    assert "Trace" not in names and "SiteTypeError" not in names


@pytest.mark.parametrize("runner", sorted(RUNNERS))
def test_constructor_failure_names_last_site_recorded_not_the_failing_one(runner: str) -> None:
    _, ours = _run_both(bernoulli_probs_above_one, runner)
    text = "\n".join(_shown(ours.error))
    assert "raised by the program after site 'a', before the next site was recorded" in text
    assert "site 'x'" not in text  # never recorded: no note may claim it
