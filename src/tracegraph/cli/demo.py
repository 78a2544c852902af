"""``tracegraph demo``: the three ideas of tracegraph at work on one model.

On the built-in sigmoid belief net (:mod:`tracegraph.cli.models`) the demo

1. prints the execution trace of one run: the shape table and each site's
   provenance (and what provenance does with Python control flow);
2. prints the dependency graph and writes it as DOT (and SVG/PNG when
   Graphviz's ``dot`` is installed);
3. shows which cost terms multiply each site's score under ``Trace_ELBO`` and
   ``TraceGraph_ELBO``, then trains with ``Trace_ELBO``, ``TraceGraph_ELBO`` and
   ``TraceGraph_ELBO`` with the leave-one-out baseline (progress bars on stderr);
4. prints each estimator's gradient variance, time per step and final ELBO,
   and plots the ELBO curves (``elbo.png``).
"""

from __future__ import annotations

import argparse
import ast
import inspect
import shutil
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph import poutine
from tracegraph.cli import models
from tracegraph.cli.graph import NO_DOT_NOTE, write_pictures
from tracegraph.cli.loading import CliError
from tracegraph.cli.measure import VarianceReport, format_number, format_table, gradient_variance
from tracegraph.infer import SVI, Trace_ELBO, TraceGraph_ELBO, get_dependencies
from tracegraph.infer.fit import FitResult, fit
from tracegraph.infer.tracegraph_elbo import TrackNonReparam
from tracegraph.ops.provenance import get_provenance
from tracegraph.optim import Adam
from tracegraph.poutine.edges import transitive_provenance
from tracegraph.poutine.provenance_messenger import TrackProvenanceMessenger, site_dependencies
from tracegraph.poutine.util import site_is_subsample

__all__ = ["add_parser", "run"]

NUM_POINTS = 20
PARTICLES = 4
LEARNING_RATE = 0.1


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Register ``tracegraph demo`` on the subparsers ``sub``.

    >>> parser = argparse.ArgumentParser(prog="tracegraph")
    >>> add_parser(parser.add_subparsers(), [])
    >>> parser.parse_args(["demo", "--steps", "5"]).steps
    5
    """
    p = sub.add_parser(
        "demo",
        parents=parents,
        help="see traces, provenance and TraceGraph ELBO at work on a built-in model",
        description=(
            "Trace a small sigmoid belief net with discrete latents, draw its dependency "
            "graph, and train it with Trace_ELBO, TraceGraph_ELBO and TraceGraph_ELBO "
            "with the leave-one-out baseline; compare their gradient variance and ELBO."
        ),
    )
    p.add_argument("--steps", type=_positive, default=300, help="SVI steps per estimator (300)")
    p.add_argument("--seed", type=int, default=0, help="seed for the data and the training (0)")
    p.add_argument(
        "--out",
        default="tracegraph-demo",
        metavar="DIR",
        help="folder for the graph and the plot (./tracegraph-demo)",
    )
    p.add_argument("--no-plot", action="store_true", help="do not write the ELBO plot")
    p.add_argument(
        "--draws", type=_positive, default=100, help="gradient draws per variance estimate (100)"
    )
    p.set_defaults(run=run)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _heading(text: str) -> None:
    print(f"\n== {text} " + "=" * max(0, 74 - len(text)))


def _names(names: Any) -> str:
    return "{" + ", ".join(sorted(names)) + "}" if names else "{}"


def _source(fn: Callable[..., Any]) -> str:
    """The function's source without its docstring."""
    try:
        text = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):
        return f"({fn.__name__}: source not available)"
    lines = text.splitlines()
    body = ast.parse(text).body[0]
    if isinstance(body, ast.FunctionDef) and ast.get_docstring(body) is not None:
        doc = body.body[0]
        assert doc.end_lineno is not None
        del lines[doc.lineno - 1 : doc.end_lineno]
    return "\n".join(lines)


def _branchy() -> None:
    a = tracegraph.sample("a", dist.Bernoulli(0.5))
    if a.item() == 1.0:
        tracegraph.sample("x", dist.Normal(0.0, 1.0))
    else:
        tracegraph.sample("x", dist.Normal(5.0, 1.0))


