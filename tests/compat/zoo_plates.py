"""Plates: vectorized, nested, subsampled, sequential, reused, invalid; block_plate,
get_plates and get_mask.

Programs of the differential zoo (see ``differential.py``).
"""

from __future__ import annotations

from typing import Any

import torch
from differential import Lib, program, traced, with_log_probs

# -- plates -------------------------------------------------------------------


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
def plate_subsample_size(lib: Lib) -> Any:
    def model() -> Any:
        with lib.pyro.plate("data", 10, subsample_size=3) as idx:
            lib.pyro.sample("x", lib.dist.Normal(0.0, 1.0), obs=torch.zeros(3))
        return idx

    return with_log_probs(traced(lib, model))


@program
def plate_subsample_list(lib: Lib) -> Any:
    def model() -> Any:
        with lib.pyro.plate("data", 10, subsample=[1, 3, 5]) as idx:
            lib.pyro.sample("x", lib.dist.Normal(0.0, 1.0))
        return idx

    return with_log_probs(traced(lib, model))


@program
def plate_subsample_tuple_and_tensor(lib: Lib) -> Any:
    def model() -> Any:
        with lib.pyro.plate("a", 6, subsample=(0, 5)) as ia:
            lib.pyro.sample("x", lib.dist.Normal(0.0, 1.0))
        with lib.pyro.plate("b", 6, subsample=torch.tensor([2, 4, 1])) as ib:
            lib.pyro.sample("y", lib.dist.Normal(0.0, 1.0))
        return ia, ib

    return traced(lib, model)


@program
def plate_subsample_repeated_indices(lib: Lib) -> Any:
    def model() -> None:
        with lib.pyro.plate("data", 2, subsample=[0, 1, 1, 0]):
            lib.pyro.sample("x", lib.dist.Normal(0.0, 1.0))

    return traced(lib, model)


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
def plate_sequential_subsampled_and_listed(lib: Lib) -> Any:
    def model() -> None:
        for i in lib.pyro.plate("s", 10, subsample_size=2):
            lib.pyro.sample(f"x_{i}", lib.dist.Normal(0.0, 1.0))
        for i in lib.pyro.plate("t", 5, subsample=[4, 2]):
            lib.pyro.sample(f"y_{i}", lib.dist.Normal(0.0, 1.0))

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
def plate_subsampled_param_and_nested_scales(lib: Lib) -> Any:
    def model() -> None:
        with lib.pyro.plate("a", 10, subsample_size=5, dim=-2):
            with lib.pyro.plate("b", 6, subsample_size=2):
                lib.pyro.param("w", torch.arange(6.0), event_dim=0)
                lib.pyro.sample("x", lib.dist.Normal(0.0, 1.0))

    return with_log_probs(traced(lib, model))


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
def plate_subsample_size_too_large_raises(lib: Lib) -> Any:
    def model() -> None:
        with lib.pyro.plate("data", 3, subsample_size=5):
            pass

    return traced(lib, model)


@program
def plate_subsample_size_disagrees_raises(lib: Lib) -> Any:
    return lib.pyro.plate("data", 5, subsample=[1, 2], subsample_size=3)


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
def plate_subsampled_twice_raises(lib: Lib) -> Any:
    def model() -> None:
        for _ in range(2):
            with lib.pyro.plate("a", 5, subsample_size=2):
                pass

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
