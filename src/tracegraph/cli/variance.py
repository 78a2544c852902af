"""``tracegraph variance FILE.py:model FILE.py:guide``: which gradient estimator
to use for a model with discrete latents.

At the guide's initial params it draws the ELBO gradient many times with each
estimator and reports, per estimator, the variance of the gradient (``tr Cov``)
w.r.t. each guide param and the time per step:

* ``Trace_ELBO`` and ``TraceGraph_ELBO`` (Rao-Blackwellized by provenance), one
  particle;
* ``TraceGraph_ELBO`` with a decaying-average baseline on every
  non-reparameterized site, and with the baselines the guide configures itself
  (``infer={"baseline": ...}``) if it does;
* ``Trace_ELBO``, ``TraceGraph_ELBO`` and ``TraceGraph_ELBO`` with the
  leave-one-out baseline at ``K`` particles;
* the per-site estimators of :mod:`tracegraph.infer.site_estimators` where the
  guide has sites they apply to: DisARM on its Bernoulli sites (one particle, one
  extra run per such site) and the straight-through Gumbel-softmax (biased: its
  row says so);
* ``VIMCO`` at ``K`` particles (its gradient is that of the ``K``-sample bound,
  and its "mean ELBO" is that bound).

``runs`` counts the model-and-guide runs of one step (the particles, and DisARM's
second runs); ``tr Cov x runs`` puts estimators of different cost on the same
footing: it is the variance a one-run step would have at the same cost.
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Callable
from typing import Any

import tracegraph
from tracegraph import poutine
from tracegraph.cli.graph import check_call
from tracegraph.cli.loading import CliError, FunctionLoader, parse_model_args, user_code
from tracegraph.cli.measure import VarianceReport, format_number, format_table, gradient_variance
from tracegraph.infer import VIMCO, Trace_ELBO, TraceGraph_ELBO
from tracegraph.infer.site_estimators import BiasedEstimatorWarning, DisARM, GumbelST
from tracegraph.poutine.runtime import Message
from tracegraph.poutine.sites import site_is_nonreparam, site_is_subsample

#: The model/guide-mismatch warnings of validation, errors for this command.
MISMATCH = "latent sites in the model but not in the guide|guide sites that are not latent"

__all__ = ["add_parser", "run"]

_DECAY = 0.9
_PARAMS_PER_TABLE = 4


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Register ``tracegraph variance`` on the subparsers ``sub``.

    >>> parser = argparse.ArgumentParser(prog="tracegraph")
    >>> add_parser(parser.add_subparsers(), [])
    >>> parser.parse_args(["variance", "m.py:model", "m.py:guide"]).draws
    200
    """
    p = sub.add_parser(
        "variance",
        parents=parents,
        help="compare the gradient variance and speed of ELBO estimators on your model",
        description=(
            "Measure, at the guide's initial params, the variance of the ELBO gradient "
            "w.r.t. each guide param and the time per step, for Trace_ELBO, "
            "TraceGraph_ELBO, TraceGraph_ELBO with baselines, the leave-one-out "
            "baseline at K particles, DisARM and the (biased) straight-through "
            "Gumbel-softmax where the guide has Bernoulli sites, and VIMCO at K "
            "particles: the tool for SVI with discrete latents that does not converge."
        ),
    )
    p.add_argument("model", metavar="FILE.py:model", help="the file and the model's name")
    p.add_argument("guide", metavar="FILE.py:guide", help="the file and the guide's name")
    p.add_argument(
        "--args",
        metavar="JSON",
        help="arguments of model and guide: a JSON array (positional) or object "
        "(keywords); lists of numbers become tensors",
    )
    p.add_argument("--draws", type=_count(1), default=200, help="gradient draws each (200)")
    p.add_argument(
        "--particles", type=_count(2), default=4, help="K for the leave-one-out rows (4)"
    )
    p.add_argument(
        "--warmup", type=_count(0), default=20, help="uncounted draws first, for baselines (20)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (0)")
    p.add_argument(
        "--vectorize",
        action="store_true",
        help="draw the K particles in one vectorized run (the model must broadcast)",
    )
    p.set_defaults(run=run)


def _count(least: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"expected an integer >= {least}, got {value}")
        return value

    return parse


def _with_baseline(guide: Callable[..., Any], config: dict[str, Any]) -> Callable[..., Any]:
    """The guide with ``infer["baseline"] = config`` at every non-reparameterized site."""

    def config_fn(msg: Message) -> dict[str, Any]:
        return {"baseline": dict(config)} if site_is_nonreparam(msg) else {}

    return poutine.infer_config(guide, config_fn)


def _estimators(
    guide: Callable[..., Any],
    k: int,
    own_baselines: bool,
    vectorize: bool,
    disarm_sites: int = 0,
    relaxable: bool = False,
) -> list[tuple[str, Any, Callable[..., Any], int]]:
    """The rows: label, ELBO, guide and model-and-guide runs per step."""
    # "No baseline" is written explicitly, so that the guide's own baselines do not
    # leak into the rows that are meant to be without them.
    bare = _with_baseline(guide, {}) if own_baselines else guide
    decaying = {"use_decaying_avg_baseline": True, "baseline_beta": _DECAY}
    many: dict[str, Any] = {"num_particles": k, "vectorize_particles": vectorize}
    rows: list[tuple[str, Any, Callable[..., Any], int]] = [
        ("Trace_ELBO", Trace_ELBO(), guide, 1),
        ("TraceGraph_ELBO", TraceGraph_ELBO(), bare, 1),
    ]
    if own_baselines:
        rows.append(("TraceGraph_ELBO + the guide's baselines", TraceGraph_ELBO(), guide, 1))
    rows += [
        (
            f"TraceGraph_ELBO + decaying average ({_DECAY})",
            TraceGraph_ELBO(),
            _with_baseline(guide, decaying),
            1,
        ),
    ]
    if disarm_sites:
        rows.append(
            ("TraceGraph_ELBO, DisARM", TraceGraph_ELBO(estimator=DisARM()), bare, 1 + disarm_sites)
        )
    if relaxable:
        rows.append(
            (
                "TraceGraph_ELBO, Gumbel straight-through (BIASED)",
                TraceGraph_ELBO(estimator=GumbelST()),
                bare,
                1,
            )
        )
    rows += [
        ("Trace_ELBO", Trace_ELBO(**many), guide, k),
        ("TraceGraph_ELBO", TraceGraph_ELBO(**many), bare, k),
        ("TraceGraph_ELBO + leave-one-out", TraceGraph_ELBO(leave_one_out=True, **many), bare, k),
        ("VIMCO (K-sample bound)", VIMCO(**many), bare, k),
    ]
    return rows


