"""NumPyro's jitted TraceGraph_ELBO step on the six benchmark models (issue 12).

Runs in its own environment, without torch (``bash scripts/bench_env.sh numpyro``)::

    python benchmarks/bench_compiled.py --export-data out/bench_data.json   # torch side, once
    taskset -c 0 .venv-numpyro/bin/python benchmarks/bench_numpyro.py \\
        --data out/bench_data.json [--steps 500] [--models a,b] [--json out.json]

The models are ported faithfully from ``bench_models.py`` (same sites, plates,
distributions, parameterizations, initial params and data; the data and the
belief net's initial weights come from ``--data``, written by the torch side).
A *step* is ``jax.jit(jax.value_and_grad(loss))`` on the unconstrained params,
as ``SVI.update`` differentiates it, without the optimizer: ``loss`` constrains
the params and calls ``TraceGraph_ELBO().loss``; a fresh random key per step is
split inside the jitted function.  Reported: the median µs per step after
compilation (the outputs waited for with ``block_until_ready``) with the
interquartile range, and the compile time (the first call: tracing and XLA
compilation).  One CPU core: XLA runs single-threaded (flags below, set before
jax is imported) and the driver (``bench_vs_numpyro.py``) pins the process with
``taskset``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# One device, one thread: set before jax is imported.
os.environ.setdefault(
    "XLA_FLAGS",
    "--xla_force_host_platform_device_count=1 --xla_cpu_multi_thread_eigen=false "
    "intra_op_parallelism_threads=1",
)
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpyro  # noqa: E402
import numpyro.distributions as dist  # noqa: E402
from numpyro.distributions import constraints  # noqa: E402
from numpyro.infer import SVI, TraceGraph_ELBO  # noqa: E402
from numpyro.optim import SGD  # noqa: E402

MODEL_NAMES = ("beta_bernoulli", "mixture", "sbn", "chain20", "indep50", "wide")
Program = Callable[..., Any]


def beta_bernoulli(data: dict[str, Any]) -> tuple[Program, Program, tuple]:
    def model(x: jax.Array) -> None:
        f = numpyro.sample("f", dist.Beta(10.0, 10.0))
        with numpyro.plate("flips", x.shape[0]):
            numpyro.sample("x", dist.Bernoulli(probs=f), obs=x)

    def guide(x: jax.Array) -> None:
        a = numpyro.param("bb_alpha", jnp.array(15.0), constraint=constraints.positive)
        b = numpyro.param("bb_beta", jnp.array(15.0), constraint=constraints.positive)
        numpyro.sample("f", dist.Beta(a, b))

    return model, guide, (jnp.asarray(data["beta_bernoulli"]),)


def mixture(data: dict[str, Any]) -> tuple[Program, Program, tuple]:
    k = 3
    x = jnp.asarray(data["mixture"])
    m = x.shape[0]

    def model(x: jax.Array) -> None:
        locs = numpyro.sample("locs", dist.Normal(jnp.zeros(k), 5.0).to_event(1))
        with numpyro.plate("points", m):
            z = numpyro.sample("assign", dist.Categorical(probs=jnp.full((k,), 1.0 / k)))
            loc_z = (locs * jax.nn.one_hot(z, k)).sum(-1)
            numpyro.sample("x", dist.Normal(loc_z, 1.0), obs=x)

    def guide(x: jax.Array) -> None:
        loc_q = numpyro.param("gmm_loc", jnp.array([-2.0, 0.0, 2.0]))
        probs = numpyro.param(
            "gmm_probs", jnp.full((m, k), 1.0 / k), constraint=constraints.simplex
        )
        numpyro.sample("locs", dist.Normal(loc_q, 0.5).to_event(1))
        with numpyro.plate("points", m):
            numpyro.sample("assign", dist.Categorical(probs=probs))

    return model, guide, (x,)


def sbn(data: dict[str, Any]) -> tuple[Program, Program, tuple]:
    x = jnp.asarray(data["sbn"])
    w = {name: jnp.asarray(value) for name, value in data["sbn_weights"].items()}
    n, pixels = x.shape
    h2, h1 = w["sbn_W2"].shape

    def model(x: jax.Array) -> None:
        top = numpyro.param("sbn_W2", w["sbn_W2"])
        bottom = numpyro.param("sbn_W1", w["sbn_W1"])
        with numpyro.plate("data", n, dim=-2):
            with numpyro.plate("units2", h2, dim=-1):
                z2 = numpyro.sample("z2", dist.Bernoulli(probs=jnp.full((h2,), 0.5)))
            with numpyro.plate("units1", h1, dim=-1):
                z1 = numpyro.sample("z1", dist.Bernoulli(logits=z2 @ top))
            with numpyro.plate("pixels", pixels, dim=-1):
                numpyro.sample("x", dist.Bernoulli(logits=z1 @ bottom), obs=x)

    def guide(x: jax.Array) -> None:
        enc1 = numpyro.param("sbn_V1", w["sbn_V1"])
        enc2 = numpyro.param("sbn_V2", w["sbn_V2"])
        with numpyro.plate("data", n, dim=-2):
            with numpyro.plate("units1", h1, dim=-1):
                z1 = numpyro.sample("z1", dist.Bernoulli(logits=x @ enc1))
            with numpyro.plate("units2", h2, dim=-1):
                numpyro.sample("z2", dist.Bernoulli(logits=z1 @ enc2))

    return model, guide, (x,)


def chain20(data: dict[str, Any]) -> tuple[Program, Program, tuple]:
    x = jnp.asarray(data["chain20"])
    t_len = x.shape[0]

    def model(x: jax.Array) -> None:
        z = jnp.array(0.0)
        for t in range(t_len):
            z = numpyro.sample(f"z_{t}", dist.Bernoulli(probs=0.2 + 0.6 * z))
            numpyro.sample(f"x_{t}", dist.Bernoulli(probs=0.1 + 0.8 * z), obs=x[t])

    def guide(x: jax.Array) -> None:
        q = numpyro.param("chain_q", jnp.full((t_len,), 0.5), constraint=constraints.unit_interval)
        for t in range(t_len):
            numpyro.sample(f"z_{t}", dist.Bernoulli(probs=q[t]))

    return model, guide, (x,)


def indep50(data: dict[str, Any]) -> tuple[Program, Program, tuple]:
    x = jnp.asarray(data["indep50"])
    n = x.shape[0]

    def model(x: jax.Array) -> None:
        for i in range(n):
            z = numpyro.sample(f"z_{i}", dist.Bernoulli(probs=0.5))
            numpyro.sample(f"x_{i}", dist.Normal(2.0 * z - 0.5, 1.0), obs=x[i])

    def guide(x: jax.Array) -> None:
        q = numpyro.param("ind_q", jnp.full((n,), 0.4), constraint=constraints.unit_interval)
        for i in range(n):
            numpyro.sample(f"z_{i}", dist.Bernoulli(probs=q[i]))

    return model, guide, (x,)


def wide(data: dict[str, Any]) -> tuple[Program, Program, tuple]:
    x = jnp.asarray(data["wide"])
    n = x.shape[0]

    def model(x: jax.Array) -> None:
        shift = numpyro.sample("shift", dist.Normal(0.0, 1.0))
        with numpyro.plate("points", n):
            z = numpyro.sample("z", dist.Bernoulli(probs=0.5))
            numpyro.sample("x", dist.Normal(2.0 * z - 1.0 + shift, 1.0), obs=x)

    def guide(x: jax.Array) -> None:
        loc = numpyro.param("wide_loc", jnp.array(0.0))
        scale = numpyro.param("wide_scale", jnp.array(0.5), constraint=constraints.positive)
        a = numpyro.param("wide_a", jnp.array(1.0))
        b = numpyro.param("wide_b", jnp.array(0.0))
        numpyro.sample("shift", dist.Normal(loc, scale))
        with numpyro.plate("points", n):
            numpyro.sample("z", dist.Bernoulli(logits=a * x + b))

    return model, guide, (x,)


PORTS = {
    "beta_bernoulli": beta_bernoulli,
    "mixture": mixture,
    "sbn": sbn,
    "chain20": chain20,
    "indep50": indep50,
    "wide": wide,
}


def make_step(name: str, data: dict[str, Any]) -> tuple[Callable[..., Any], Any, jax.Array]:
    """The jitted step ``(unconstrained params, key) -> ((loss, grads), next key)``,
    the initial unconstrained params and a key."""
    model, guide, args = PORTS[name](data)
    elbo = TraceGraph_ELBO()
    svi = SVI(model, guide, SGD(0.0), loss=elbo)
    state = svi.init(jax.random.PRNGKey(0), *args)
    params = svi.optim.get_params(state.optim_state)

    def loss(unconstrained: dict[str, jax.Array], key: jax.Array) -> jax.Array:
        return elbo.loss(key, svi.constrain_fn(unconstrained), model, guide, *args)

    value_and_grad = jax.value_and_grad(loss)

    @jax.jit
    def step(unconstrained: dict[str, jax.Array], key: jax.Array) -> Any:
        key, sub = jax.random.split(key)
        return value_and_grad(unconstrained, sub), key

    return step, params, jax.random.PRNGKey(1)


def measure(name: str, data: dict[str, Any], steps: int, warmup: int) -> dict[str, float]:
    """``{"median", "q1", "q3" (µs per step), "compile_s"}`` for one model."""
    step, params, key = make_step(name, data)
    t0 = time.perf_counter()
    out, key = step(params, key)
    jax.block_until_ready(out)
    compile_s = time.perf_counter() - t0
    for _ in range(warmup):
        out, key = step(params, key)
        jax.block_until_ready(out)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        out, key = step(params, key)
        jax.block_until_ready(out)
        times.append(time.perf_counter() - t0)
    q1, median, q3 = statistics.quantiles(times, n=4)
    return {"median": 1e6 * median, "q1": 1e6 * q1, "q3": 1e6 * q3, "compile_s": compile_s}


def _losses(step: Callable[..., Any], params: Any, keys: jax.Array) -> jax.Array:
    # One loss per key, in one jitted, vectorized call.
    return jax.jit(jax.vmap(lambda key: step(params, key)[0][0]))(keys)


def mean_loss(names: list[str], data: dict[str, Any], n: int) -> dict[str, tuple[float, float]]:
    """``{model: (mean, standard error)}`` of ``n`` losses at the initial params, to
    compare with ``bench_compiled.py --mean-loss`` (the same ELBO: within a few SE)."""
    out = {}
    for name in names:
        step, params, _ = make_step(name, data)
        keys = jax.random.split(jax.random.PRNGKey(3), n)
        losses = _losses(step, params, keys)
        out[name] = (float(losses.mean()), float(losses.std(ddof=1) / n**0.5))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data", required=True, help="JSON from bench_compiled.py --export-data")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--models", default=",".join(MODEL_NAMES))
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--mean-loss", type=int, metavar="N", help="mean and SE of N losses")
    args = parser.parse_args(argv)
    data = json.loads(Path(args.data).read_text())
    if args.mean_loss:
        print(json.dumps(mean_loss(args.models.split(","), data, args.mean_loss)))
        return
    # jax's one-time start-up is not any model's compile time.
    jax.block_until_ready(jax.jit(lambda x: x + 1.0)(jnp.zeros(())))
    results = {
        name: measure(name, data, args.steps, args.warmup) for name in args.models.split(",")
    }
    print(f"jax {jax.__version__}, numpyro {numpyro.__version__}, {jax.devices()}")
    print(f"{'model':16}{'median µs':>12}{'IQR':>18}{'compile s':>12}")
    for name, r in results.items():
        iqr = f"[{r['q1']:.0f}-{r['q3']:.0f}]"
        print(f"{name:16}{r['median']:>12.0f}{iqr:>18}{r['compile_s']:>12.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
