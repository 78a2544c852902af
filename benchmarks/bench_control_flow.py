"""Control flow: a latent decides (through ``.item()``) whether a later site exists.

The same model runs through Pyro (in the bench environment) or tracegraph; the
mean of many TraceGraph_ELBO gradient estimates is compared with the exact
gradient, computed in closed form by enumerating the latent.

    .venv-bench/bin/python benchmarks/bench_control_flow.py pyro
    .venv/bin/python benchmarks/bench_control_flow.py tracegraph
"""

from __future__ import annotations

import argparse
import math
from types import ModuleType

import torch

Q0 = 0.3  # the guide's initial Bernoulli probability
OBS = 3.0  # x is observed at 3 under N(0, 1), only when a == 1


def exact_gradient() -> float:
    """d ELBO / d logit(q) at q = Q0, by enumerating a in {0, 1}."""
    u = torch.logit(torch.tensor(Q0)).requires_grad_()
    q = torch.sigmoid(u)
    log_half = math.log(0.5)
    log_x = torch.distributions.Normal(0.0, 1.0).log_prob(torch.tensor(OBS))
    elbo = q * (log_half + log_x - q.log()) + (1 - q) * (log_half - (1 - q).log())
    elbo.backward()
    assert u.grad is not None
    return u.grad.item()


def estimate(
    pyro: ModuleType, dist: ModuleType, infer: ModuleType, constraints: ModuleType, draws: int
) -> tuple[float, float]:
    """Mean and standard error of the estimator's d ELBO / d logit(q)."""

    def model() -> None:
        a = pyro.sample("a", dist.Bernoulli(0.5))
        if a.item() == 1.0:
            pyro.sample("x", dist.Normal(0.0, 1.0), obs=torch.tensor(OBS))

    def guide() -> None:
        q = pyro.param("q", torch.tensor(Q0), constraint=constraints.unit_interval)
        pyro.sample("a", dist.Bernoulli(q))

    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    elbo = infer.TraceGraph_ELBO()
    grads = []
    for _ in range(draws):
        elbo.loss_and_grads(model, guide)
        unconstrained = pyro.param("q").unconstrained()
        grads.append(-unconstrained.grad.item())  # the loss is -ELBO
        unconstrained.grad = None
    g = torch.tensor(grads)
    return g.mean().item(), (g.std() / math.sqrt(draws)).item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("library", choices=["pyro", "tracegraph"])
    parser.add_argument("--draws", type=int, default=4000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.library == "pyro":
        import pyro
        import pyro.distributions as dist
        import pyro.infer as infer
        from torch.distributions import constraints
    else:
        import tracegraph as pyro  # type: ignore[no-redef]
        import tracegraph.distributions as dist  # type: ignore[no-redef]
        import tracegraph.infer as infer  # type: ignore[no-redef]
        from tracegraph.distributions import constraints  # type: ignore[no-redef]
    mean, se = estimate(pyro, dist, infer, constraints, args.draws)
    exact = exact_gradient()
    print(f"exact gradient        {exact:+.3f}")
    print(f"{args.library:10s} estimate   {mean:+.3f} +- {se:.3f} (SE, {args.draws} draws)")
    print(f"off by                {abs(mean - exact) / se:.1f} standard errors")


if __name__ == "__main__":
    main()
