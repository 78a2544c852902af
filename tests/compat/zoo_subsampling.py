"""Subsampling plates: subsample sizes, explicit indices (tensors, lists, tuples),
sequential subsampling, the ``subsample`` effect, scales, and invalid sizes.

Programs of the differential zoo (see ``differential.py``).
"""

from __future__ import annotations

from typing import Any

import torch
from differential import Lib, program, traced, with_log_probs

# -- subsampling -------------------------------------------------------------------------


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
def plate_sequential_subsampled_and_listed(lib: Lib) -> Any:
    def model() -> None:
        for i in lib.pyro.plate("s", 10, subsample_size=2):
            lib.pyro.sample(f"x_{i}", lib.dist.Normal(0.0, 1.0))
        for i in lib.pyro.plate("t", 5, subsample=[4, 2]):
            lib.pyro.sample(f"y_{i}", lib.dist.Normal(0.0, 1.0))

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
def plate_subsample_size_too_large_raises(lib: Lib) -> Any:
    def model() -> None:
        with lib.pyro.plate("data", 3, subsample_size=5):
            pass

    return traced(lib, model)


@program
def plate_subsample_size_disagrees_raises(lib: Lib) -> Any:
    return lib.pyro.plate("data", 5, subsample=[1, 2], subsample_size=3)


@program
def plate_subsampled_twice_raises(lib: Lib) -> Any:
    def model() -> None:
        for _ in range(2):
            with lib.pyro.plate("a", 5, subsample_size=2):
                pass

    return traced(lib, model)


# -- subsampling (second zoo) ------------------------------------------------------------


@program
def plate_subsample_size_indexes_data(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    def model(data):
        with pyro.plate("data", len(data), subsample_size=3) as idx:
            pyro.sample("obs", dist.Normal(0.0, 1.0), obs=data[idx])
        return idx

    return traced(lib, model, torch.arange(10.0))


@program
def plate_subsample_tensor(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    def model():
        with pyro.plate("data", 6, subsample=torch.tensor([0, 2, 5])) as idx:
            pyro.sample("x", dist.Normal(0.0, 1.0))
        return idx

    return traced(lib, model)


@program
def error_plate_size_none_with_subsample(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    def model():
        with pyro.plate("data", subsample=torch.tensor([0, 1, 2])) as idx:
            pyro.sample("x", dist.Normal(0.0, 1.0))
        return idx

    return traced(lib, model)


@program
def plate_subsample_primitive(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    def model(data):
        with pyro.plate("data", 8, subsample_size=3):
            batch = pyro.subsample(data, event_dim=1)
            pyro.sample("obs", dist.Normal(0.0, 1.0).expand([3, 2]).to_event(1), obs=batch)
        return batch

    return traced(lib, model, torch.arange(16.0).reshape(8, 2))


@program
def plate_subsample_primitive_outside_plate(lib: Lib) -> Any:
    pyro = lib.pyro
    return pyro.subsample(torch.arange(4.0), event_dim=0)


@program
def plate_sequential_subsample(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    def model():
        for i in pyro.plate("seq", 10, subsample_size=3):
            pyro.sample(f"x_{int(i)}", dist.Normal(0.0, 1.0))

    return traced(lib, model)
