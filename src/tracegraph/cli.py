"""The ``tracegraph`` command line.

``tracegraph demo`` traces the seed example (a Normal with a learnable scale) and
prints its execution trace: node names, the node lists by kind, the log density
and the shape table.

>>> main(["demo"])  # doctest: +ELLIPSIS
tracegraph demo: the execution trace of one run
...
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence

import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph import poutine

__all__ = ["main"]


def _seed_model(x: float) -> torch.Tensor:
    s = tracegraph.param("s", torch.tensor(0.5), constraint=dist.constraints.positive)
    z = tracegraph.sample("z", dist.Normal(x, s))
    return z**2


def _demo(args: argparse.Namespace) -> int:
    tracegraph.set_rng_seed(args.seed)
    tracegraph.clear_param_store()
    trace = poutine.trace(_seed_model).get_trace(0.0)
    z = trace.nodes["z"]["value"].item()
    s = trace.nodes["s"]["value"].detach().item()
    by_hand = -0.5 * (z / s) ** 2 - math.log(s) - 0.5 * math.log(2 * math.pi)
    print("tracegraph demo: the execution trace of one run")
    print("model: s = param('s', 0.5, positive); z = sample('z', Normal(x, s)); return z**2")
    print(f"nodes:               {list(trace.nodes)}")
    print(f"stochastic_nodes:    {trace.stochastic_nodes}")
    print(f"param_nodes:         {trace.param_nodes}")
    print(f"observation_nodes:   {trace.observation_nodes}")
    print(f"z = {z:.4f}, s = {s:.4f}")
    print(f"log_prob_sum():      {trace.log_prob_sum().detach().item():.6f}")
    print(f"Normal density by hand: {by_hand:.6f}")
    print(trace.format_shapes())
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tracegraph", description="Execution traces, provenance and TraceGraph ELBO."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="trace a small model and print what tracegraph records")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.set_defaults(func=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
