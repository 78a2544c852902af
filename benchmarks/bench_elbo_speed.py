"""Per-step time of the ELBO estimators, ours and (when importable) Pyro's.

Run ``python benchmarks/bench_elbo_speed.py [--steps N] [--warmup W]``; for the
side-by-side with Pyro, run it with a Python that has ``pyro-ppl`` installed
(see ``benchmarks/README.md``).

A *step* is one ``loss_and_grads`` call (model and guide run, surrogate built,
``backward``) followed by clearing the params' gradients: what ``SVI.step`` costs
minus the optimizer.  Every model is written once as ``make_models(pyro, dist)``
against a Pyro-like module, so both libraries run literally the same model code.
After a warm-up, the variants are measured round-robin (one step of each in
turn, so that all see the same machine load; the order is shuffled every
round) and the median over steps is reported.  Validation is off in both
libraries and torch runs single-threaded
(the tensors are tiny; intra-op threads only add synchronisation).
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import statistics
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import torch

import tracegraph
import tracegraph.distributions as tg_dist
from tracegraph.infer import JitTraceGraph_ELBO, Trace_ELBO, TraceGraph_ELBO

Program = Callable[..., Any]


def make_models(pyro: ModuleType, dist: ModuleType) -> dict[str, tuple[Program, Program, tuple]]:
    """The benchmark models as ``{name: (model, guide, args)}``, written against
    ``pyro`` (``sample``, ``param``, ``plate``) and ``dist`` (its distributions)."""
    constraints = dist.constraints
    gen = torch.Generator().manual_seed(0)

    # (a) a 20-site Markov chain of binary latents, Bernoulli observations,
    # mean-field Bernoulli guide.
    T = 20
    chain_data = (torch.rand(T, generator=gen) < 0.5).float()

    def chain_model(data: torch.Tensor) -> None:
        z = torch.tensor(0.0)
        for t in range(T):
            z = pyro.sample(f"z_{t}", dist.Bernoulli(0.2 + 0.6 * z))
            pyro.sample(f"x_{t}", dist.Bernoulli(0.1 + 0.8 * z), obs=data[t])

    def chain_guide(data: torch.Tensor) -> None:
        q = pyro.param("chain_q", torch.full((T,), 0.5), constraint=constraints.unit_interval)
        for t in range(T):
            pyro.sample(f"z_{t}", dist.Bernoulli(q[t]))

    # (b) a two-layer sigmoid belief net: top-down model z2 -> z1 -> x over a batch
    # of N binary vectors, bottom-up guide x -> z1 -> z2.
    sbn_model, sbn_guide, (sbn_data,) = sbn_models(pyro, dist, gen, pixels=8, prefix="sbn")

    # (c) a Gaussian mixture with per-point assignments in a plate (reparameterized
    # component locations, non-reparameterized assignments).
    K, M = 3, 20
    gmm_data = torch.cat([torch.randn(7, generator=gen) - 3, torch.randn(13, generator=gen) + 2])

    def gmm_model(data: torch.Tensor) -> None:
        locs = pyro.sample("locs", dist.Normal(torch.zeros(K), 5.0).to_event(1))
        with pyro.plate("points", M):
            z = pyro.sample("assign", dist.Categorical(torch.full((K,), 1.0 / K)))
            # one_hot rather than locs[z], so that batched particles work too.
            loc_z = (locs * torch.nn.functional.one_hot(z, K)).sum(-1)
            pyro.sample("x", dist.Normal(loc_z, 1.0), obs=data)

    def gmm_guide(data: torch.Tensor) -> None:
        loc_q = pyro.param("gmm_loc", torch.tensor([-2.0, 0.0, 2.0]))
        probs = pyro.param("gmm_probs", torch.full((M, K), 1.0 / K), constraint=constraints.simplex)
        pyro.sample("locs", dist.Normal(loc_q, 0.5).to_event(1))
        with pyro.plate("points", M):
            pyro.sample("assign", dist.Categorical(probs))

    return {
        "chain20": (chain_model, chain_guide, (chain_data,)),
        "sbn": (sbn_model, sbn_guide, (sbn_data,)),
        "gmm": (gmm_model, gmm_guide, (gmm_data,)),
    }


def sbn_models(
    pyro: ModuleType, dist: ModuleType, gen: torch.Generator, pixels: int, prefix: str
) -> tuple[Program, Program, tuple]:
    """A two-layer sigmoid belief net (4 datapoints, 3 and 5 hidden units, ``pixels``
    observed pixels) with a bottom-up guide; data and weights drawn from ``gen``,
    param names starting with ``prefix``."""
    n, h2, h1 = 4, 3, 5
    data = (torch.rand(n, pixels, generator=gen) < 0.5).float()
    w2, w1 = torch.randn(h2, h1, generator=gen), torch.randn(h1, pixels, generator=gen)
    v1 = 0.3 * torch.randn(pixels, h1, generator=gen)
    v2 = 0.3 * torch.randn(h1, h2, generator=gen)

    def model(data: torch.Tensor) -> None:
        top = pyro.param(f"{prefix}_W2", w2.clone())
        bottom = pyro.param(f"{prefix}_W1", w1.clone())
        with pyro.plate("data", n, dim=-2):
            with pyro.plate("units2", h2, dim=-1):
                z2 = pyro.sample("z2", dist.Bernoulli(torch.full((h2,), 0.5)))
            with pyro.plate("units1", h1, dim=-1):
                z1 = pyro.sample("z1", dist.Bernoulli(logits=z2 @ top))
            with pyro.plate("pixels", pixels, dim=-1):
                pyro.sample("x", dist.Bernoulli(logits=z1 @ bottom), obs=data)

    def guide(data: torch.Tensor) -> None:
        enc1 = pyro.param(f"{prefix}_V1", v1.clone())
        enc2 = pyro.param(f"{prefix}_V2", v2.clone())
        with pyro.plate("data", n, dim=-2):
            with pyro.plate("units1", h1, dim=-1):
                z1 = pyro.sample("z1", dist.Bernoulli(logits=data @ enc1))
            with pyro.plate("units2", h2, dim=-1):
                pyro.sample("z2", dist.Bernoulli(logits=z1 @ enc2))

    return model, guide, (data,)


def _params(store: Any) -> list[torch.Tensor]:
    return [p for _, p in store.named_parameters()]


def _variants() -> dict[str, tuple[Any, ModuleType, ModuleType, Callable[[], Any]]]:
    """``{label: (elbo, pyro-like module, dist module, param store getter)}``."""
    variants: dict[str, tuple[Any, ModuleType, ModuleType, Callable[[], Any]]] = {
        "ours Trace": (Trace_ELBO(), tracegraph, tg_dist, tracegraph.get_param_store),
        "ours TraceGraph": (TraceGraph_ELBO(), tracegraph, tg_dist, tracegraph.get_param_store),
        "ours JitTraceGraph": (
            JitTraceGraph_ELBO(),
            tracegraph,
            tg_dist,
            tracegraph.get_param_store,
        ),
    }
    if importlib.util.find_spec("pyro") is not None:
        import pyro
        import pyro.distributions as pyro_dist
        import pyro.infer

        pyro.enable_validation(False)
        variants["pyro Trace"] = (pyro.infer.Trace_ELBO(), pyro, pyro_dist, pyro.get_param_store)
        variants["pyro TraceGraph"] = (
            pyro.infer.TraceGraph_ELBO(),
            pyro,
            pyro_dist,
            pyro.get_param_store,
        )
    return variants


def _stepper(
    elbo: Any, store: Callable[[], Any], model: Program, guide: Program, args: tuple
) -> Callable[[], None]:
    def step() -> None:
        elbo.loss_and_grads(model, guide, *args)
        for p in _params(store()):
            p.grad = None

    return step


def measure(steps: int, warmup: int) -> dict[str, dict[str, float]]:
    """``{model: {variant: median seconds per step}}``."""
    torch.set_num_threads(1)
    tracegraph.enable_validation(False)
    variants = _variants()
    results: dict[str, dict[str, float]] = {}
    for model_name in make_models(tracegraph, tg_dist):
        runners: dict[str, Callable[[], None]] = {}
        for label, (elbo, lib, dist, store) in variants.items():
            runners[label] = _stepper(elbo, store, *make_models(lib, dist)[model_name])
        times: dict[str, list[float]] = {label: [] for label in runners}
        for step in runners.values():
            torch.manual_seed(0)
            for _ in range(warmup):
                step()
        order = list(runners.items())
        shuffler = random.Random(0)
        for _ in range(steps):
            # Interleaved, so that all see the same machine load, and in a shuffled
            # order, so that none always follows the same one: a step runs measurably
            # slower after Pyro's TraceGraph_ELBO step (~+20%: its garbage and cache
            # footprint), and a fixed or rotating order would always bill the same
            # variant for it.
            shuffler.shuffle(order)
            for label, step in order:
                t0 = time.perf_counter()
                step()
                times[label].append(time.perf_counter() - t0)
        results[model_name] = {label: statistics.median(t) for label, t in times.items()}
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="measured steps per variant")
    parser.add_argument("--warmup", type=int, default=30, help="unmeasured steps first")
    args = parser.parse_args(argv)
    results = measure(args.steps, args.warmup)
    labels = list(next(iter(results.values())))
    print(
        f"median ms per step (loss_and_grads), {args.steps} interleaved steps "
        f"after {args.warmup} warm-up"
    )
    print(f"{'model':10}" + "".join(f"{label:>20}" for label in labels))
    for model_name, row in results.items():
        print(f"{model_name:10}" + "".join(f"{1e3 * row[label]:>20.3f}" for label in labels))
    print()
    ratios = [("TraceGraph/Trace (ours)", "ours TraceGraph", "ours Trace")]
    ratios.append(("Jit/eager TraceGraph (ours)", "ours JitTraceGraph", "ours TraceGraph"))
    if "pyro Trace" in labels:
        ratios += [
            ("TraceGraph/Trace (pyro)", "pyro TraceGraph", "pyro Trace"),
            ("ours/pyro Trace", "ours Trace", "pyro Trace"),
            ("ours/pyro TraceGraph", "ours TraceGraph", "pyro TraceGraph"),
            ("ours Jit/pyro TraceGraph", "ours JitTraceGraph", "pyro TraceGraph"),
        ]
    print(f"{'ratio':28}" + "".join(f"{m:>10}" for m in results))
    for name, num, den in ratios:
        print(f"{name:28}" + "".join(f"{row[num] / row[den]:>10.2f}" for row in results.values()))


if __name__ == "__main__":
    main()