def _print_tables(reports: list[VarianceReport], params: list[str]) -> None:
    reference = reports[0].total
    rows = []
    for r in reports:
        reduction = reference / (r.total * r.particles) if r.total > 0 else float("inf")
        # r.particles holds the runs per step (set by run()).
        rows.append(
            [
                r.name,
                str(r.particles),
                f"{1000 * r.seconds_per_step:.2f}",
                format_number(r.total),
                format_number(r.total * r.particles),
                f"{reduction:.1f}x",
                f"{r.mean_elbo:.4g}",
            ]
        )
    headers = ["estimator", "runs", "ms/step", "tr Cov", "tr Cov x runs", "reduction", "mean ELBO"]
    print(format_table(headers, rows))
    for start in range(0, len(params), _PARAMS_PER_TABLE):
        chunk = params[start : start + _PARAMS_PER_TABLE]
        print("\ntr Cov per guide param:")
        rows = [
            [r.name, str(r.particles)] + [format_number(r.per_param[p]) for p in chunk]
            for r in reports
        ]
        print(format_table(["estimator", "runs", *chunk], rows))


def run(args: argparse.Namespace) -> int:
    """Run ``tracegraph variance``; returns the exit status."""
    loader = FunctionLoader()
    model, model_name = loader.load(args.model, "model")
    guide, guide_name = loader.load(args.guide, "guide")
    model_args, model_kwargs = parse_model_args(args.args)
    check_call(model, model_name, model_args, model_kwargs)
    check_call(guide, guide_name, model_args, model_kwargs)

    tracegraph.clear_param_store()
    tracegraph.set_rng_seed(args.seed)
    with user_code(f"the guide '{guide_name}'"):
        guide_trace = poutine.trace(guide).get_trace(*model_args, **model_kwargs)
    params = guide_trace.param_nodes
    if not params:
        raise CliError(
            f"the guide '{guide_name}' has no params (tracegraph.param sites): there is no "
            "gradient to measure"
        )
    with user_code(f"the model '{model_name}' with the guide '{guide_name}'"):
        # Training may go on with a mismatched pair (as in Pyro, with a warning);
        # measuring its gradient's variance says nothing, so here it is an error.
        with warnings.catch_warnings():
            warnings.filterwarnings("error", message=MISMATCH, category=UserWarning)
            Trace_ELBO().loss(model, guide, *model_args, **model_kwargs)
    nonreparam = [
        n
        for n in guide_trace.nonreparam_stochastic_nodes
        if not site_is_subsample(guide_trace.nodes[n])  # a plate's indices
    ]
    own = [n for n in nonreparam if guide_trace.nodes[n]["infer"].get("baseline")]
    fns = [guide_trace.nodes[n]["fn"] for n in nonreparam]
    disarm_sites = sum(DisARM().applies_to(fn) for fn in fns)
    relaxable = any(GumbelST().applies_to(fn) for fn in fns)

    print(
        f"gradient of the ELBO w.r.t. the params of '{guide_name}' at their initial values; "
        f"{args.draws} draws per estimator after {args.warmup} warm-up draws"
    )
    if nonreparam:
        print(
            f"non-reparameterized guide sites (score-function gradients): {', '.join(nonreparam)}"
        )
    else:
        print(
            "the guide has no non-reparameterized sites: every estimator uses the pathwise "
            "gradient, so they differ only by noise"
        )
    reports = []
    rows = _estimators(
        guide, args.particles, bool(own), args.vectorize, disarm_sites, relaxable
    )
    for label, elbo, g, runs in rows:
        tracegraph.set_rng_seed(args.seed)
        with user_code(f"{label} on '{model_name}'/'{guide_name}'"), warnings.catch_warnings():
            # The biased row says so in its label.
            warnings.simplefilter("ignore", BiasedEstimatorWarning)
            report = gradient_variance(
                label,
                elbo,
                model,
                g,
                model_args,
                model_kwargs,
                params,
                args.draws,
                warmup=args.warmup,
            )
        report.particles = runs
        reports.append(report)
    print()
    _print_tables(reports, params)
    # Among the unbiased estimators of the ELBO's gradient.
    comparable = [r for r in reports if "BIASED" not in r.name and not r.name.startswith("VIMCO")]
    best = min(comparable, key=lambda r: r.total * r.particles)
    print(
        "\ntr Cov: summed variance of the gradient's elements (lower is better); "
        "tr Cov x runs: per run of\nmodel and guide, for equal cost; reduction: "
        "Trace_ELBO's tr Cov (1 run) divided by tr Cov x runs.\nVIMCO's gradient is "
        "that of the K-sample bound, a different target.\nlowest per run: "
        f"{best.name} ({best.particles} runs)"
    )
    return 0