# -- 1. the trace -----------------------------------------------------------------
def _show_trace(x: torch.Tensor, seed: int) -> None:
    _heading("1. The execution trace of one run")
    print("The model (tracegraph.cli.models.model):\n")
    print(textwrap.indent(_source(models.model), "    "))
    print("\ntrace = poutine.trace(model, graph_type='provenance').get_trace(data)")
    print("records every site of one run; its shape table:\n")
    tracegraph.set_rng_seed(seed)
    trace = poutine.trace(models.model, graph_type="provenance").get_trace(x)
    trace.compute_log_prob()
    print(textwrap.indent(trace.format_shapes(), "    "))
    print(
        "\nProvenance: the set of sample sites a tensor was computed from (tracked through"
        "\nevery torch op). Each site's value and log-prob:\n"
    )
    rows = []
    for name, site in trace.nodes.items():
        if site["type"] != "sample" or site_is_subsample(site):
            continue
        rows.append(
            [
                name,
                "observed" if site["is_observed"] else "latent",
                type(
                    site["fn"].base_dist if hasattr(site["fn"], "base_dist") else site["fn"]
                ).__name__,
                # A provenance trace tags values with direct dependencies only.
                _names(transitive_provenance(trace, get_provenance(site["value"]))),
                _names(transitive_provenance(trace, site_dependencies(site))),
            ]
        )
    headers = ["site", "kind", "distribution", "value's provenance", "log-prob's provenance"]
    print(textwrap.indent(format_table(headers, rows), "    "))
    print(
        "\nz_mid was drawn from a distribution computed from z_top, so its value carries"
        "\nboth names, and so does the log-prob of x, computed from it."
    )
    print(
        "\nProvenance also follows Python control flow, which no tensor op shows:\n\n"
        + textwrap.indent(_source(_branchy), "    ")
    )
    deps = get_dependencies(_branchy)["prior_dependencies"]["x"]
    print(
        f"\n    x depends on {_names(set(deps) - {'x'})}: the branch on a.item() chose x's "
        "distribution.\n    Tracking that stops at tensor ops misses this edge, and a "
        "TraceGraph\n    gradient built without it is biased."
    )


# -- 2. the graph -------------------------------------------------------------------
def _show_graph(x: torch.Tensor, out: Path) -> list[Path]:
    _heading("2. The dependency graph")
    deps = get_dependencies(models.model, (x,))
    print("get_dependencies(model, (data,)) -- what each site is drawn from, and which")
    print("latent sites are coupled in the posterior:\n")
    for name, parents in deps["prior_dependencies"].items():
        print(f"    prior      {name:6} <- {_names(set(parents) - {name})}")
    for name, coupled in deps["posterior_dependencies"].items():
        print(f"    posterior  {name:6} ~  {_names(set(coupled) - {name})}")
    try:
        graph = tracegraph.render_model(models.model, (x,), render_distributions=True)
    except ImportError:
        print("\n(the graphviz Python package is not installed: no drawing; pip install graphviz)")
        return []
    print("\nrender_model(model, (data,)) -- plates are boxes, observed sites grey (DOT):\n")
    print(textwrap.indent(graph.source.rstrip(), "    "))
    if shutil.which("dot") is None:
        print("\n" + NO_DOT_NOTE)
    return write_pictures(graph, out / "model")


# -- 3. the estimators ----------------------------------------------------------------
def _estimators() -> list[tuple[str, Any]]:
    common: dict[str, Any] = {"num_particles": PARTICLES, "vectorize_particles": True}
    return [
        ("Trace_ELBO", Trace_ELBO(**common)),
        ("TraceGraph_ELBO", TraceGraph_ELBO(**common)),
        ("TraceGraph_ELBO + leave-one-out", TraceGraph_ELBO(leave_one_out=True, **common)),
    ]


