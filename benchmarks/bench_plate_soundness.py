"""The cost of plate soundness (issue 6): bias and variance of the gradient estimators
before (Pyro's rule: per element along every shared plate) and after
(:class:`~tracegraph.infer.plates.PlateRule`).

Run ``python benchmarks/bench_plate_soundness.py [--draws M]``.

Models (defined in ``tests/infer/test_plate_soundness.py``):

* ``sbn``: the two-layer sigmoid belief net of the issue (top-down model,
  bottom-up guide; 3 + 2 units, strong weights, one datapoint);
* ``plain``: a global latent, then one latent per datapoint in a data plate (the
  usual case; the two rules must give the same estimator);
* ``reparam``: a Bernoulli plate feeding a reparameterized Normal outside the
  plate that the plate's costs read (exact ELBO in closed form).

Columns.  *exact*: the single-particle estimator's mean and covariance computed by
enumerating every guide path (no sampling error; not available with the Normal):
``tr(Cov)``, the bias ``|E[g] - grad| / |grad|`` and the worst coordinate's
``|bias| / sd``.  *MC*: ``M`` independent estimates drawn with the same seed for
both rules; ``tr(Cov)`` is good to about ``sqrt(2 / M)`` relative (+-6 % at
``M = 1000``) and ``z`` is the worst coordinate's ``|mean - grad| / SE`` (above 4:
biased).  ``RLOO K=4`` is TraceGraph_ELBO with four vectorized particles and the
leave-one-out baseline (one estimate = four particles).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "infer"))

import test_plate_soundness as cases  # noqa: E402
from enumeration import (  # noqa: E402
    ZOO,
    exact_grads,
    grad_estimates,
    guide_params,
    one_thread,
)

import tracegraph  # noqa: E402
from tracegraph.infer import ELBO, Trace_ELBO, TraceGraph_ELBO  # noqa: E402

Program = Callable[..., Any]

PLAIN = {case.name: case for case in ZOO}["plate"]

MODELS: dict[str, tuple[Program, Program, tuple[Any, ...], bool]] = {
    # name: (model, guide, args, enumerable)
    "sbn": (cases.sbn_model, cases.sbn_guide, (cases.SBN_X,), True),
    "plain": (PLAIN.model, PLAIN.guide, PLAIN.args, True),
    "reparam": (cases.reparam_model, cases.reparam_guide, (cases.REP_X,), False),
}

ESTIMATORS: dict[str, Callable[[], ELBO]] = {
    "Trace": Trace_ELBO,
    "TraceGraph": TraceGraph_ELBO,
    "RLOO K=4": lambda: TraceGraph_ELBO(
        num_particles=4, vectorize_particles=True, leave_one_out=True
    ),
}

RULES = {"before": "per_element", "after": None}


def exact_gradient(name: str) -> torch.Tensor:
    model, guide, args, enumerable = MODELS[name]
    params = list(guide_params(guide, *args).values())
    if enumerable:
        return exact_grads(model, guide, params, *args).double()
    grads = torch.autograd.grad(-cases.reparam_exact_elbo(*args), params)
    return torch.cat([g.reshape(-1) for g in grads]).double()


def with_rule(rule: str | None, fn: Callable[[], Any]) -> Any:
    if rule is None:
        return fn()
    with cases.forced_rule(rule):
        return fn()


def row(model_name: str, estimator: str, when: str, draws: int) -> dict[str, Any]:
    model, guide, args, enumerable = MODELS[model_name]
    rule = RULES[when]
    tracegraph.clear_param_store()
    exact = exact_gradient(model_name)
    out: dict[str, Any] = {"model": model_name, "estimator": estimator, "rule": when}
    if enumerable and estimator != "RLOO K=4":
        mean, var = with_rule(
            rule, lambda: cases.estimator_moments(ESTIMATORS[estimator](), model, guide, *args)
        )
        out["trcov_exact"] = float(var.sum())
        out["bias_exact"] = cases.relative_error(mean, exact)
        out["bias_sd"] = float(((mean - exact).abs() / var.clamp(min=1e-30).sqrt()).max())
    params = list(guide_params(guide, *args).values())
    elbo = ESTIMATORS[estimator]()
    tracegraph.set_rng_seed(0)
    start = time.perf_counter()
    samples = with_rule(
        rule,
        lambda: grad_estimates(
            lambda: elbo.differentiable_loss(model, guide, *args), params, draws
        ),
    )
    out["seconds"] = time.perf_counter() - start
    out["trcov_mc"] = float(samples.var(0).sum())
    out["z_mc"] = cases.max_z_score(samples, exact)
    return out


def fmt(value: Any, spec: str) -> str:
    """``value`` formatted by ``spec`` (``"8.3f"``), or a dash of the same width."""
    width = int(spec.split(".")[0])
    return f"{'-':>{width}}" if value is None else format(value, spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--draws", type=int, default=1000, help="MC estimates per row")
    opts = parser.parse_args()
    header = (
        f"{'model':8} {'estimator':11} {'rule':6} | {'tr(Cov)':>8} {'bias':>7} "
        f"{'|b|/sd':>7} | {'tr(Cov)':>8} {'z':>6} {'s':>5}"
    )
    print(f"{'':27} | {'exact (enumerated)':^24} | {f'MC, M = {opts.draws}':^22}")
    print(header)
    print("-" * len(header))
    with one_thread():
        for model_name in MODELS:
            for estimator in ESTIMATORS:
                for when in RULES:
                    r = row(model_name, estimator, when, opts.draws)
                    print(
                        f"{r['model']:8} {r['estimator']:11} {r['rule']:6} | "
                        f"{fmt(r.get('trcov_exact'), '8.3f')} {fmt(r.get('bias_exact'), '7.1%')} "
                        f"{fmt(r.get('bias_sd'), '7.3f')} | {r['trcov_mc']:8.3f} "
                        f"{r['z_mc']:6.1f} {r['seconds']:5.1f}",
                        flush=True,
                    )
    print(
        "\nbias: |E[g] - grad| / |grad|; |b|/sd: worst coordinate's bias in single-"
        "particle sds;\nz: worst coordinate's |mean - grad| / SE over the M draws "
        f"(4 SE: a false alarm ~6e-5; SE = sd / sqrt({opts.draws}))."
    )


if __name__ == "__main__":
    main()
