"""Where the time of one compiled SVI step goes (``bench_compiled.py --profile``).

Each part of our ``JitTraceGraph_ELBO.loss_and_grads`` on the compiled path is
timed alone, as the median of ``n`` calls on a warm, compiled plan:

* ``split_arguments``: flattening the step's arguments (``pytree``);
* ``inputs_match``: the per-step check that the arguments and the param store
  fit the plan (Python);
* ``RngState``: the generator snapshot taken before every replay;
* ``input list``: detaching the leaves and gathering the graph inputs (Python);
* ``compiled call``: the inductor-compiled graph alone (forward, backward and
  the draws, as fused C++ kernels plus the aten calls it falls back to); the
  same for the recorded FX graph replayed op by op, for comparison;
* ``guards``: reading the guard tensors (``.item()``) and comparing;
* ``_apply``: the gradients written into ``.grad`` (clones, on zeroed grads);
* ``zero grads``: the benchmark's clearing of the gradients.

The rest of the measured step (``step - sum of parts``) is the Python around
them (``loss_and_grads``' dispatch, the ``float()`` of the loss, the replay
bookkeeping in ``Plan.run``).  The compiled graph's wrapper is listed by kind (fused kernels, aten
fallbacks), and the hand-written step is split into its forward and backward.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph.infer.compiled import split_arguments
from tracegraph.ops.rng import RngState


def _parts(elbo: Any, plan: Any, args: tuple, median_us: Callable[..., float], n: int) -> dict:
    store = tracegraph.get_param_store()
    flat, treedef = split_arguments(args, {})

    def inputs() -> list[torch.Tensor]:
        found = [leaf.detach() for leaf in plan.leaves]
        found += [store[name].detach() for name in plan.averages]
        found += [flat[i] for i in plan.spec.tensor_at]
        return found

    graph_inputs = inputs()

    def call(runner: Callable[..., Any]) -> Callable[[], Any]:
        def run() -> Any:
            with torch.no_grad():
                return runner(*graph_inputs)

        return run

    out = tuple(call(plan.compiled)())
    k = 1 + len(plan.leaves) + len(plan.averages)
    guard_tensors = out[k:]

    def guards() -> bool:
        return all(t.item() == v for t, v in zip(guard_tensors, plan.expected))

    def apply() -> None:
        elbo._apply(plan, out[:k])
        for leaf in plan.leaves:
            leaf.grad = None

    def zero() -> None:
        for _, p in store.named_parameters():
            p.grad = None

    return {
        "split_arguments": median_us(lambda: split_arguments(args, {}), n),
        "inputs_match": median_us(lambda: plan.inputs_match(flat, treedef), n),
        "RngState": median_us(lambda: RngState(host=False), n),
        "input list": median_us(inputs, n),
        "compiled call": median_us(call(plan.compiled), n),
        "guards": median_us(guards, n),
        "_apply (+ clearing)": median_us(apply, n),
        "zero grads": median_us(zero, n),
        "FX graph call (not in step)": median_us(call(plan.graph), n),
        "plan.run (compiled)": median_us(lambda: plan.run(flat, True), n),
        "guard count": len(plan.expected),
        "graph nodes": sum(1 for node in plan.graph.graph.nodes if node.op == "call_function"),
    }


def wrapper_summary(plan: Any) -> dict[str, int]:
    """What the compiled wrapper calls: fused kernels, aten fallbacks, extern kernels."""
    source = getattr(plan.compiled, "source_code", "") or ""
    body = source.split("def call(", 1)[-1]
    return {
        "fused kernel calls": len(re.findall(r"^\s+cpp_fused_\w+\(", body, re.M)),
        "aten fallback calls": len(re.findall(r"= torch\.ops\.aten\.\w+", body)),
        "extern kernel calls": len(re.findall(r"extern_kernels\.\w+\(", body)),
        "size/alignment asserts": len(
            re.findall(r"^\s+assert_(size_stride|alignment)\(", body, re.M)
        ),
    }


def print_profile(
    name: str,
    n: int,
    jit_runner: Callable[[str, bool], Any],
    hand_runner: Callable[[str], Any],
    median_us: Callable[..., float],
) -> None:
    """Print the breakdown for model ``name`` (see the module docstring)."""
    from bench_models import make_models
    from handwritten import HANDWRITTEN

    tracegraph.clear_param_store()
    runner = jit_runner(name, True)
    torch.manual_seed(0)
    for _ in range(30):
        runner.warm()
    runner.ready()
    jit = runner.elbo
    plan = jit._plans[0]
    _, _, args = make_models(tracegraph, dist)[name]
    step_us = median_us(runner.step, n)
    parts = _parts(jit, plan, args, median_us, n)
    in_step = [
        "split_arguments",
        "inputs_match",
        "RngState",
        "input list",
        "compiled call",
        "guards",
        "_apply (+ clearing)",
        "zero grads",
    ]
    rest = step_us - sum(parts[p] for p in in_step)
    print(f"{name}: our compiled step, median of {n} (µs)")
    print(f"  {'whole step':32}{step_us:9.1f}")
    for p in in_step:
        print(f"  {p:32}{parts[p]:9.1f}  {100 * parts[p] / step_us:5.1f} %")
    print(f"  {'rest (Python around them)':32}{rest:9.1f}  {100 * rest / step_us:5.1f} %")
    for p in ("plan.run (compiled)", "FX graph call (not in step)"):
        print(f"  {p:32}{parts[p]:9.1f}")
    print(f"  guards: {parts['guard count']}; recorded graph: {parts['graph nodes']} aten ops")
    print("  compiled wrapper: " + ", ".join(f"{k} {v}" for k, v in wrapper_summary(plan).items()))
    hand = HANDWRITTEN[name](*args)
    torch.manual_seed(0)

    def forward() -> None:
        hand.objective()

    def whole() -> None:
        hand.loss_and_grads()
        hand.zero_grad()

    fwd, total = median_us(forward, n), median_us(whole, n)
    print(
        f"  hand-written: step {total:.1f}, forward {fwd:.1f}, backward and rest {total - fwd:.1f}"
    )
