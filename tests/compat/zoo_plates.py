"""Plates: vectorized, nested, subsampled, sequential, reused, invalid; block_plate,
get_plates and get_mask.

Programs of the differential zoo (see ``differential.py``).
"""

from __future__ import annotations

from typing import Any

import torch
from differential import Lib, program, traced, with_log_probs

# -- plates ------------------------------------------------------------------------------


@program
def plate_vectorized(lib: Lib) -> Any:
    def model() -> Any:
        with lib.pyro.plate("data", 3) as idx:
            lib.pyro.sample("x", lib.dist.Normal(0.0, 1.0))
        return idx

    return with_log_probs(traced(lib, model))


@program
def plate_nested_and_explicit_dims(lib: Lib) -> Any:
    def model() -> None:
        with lib.pyro.plate("outer", 2):
            with lib.pyro.plate("inner", 3):
                lib.pyro.sample("x", lib.dist.Normal(0.0, 1.0))
        with lib.pyro.plate("a", 2, dim=-3), lib.pyro.plate("b", 4):
            lib.pyro.sample("y", lib.dist.Normal(0.0, 1.0))

    return with_log_probs(traced(lib, model))


@program
def plate_without_size(lib: Lib) -> Any:
    def model() -> Any:
        with lib.pyro.plate("p") as idx:
            lib.pyro.sample("x", lib.dist.Normal(torch.zeros(4), 1.0))
        return idx

    return traced(lib, model)


@program
def plate_sequential(lib: Lib) -> Any:
    def model() -> Any:
        seen = []
        for i in lib.pyro.plate("steps", 3):
            seen.append(i)
            lib.pyro.sample(f"x_{i}", lib.dist.Normal(0.0, 1.0))
        return seen

    return traced(lib, model)


@program
def plate_sequential_reused_counters_continue(lib: Lib) -> Any:
    def model() -> None:
        steps = lib.pyro.plate("steps", 2)
        for i in steps:
            lib.pyro.sample(f"a_{i}", lib.dist.Normal(0.0, 1.0))
        for i in steps:
            lib.pyro.sample(f"b_{i}", lib.dist.Normal(0.0, 1.0))

    return traced(lib, model)


@program
def plate_sequential_in_vectorized_and_back(lib: Lib) -> Any:
    def model() -> None:
        inner = lib.pyro.plate("inner", 2)
        with lib.pyro.plate("outer", 3, dim=-2):
            for i in lib.pyro.plate("seq", 2):
                lib.pyro.param(f"p_{i}", torch.zeros(1))
                with inner:
                    lib.pyro.sample(f"x_{i}", lib.dist.Normal(0.0, 1.0))

    return traced(lib, model)


@program
def plate_sequential_break(lib: Lib) -> Any:
    def model() -> None:
        for i in lib.pyro.plate("s", 5):
            lib.pyro.sample(f"x_{i}", lib.dist.Normal(0.0, 1.0))
            if i == 1:
                break
        lib.pyro.sample("after", lib.dist.Normal(0.0, 1.0))

    return traced(lib, model)


@program
def plate_reentered_with_twice(lib: Lib) -> Any:
    def model() -> None:
        p = lib.pyro.plate("data", 3)
        with p:
            lib.pyro.sample("x", lib.dist.Normal(0.0, 1.0))
        with p:
            lib.pyro.sample("y", lib.dist.Normal(0.0, 1.0))

    return traced(lib, model)


@program
def plate_stack_dims(lib: Lib) -> Any:
    def model() -> None:
        with lib.pyro.plate_stack("b", (2, 3), rightmost_dim=-2):
            lib.pyro.sample("x", lib.dist.Normal(0.0, 1.0))

    return traced(lib, model)


@program
def plate_outer_frames_reach_inner_index_site(lib: Lib) -> Any:
    def model() -> None:
        with lib.pyro.plate("outer", 4, subsample_size=2, dim=-2):
            with lib.pyro.plate("inner", 3):
                lib.pyro.sample("x", lib.dist.Normal(0.0, 1.0))

    return traced(lib, model)


@program
def plate_scale_times_handler_scale(lib: Lib) -> Any:
    def model() -> None:
        with lib.poutine.scale(scale=0.3), lib.pyro.plate("d", 10, subsample_size=3):
            lib.pyro.sample("x", lib.dist.Normal(0.0, 1.0))

    return traced(lib, model)


@program
def plate_unwrapped_indices(lib: Lib) -> Any:
    with lib.pyro.plate("d", 3) as idx:
        x = lib.pyro.sample("x", lib.dist.Normal(0.0, 1.0))
    return idx, x, lib.pyro.plate("e", 4).indices


@program
def plate_positive_dim_raises(lib: Lib) -> Any:
    def model() -> None:
        with lib.pyro.plate("data", 3, dim=0):
            pass

    return traced(lib, model)


@program
def plate_dim_collision_raises(lib: Lib) -> Any:
    def model() -> None:
        with lib.pyro.plate("a", 3, dim=-1), lib.pyro.plate("b", 2, dim=-1):
            pass

    return traced(lib, model)


@program
def plate_shape_mismatch_raises(lib: Lib) -> Any:
    def model() -> None:
        with lib.pyro.plate("a", 3):
            lib.pyro.sample("x", lib.dist.Normal(torch.zeros(2), 1.0))

    return traced(lib, model)


@program
def block_plate_by_name_and_dim(lib: Lib) -> Any:
    block_plate = lib.mod(".poutine.plate_messenger").block_plate

    def model() -> None:
        with lib.pyro.plate("data", 3):
            with block_plate("data"):
                s = lib.pyro.sample("s", lib.dist.LogNormal(0.0, 1.0))
            with block_plate(dim=-1):
                t = lib.pyro.sample("t", lib.dist.LogNormal(0.0, 1.0))
            lib.pyro.sample("x", lib.dist.Normal(0.0, s * t))

    return traced(lib, model)