def _show_costs(x: torch.Tensor) -> None:
    """Which cost terms multiply each guide site's score, by provenance."""
    with torch.no_grad():
        with TrackNonReparam():
            guide_trace = poutine.trace(models.guide).get_trace(x)
        with TrackProvenanceMessenger(tag=None):
            model_trace = poutine.trace(poutine.replay(models.model, trace=guide_trace)).get_trace(
                x
            )
    costs: list[tuple[str, frozenset[str]]] = []
    for role, tr, fmt in ((0, model_trace, "log p({})"), (1, guide_trace, "-log q({})")):
        for name, site in tr.nodes.items():
            if site_is_subsample(site):
                continue  # a plate's indices: no cost term
            if site["type"] == "sample" and not (role and site["is_observed"]):
                costs.append((fmt.format(name), site_dependencies(site)))
    print("The ELBO is a sum of cost terms; a discrete site's gradient is its score times")
    print("the cost terms it multiplies. Here the terms are")
    print("\n    " + ", ".join(c for c, _ in costs) + "\n")
    print("and, by provenance (in one step of TraceGraph_ELBO), each score multiplies:\n")
    for name in guide_trace.nonreparam_stochastic_nodes:
        if site_is_subsample(guide_trace.nodes[name]):
            continue
        mine = ", ".join(c for c, deps in costs if name in deps)
        print(f"    score of {name}  Trace_ELBO:       all {len(costs)} terms")
        print(f"    {' ' * len(name)}           TraceGraph_ELBO:  {mine}")
    print(
        "\nThe dropped terms only add noise: their expectation against the score is 0."
        "\nThe leave-one-out baseline also subtracts the mean cost of the other particles"
        "\n(Kool et al. 2019), which keeps the gradient unbiased and removes more noise.\n"
    )


def _train(x: torch.Tensor, args: argparse.Namespace) -> list[tuple[VarianceReport, FitResult]]:
    _heading("3. Training with three gradient estimators")
    _show_costs(x)
    print(
        f"Each estimator: {args.steps} steps of Adam(lr={LEARNING_RATE}) from the same initial "
        f"guide,\n{PARTICLES} particles per step; the gradient variance is measured at the "
        f"initial guide\nwith {args.draws} draws.\n"
    )
    # The progress bars go to stderr: what precedes them must be out first.
    sys.stdout.flush()
    results = []
    for label, elbo in _estimators():
        tracegraph.clear_param_store()
        tracegraph.set_rng_seed(args.seed)
        params = poutine.trace(models.guide).get_trace(x).param_nodes
        report = gradient_variance(
            label, elbo, models.model, models.guide, (x,), {}, params, args.draws, warmup=2
        )
        tracegraph.set_rng_seed(args.seed)
        svi = SVI(models.model, models.guide, Adam({"lr": LEARNING_RATE}), elbo)
        history = fit(svi, args.steps, x, desc=f"{label:31}")
        results.append((report, history))
        if history.interrupted:
            break
    return results


