"""Plates: conditional independence, vectorized or sequential, with subsampling.

A plate adds a :class:`~tracegraph.poutine.runtime.CondIndepStackFrame` to every
site inside it, broadcasts sample sites' distributions to its size, and scales
their log-probs by ``size / subsample_size`` when it subsamples.

>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> from tracegraph import poutine
>>> def model():
...     with tracegraph.plate("data", 100, subsample_size=10) as idx:
...         tracegraph.sample("x", dist.Normal(0.0, 1.0))
...     return idx
>>> tr = poutine.trace(model).get_trace()
>>> tr.nodes["x"]["scale"], tr.nodes["x"]["value"].shape
(10.0, torch.Size([10]))
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

from tracegraph.errors import PlateError
from tracegraph.poutine.broadcast_messenger import broadcast_site
from tracegraph.poutine.messenger import Messenger
from tracegraph.poutine.runtime import (
    CondIndepStackFrame,
    Message,
    apply_stack,
    get_handler_stack,
    new_message,
)

__all__ = ["PlateMessenger", "SubsampleDistribution"]


class SubsampleDistribution:
    """The "distribution" of a plate's subsample indices: a uniform random subset.

    Its log-prob is zero (the indices carry no information about the model); it is a
    sample site so that ``replay`` can give a model the guide's indices.

    >>> d = SubsampleDistribution(5, 2)
    >>> d().shape
    torch.Size([2])
    """

    has_rsample = False
    batch_shape = torch.Size()

    def __init__(self, size: int, subsample_size: int, device: Any = None) -> None:
        # The whole index vector is one event.
        self.event_shape = torch.Size([subsample_size])
        self.size = size
        self.subsample_size = subsample_size
        self.device = device

    def __call__(self) -> torch.Tensor:
        if self.subsample_size >= self.size:
            return torch.arange(self.size, device=self.device)
        return torch.randperm(self.size, device=self.device)[: self.subsample_size]

    def sample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:
        return self()

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        return torch.zeros((), device=value.device)

    def expand(self, batch_shape: Any) -> SubsampleDistribution:
        return self


def _active_plate_dims() -> dict[int, str]:
    return {
        h.dim: h.name
        for h in get_handler_stack()
        if isinstance(h, PlateMessenger) and h._vectorized and h.dim is not None
    }


class PlateMessenger(Messenger):
    """The handler behind :func:`tracegraph.plate`.

    :param name: the plate's name (unique in a model).
    :param size: the full size; may be omitted when ``subsample`` is given.
    :param subsample_size: draw this many random indices (scale = size / subsample_size).
    :param subsample: use these indices (a 1-d integer tensor).
    :param dim: the batch dim (negative); allocated on entry when None.
    :param device: device of the index tensor.
    """

    def __init__(
        self,
        name: str,
        size: int | None = None,
        subsample_size: int | None = None,
        subsample: torch.Tensor | None = None,
        dim: int | None = None,
        use_cuda: bool | None = None,
        device: Any = None,
    ) -> None:
        super().__init__()
        if not isinstance(name, str):
            raise PlateError(f"a plate's name must be a str, got {type(name).__name__}")
        if dim is not None and dim >= 0:
            raise PlateError(f"plate('{name}'): dim must be negative, got {dim}")
        if subsample is not None:
            subsample = torch.as_tensor(subsample)
            if subsample.dim() != 1:
                raise PlateError(
                    f"plate('{name}'): subsample must be 1-dimensional, got shape "
                    f"{tuple(subsample.shape)}"
                )
            if size is None:
                size = len(subsample)
            if subsample_size is not None and subsample_size != len(subsample):
                raise PlateError(
                    f"plate('{name}'): subsample_size={subsample_size} disagrees with "
                    f"len(subsample)={len(subsample)}"
                )
            subsample_size = len(subsample)
        if size is None:
            raise PlateError(f"plate('{name}') needs a size (or a subsample)")
        size = int(size)
        if size < 0:
            raise PlateError(f"plate('{name}'): size must be >= 0, got {size}")
        if subsample_size is None or subsample_size > size:
            subsample_size = size
        if subsample_size < 0:
            raise PlateError(f"plate('{name}'): subsample_size must be >= 0")
        if use_cuda and device is None:
            device = "cuda"
        self.name = name
        self.size = size
        self.subsample_size = int(subsample_size)
        self._user_subsample = subsample
        self._user_dim = dim
        self.dim: int | None = dim
        self.device = device
        self._vectorized = True
        self._counter = 0
        self._indices: torch.Tensor | None = None

    # -- subsample indices ------------------------------------------------
    def _draw_indices(self) -> torch.Tensor:
        fn = SubsampleDistribution(self.size, self.subsample_size, self.device)
        if self._user_subsample is None and self.subsample_size == self.size:
            # Nothing is subsampled: no site is recorded, as in Pyro.
            return fn()
        # The indices are a sample site so that replay can hand a model the
        # indices its guide drew.
        msg = new_message(
            "sample",
            self.name,
            fn,
            value=self._user_subsample,
            infer={"_subsample": True, "is_auxiliary": True},
        )
        apply_stack(msg)
        indices: torch.Tensor = msg["value"]
        if indices.dim() != 1 or len(indices) != self.subsample_size:
            raise PlateError(
                f"plate('{self.name}'): subsample indices of shape {tuple(indices.shape)} "
                f"do not match subsample_size={self.subsample_size}"
            )
        return indices

    @property
    def _scale(self) -> float:
        if self.subsample_size == 0:
            return 1.0
        return self.size / self.subsample_size

    # -- vectorized use ----------------------------------------------------
    def __enter__(self) -> torch.Tensor:  # type: ignore[override]
        self._vectorized = True
        used = _active_plate_dims()
        if self._user_dim is None:
            dim = -1
            while dim in used:
                dim -= 1
            self.dim = dim
        elif self._user_dim in used:
            raise PlateError(
                f"plate('{self.name}') asks for dim {self._user_dim}, which plate"
                f"('{used[self._user_dim]}') already uses; hint: leave dim=None to "
                "allocate one, or choose another dim"
            )
        self._indices = self._draw_indices()
        super().__enter__()
        return self._indices

    def __exit__(self, *exc: Any) -> None:
        super().__exit__(*exc)
        if self._user_dim is None:
            self.dim = None

    # -- sequential use ----------------------------------------------------
    def __iter__(self) -> Iterator[int]:
        indices = self._draw_indices()
        # The frame's counter is the iteration number (as in Pyro), not the index.
        for counter, i in enumerate(indices.tolist()):
            with _SequentialFrame(self, counter):
                yield int(i)

    def __len__(self) -> int:
        return self.subsample_size

    # -- effects --------------------------------------------------------------
    def _frame(self) -> CondIndepStackFrame:
        return CondIndepStackFrame(self.name, self.dim, self.subsample_size, 0, self.size)

    def _process_message(self, msg: Message) -> None:
        if msg["type"] not in ("sample", "param", "subsample"):
            return
        if msg["type"] == "sample" and msg["infer"].get("_subsample"):
            return
        msg["cond_indep_stack"] = (self._frame(),) + msg["cond_indep_stack"]
        if msg["type"] == "sample":
            scale = self._scale
            if scale != 1.0:
                msg["scale"] = scale * msg["scale"]
            broadcast_site(msg)

    def _postprocess_message(self, msg: Message) -> None:
        if msg["type"] == "param":
            self._subsample_param(msg)
        elif msg["type"] == "subsample":
            msg["value"] = self._subsample_tensor(msg["value"], msg["kwargs"]["event_dim"])

    def _subsample_tensor(self, data: Any, event_dim: int) -> Any:
        if (
            self.dim is None
            or self._indices is None
            or self.subsample_size == self.size
            or not isinstance(data, torch.Tensor)
        ):
            return data
        dim = self.dim - event_dim
        if data.dim() < -dim or data.size(dim) != self.size:
            return data
        return data.index_select(dim, self._indices.to(data.device))

    def _subsample_param(self, msg: Message) -> None:
        event_dim = msg["kwargs"].get("event_dim")
        if event_dim is not None:
            msg["value"] = self._subsample_tensor(msg["value"], event_dim)


class _SequentialFrame(Messenger):
    """One iteration of a sequential plate: a frame with no dim and a counter."""

    def __init__(self, plate: PlateMessenger, counter: int) -> None:
        super().__init__()
        self.plate = plate
        self.counter = counter

    def _process_message(self, msg: Message) -> None:
        if msg["type"] not in ("sample", "param"):
            return
        p = self.plate
        frame = CondIndepStackFrame(p.name, None, p.subsample_size, self.counter, p.size)
        msg["cond_indep_stack"] = (frame,) + msg["cond_indep_stack"]
        if msg["type"] == "sample":
            scale = p._scale
            if scale != 1.0:
                msg["scale"] = scale * msg["scale"]