@program
def block_plate_unmatched_strict_raises(lib: Lib) -> Any:
    block_plate = lib.mod(".poutine.plate_messenger").block_plate
    with lib.pyro.plate("data", 3), block_plate("nope"):
        pass


@program
def block_plate_unmatched_not_strict(lib: Lib) -> Any:
    block_plate = lib.mod(".poutine.plate_messenger").block_plate
    with lib.pyro.plate("data", 3), block_plate("nope", strict=False):
        return lib.pyro.sample("x", lib.dist.Normal(0.0, 1.0))


@program
def block_plate_needs_name_or_dim(lib: Lib) -> Any:
    block_plate = lib.mod(".poutine.plate_messenger").block_plate
    with lib.pyro.plate("data", 3), block_plate():
        pass


@program
def get_plates_and_get_mask(lib: Lib) -> Any:
    runtime = lib.mod(".poutine.runtime")
    out = [runtime.get_plates(), runtime.get_mask()]
    with lib.pyro.plate("a", 3), lib.pyro.plate("b", 2, dim=-3):
        out.append(runtime.get_plates())
        with lib.poutine.mask(mask=torch.tensor([True, False, True])):
            out.append(runtime.get_mask())
            with lib.poutine.mask(mask=False):
                out.append(runtime.get_mask())
        with lib.poutine.block():
            out.append((runtime.get_plates(), runtime.get_mask()))
    return out


# -- plates (second zoo) -----------------------------------------------------------------


@program
def plate_vectorized_latent_and_observed(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    def model():
        with pyro.plate("data", 3) as idx:
            x = pyro.sample("x", dist.Normal(0.0, 1.0))
            pyro.sample("y", dist.Normal(x, 1.0), obs=torch.ones(3))
        return idx

    return traced(lib, model)


@program
def plate_sequential_returns_draws(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    def model():
        out = []
        for i in pyro.plate("seq", 3):
            out.append(pyro.sample(f"x_{i}", dist.Normal(0.0, 1.0)))
        return out

    return traced(lib, model)


@program
def plate_nested_auto_dims(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    def model():
        with pyro.plate("outer", 2):
            a = pyro.sample("a", dist.Normal(0.0, 1.0))
            with pyro.plate("inner", 3):
                b = pyro.sample("b", dist.Normal(0.0, 1.0))
        return a, b

    return traced(lib, model)


@program
def plate_nested_explicit_dims(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    def model():
        with pyro.plate("x_axis", 2, dim=-3):
            with pyro.plate("y_axis", 3, dim=-1):
                return pyro.sample("z", dist.Normal(0.0, 1.0))

    return traced(lib, model)


@program
def plate_sequential_inside_vectorized(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    def model():
        with pyro.plate("outer", 2):
            for i in pyro.plate("inner", 2):
                pyro.sample(f"x_{i}", dist.Normal(0.0, 1.0))

    return traced(lib, model)


@program
def plate_vectorized_inside_sequential(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    def model():
        for i in pyro.plate("outer", 2):
            with pyro.plate(f"inner_{i}", 3):
                pyro.sample(f"x_{i}", dist.Normal(0.0, 1.0))

    return traced(lib, model)


@program
def plate_nested_sequential(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    def model():
        for i in pyro.plate("rows", 2):
            for j in pyro.plate(f"cols_{i}", 2):
                pyro.sample(f"x_{i}_{j}", dist.Bernoulli(0.5))

    return traced(lib, model)


@program
def error_nested_sequential_plate_reused_name(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    # A plate is a site too: re-entering plate "cols" in every row duplicates it.
    def model():
        for i in pyro.plate("rows", 2):
            for j in pyro.plate("cols", 2):
                pyro.sample(f"x_{i}_{j}", dist.Bernoulli(0.5))

    return traced(lib, model)


@program
def plate_reused_object(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    def model():
        p = pyro.plate("p", 2)
        with p:
            pyro.sample("a", dist.Normal(0.0, 1.0))
        with p:
            pyro.sample("b", dist.Normal(0.0, 1.0))

    return traced(lib, model)


@program
def plate_stack(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    def model():
        with pyro.plate_stack("stack", (2, 3)):
            return pyro.sample("x", dist.Normal(0.0, 1.0))

    return traced(lib, model)


@program
def plate_stack_rightmost_dim(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    def model():
        with pyro.plate_stack("stack", (2, 3), rightmost_dim=-2):
            return pyro.sample("x", dist.Normal(0.0, 1.0))

    return traced(lib, model)


@program
def plate_broadcasts_scalar_distribution(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    def model():
        with pyro.plate("a", 2, dim=-2), pyro.plate("b", 3):
            return pyro.sample("x", dist.Bernoulli(0.5))

    return traced(lib, model)


@program
def plate_with_batched_distribution(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    def model():
        with pyro.plate("p", 4):
            return pyro.sample("x", dist.Normal(torch.zeros(4), torch.ones(4)))

    return traced(lib, model)


@program
def plate_get_plates_and_mask(lib: Lib) -> Any:
    pyro, poutine = lib.pyro, lib.poutine
    runtime = poutine.runtime
    seen = {}

    def model():
        with pyro.plate("p", 2), poutine.mask(mask=torch.tensor([True, False])):
            seen["plates"] = [(f.name, f.dim, f.size) for f in runtime.get_plates()]
            seen["mask"] = runtime.get_mask()

    model()
    return seen