# -- 4. the results --------------------------------------------------------------------
def _final(history: FitResult) -> float:
    tail = history.elbos[-max(1, history.num_steps // 10) :]
    return sum(tail) / len(tail)


def _show_results(
    results: list[tuple[VarianceReport, FitResult]], evidence: float, out: Path, plot: bool
) -> list[Path]:
    _heading("4. Results")
    rows = []
    for report, history in results:
        top, mid = _part(report, "top_"), _part(report, "mid_")
        rows.append(
            [
                report.name,
                format_number(report.total),
                format_number(top),
                format_number(mid),
                f"{1000 * report.seconds_per_step:.1f}",
                f"{_final(history):.2f}",
            ]
        )
    rows.append(["exact log p(data)", "", "", "", "", f"{evidence:.2f}"])
    headers = ["estimator", "grad var", "q(z_top)", "q(z_mid)", "ms/step", "final ELBO"]
    print(format_table(headers, rows))
    steps = results[0][1].num_steps
    print(
        "\ngrad var: tr Cov of the gradient w.r.t. the guide's params at the initial guide;"
        "\nq(z_top), q(z_mid): its parts from each layer's params. final ELBO: mean over the"
        f"\nlast {max(1, steps // 10)} steps; no ELBO can exceed log p(data)."
    )
    _summarize(results, evidence)
    if not plot:
        return []
    try:
        return [_plot(results, evidence, out / "elbo.png")]
    except ImportError:
        print("\n(matplotlib is not installed: no plot; pip install matplotlib)")
        return []


def _part(report: VarianceReport, prefix: str) -> float:
    return sum(v for k, v in report.per_param.items() if k.startswith(prefix))


def _summarize(results: list[tuple[VarianceReport, FitResult]], evidence: float) -> None:
    (trace, trace_fit), (graph, _), (loo, loo_fit) = results
    top_before, top_after = _part(trace, "top_"), _part(graph, "top_")
    print("\nWhat this shows:")
    print(
        f"  * provenance: the q(z_top) part fell {format_number(top_before)} -> "
        f"{format_number(top_after)} ({top_before / max(top_after, 1e-30):.0f}x lower):\n"
        "    log p(x) no longer multiplies z_top's score. (z_mid's score loses only\n"
        "    log p(z_top) - log q(z_top), which is 0 at the initial guide: it equals the prior.)"
    )
    print(
        f"  * leave-one-out: the total variance is {trace.total / max(loo.total, 1e-30):.0f}x "
        "below Trace_ELBO's,\n    at the same number of particles"
    )
    print(
        f"  * so training gets closer to log p(data): {evidence - _final(loo_fit):.1f} nats "
        f"short with\n    leave-one-out, {evidence - _final(trace_fit):.1f} with Trace_ELBO"
    )


def _plot(results: list[tuple[VarianceReport, FitResult]], evidence: float, path: Path) -> Path:
    # Imported here, not at the top: matplotlib is an optional extra and slow to
    # import, and only this function needs it.  The Agg canvas is used directly,
    # not pyplot: no global backend switch, no display needed.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    lows = []
    for (report, history), color in zip(results, ("tab:red", "tab:blue", "tab:green")):
        elbos = torch.tensor(history.elbos)
        window = max(1, len(elbos) // 20)
        kernel = torch.ones(1, 1, window) / window
        smooth = torch.nn.functional.conv1d(elbos.view(1, 1, -1), kernel).view(-1)
        steps = torch.arange(len(elbos))
        ax.plot(steps, elbos, color=color, alpha=0.2, linewidth=0.8)
        ax.plot(steps[window - 1 :], smooth, color=color, label=report.name)
        lows.append(float(smooth.min()))
    ax.axhline(evidence, color="black", linestyle="--", linewidth=1, label="exact log p(data)")
    span = evidence - min(lows)
    ax.set_ylim(min(lows) - 0.05 * span, evidence + 0.1 * span)
    ax.set_xlabel("step")
    ax.set_ylabel("ELBO")
    ax.set_title(
        f"Sigmoid belief net, {NUM_POINTS} points, {PARTICLES} particles per step "
        "(faint: per step; bold: moving average)",
        fontsize=9,
    )
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def run(args: argparse.Namespace) -> int:
    """Run the demo; returns the exit status."""
    # The demo's tensors are tiny: one thread is fastest, and torch's thread pool
    # slows down many times over when other processes compete for the cores.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run(args)
    finally:
        torch.set_num_threads(threads)


def _run(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"cannot create the output folder {out}: {exc.strerror}") from exc
    x = models.make_data(NUM_POINTS, seed=args.seed)
    evidence = models.log_evidence(x)
    print("tracegraph demo: execution traces, provenance and the TraceGraph ELBO")
    print(
        f"model: a sigmoid belief net ({models.NUM_TOP} top units -> {models.NUM_MID} middle "
        f"units -> {models.NUM_PIXELS} pixels), all binary;"
    )
    print(
        f"data:  {NUM_POINTS} points drawn from it with seed {args.seed}; exact log p(data) = "
        f"{evidence:.2f}"
    )
    print(f"output folder: {out.resolve()}")
    _show_trace(x, args.seed)
    written = _show_graph(x, out)
    results = _train(x, args)
    if results[-1][1].interrupted:
        print("\ninterrupted: no results")
        return 130
    written += _show_results(results, evidence, out, plot=not args.no_plot)
    print("\nwrote: " + ", ".join(str(p) for p in written) if written else "\nwrote nothing")
    print(
        f"done in {time.perf_counter() - start:.1f} s. On your own model, try\n"
        "    tracegraph graph FILE.py:model --args JSON\n"
        "    tracegraph variance FILE.py:model FILE.py:guide --args JSON"
    )
    return 0
