"""Conditional independence with subsampling, without broadcasting (Pyro's
``SubsampleMessenger``, the base of :class:`~tracegraph.poutine.plate_messenger.PlateMessenger`).

A subsample messenger is built with a name and a size (and optionally a
``subsample_size`` or explicit ``subsample`` indices).  Built under a handler, it
records its indices as a sample site named after it (the *subsample site*), so
that ``replay`` can give a model the indices its guide drew.  Inside it, every
message gets a :class:`~tracegraph.poutine.runtime.CondIndepStackFrame` and has
its scale multiplied by ``size / subsample_size``; ``param`` sites with an
``event_dim`` and :func:`tracegraph.subsample` data are indexed by the indices.

>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> from tracegraph import poutine
>>> def model():
...     with SubsampleMessenger("data", 10, subsample_size=2):
...         tracegraph.sample("x", dist.Normal(0.0, 1.0))
>>> tr = poutine.trace(model).get_trace()
>>> list(tr.nodes), tr.nodes["x"]["scale"], tr.nodes["x"]["value"].shape
(['_INPUT', 'data', 'x', '_RETURN'], 5.0, torch.Size([]))
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from tracegraph.errors import PlateArgumentError, PlateAssertionError, PlateError
from tracegraph.poutine.messenger import Messenger
from tracegraph.poutine.runtime import (
    CondIndepStackFrame,
    Message,
    _discard,
    am_i_wrapped,
    apply_stack,
    get_handler_stack,
    new_sample_message,
)

__all__ = ["SubsampleDistribution", "SubsampleMessenger"]


class SubsampleDistribution:
    """The "distribution" of a plate's subsample indices: a uniform random subset
    of ``range(size)`` of ``subsample_size`` elements (all of them, in order,
    when ``subsample_size == size``).

    Its log-prob is zero: the indices carry no information about the model.

    >>> d = SubsampleDistribution(5, 2)
    >>> d().shape, d.log_prob(d())
    (torch.Size([2]), tensor(0.))
    """

    has_rsample = False
    has_enumerate_support = False
    # As Pyro's shape tables show it: no batch or event dims of its own (the
    # index vector's length shows as the value's shape).
    batch_shape = torch.Size()
    event_shape = torch.Size()

    def __init__(
        self, size: int, subsample_size: int, use_cuda: bool | None = None, device: Any = None
    ) -> None:
        self.size = size
        self.subsample_size = subsample_size
        self.use_cuda = use_cuda
        self.device = device

    def __call__(self) -> torch.Tensor:
        if self.subsample_size >= self.size:
            return torch.arange(self.size, device=self.device)
        return torch.randperm(self.size, device=self.device)[: self.subsample_size]

    def sample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:
        return self()

    def log_prob(self, value: Any) -> torch.Tensor:
        device = value.device if isinstance(value, torch.Tensor) else None
        return torch.zeros((), device=device)

    def expand(self, batch_shape: Any) -> SubsampleDistribution:
        return self


def _integral(plate: str, what: str, value: Any) -> int:
    # Sizes may be ints, integral floats or 0-d integer tensors; anything else
    # (2.5) would silently change the plate's size or scale.
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise PlateError(f"plate('{plate}'): {what} must be a number, got shape {value.shape}")
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise PlateArgumentError(
            f"plate('{plate}'): {what} must be an int, got {type(value).__name__}"
        )
    value = float(value) if not isinstance(value, numbers.Integral) else int(value)
    if value != int(value):
        raise PlateError(
            f"plate('{plate}'): {what} must be a whole number, got {value!r}; hint: a plate "
            f"counts conditionally independent items, e.g. {what}=len(data)"
        )
    return int(value)


def _active_vectorized_dims() -> dict[int, Any]:
    return {
        h.dim: h.name
        for h in get_handler_stack()
        if isinstance(h, SubsampleMessenger) and h._vectorized and h.dim is not None
    }


class SubsampleMessenger(Messenger):
    """Handler that marks its sites conditionally independent and subsamples them.

    :param name: the plate's name.
    :param size: the full size.  Without it (and without ``subsample_size`` and
        ``subsample``, which need it), the plate has size -1: a frame without
        subsampling or broadcasting.
    :param subsample_size: draw this many random indices (scale =
        ``size / subsample_size``); must not exceed ``size``.
    :param subsample: use these indices (a 1-d integer tensor, or a list or tuple,
        which ``with`` then returns as it is).
    :param dim: the batch dim (negative); allocated on entry when None.
    :param use_cuda: put the indices on CUDA.
    :param device: the device of the indices.
    :raises PlateError: for a size or subsample size that is not a whole number, a
        subsample size larger than the size, a positive dim, or indices whose
        number disagrees with ``subsample_size``.
    :raises PlateAssertionError: (an ``AssertionError``, as Pyro's) for
        ``subsample`` or ``subsample_size`` without ``size``.

    ``with`` returns the messenger itself (a plate returns its indices).

    >>> with SubsampleMessenger("data", 3) as m:
    ...     m.indices
    tensor([0, 1, 2])
    """

    def __init__(
        self,
        name: str,
        size: int | None = None,
        subsample_size: int | None = None,
        subsample: torch.Tensor | Sequence[int] | None = None,
        dim: int | None = None,
        use_cuda: bool | None = None,
        device: Any = None,
    ) -> None:
        super().__init__()
        if dim is not None and dim >= 0:
            raise PlateError(
                f"plate('{name}'): dim must be negative (counted from the right), got {dim}"
            )
        self.name = name
        self.dim: int | None = dim
        self._user_dim = dim
        self.device = "cuda" if use_cuda and device is None else device
        self._use_cuda = use_cuda
        self.counter = 0
        # None until entered; then True inside ``with``, False inside ``for``.
        self._vectorized: bool | None = None
        if size is None and (subsample is not None or subsample_size is not None):
            given = "subsample" if subsample is not None else "subsample_size"
            raise PlateAssertionError(
                f"plate('{name}'): {given} needs the plate's full size; hint: pass "
                f"size=len(data) along with {given}="
            )
        # Whether the user fixed the number of indices; if not, indices that a
        # handler supplies (replay of a guide that subsamples, condition) set it.
        count_given = subsample is not None or subsample_size is not None
        if subsample is not None:
            if isinstance(subsample, torch.Tensor) and subsample.dim() != 1:
                raise PlateError(
                    f"plate('{name}'): subsample must be 1-dimensional, got shape "
                    f"{tuple(subsample.shape)}"
                )
            n = len(subsample)
            if (
                subsample_size is not None
                and _integral(name, "subsample_size", subsample_size) != n
            ):
                raise PlateError(
                    f"plate('{name}'): subsample_size={subsample_size} disagrees with "
                    f"len(subsample)={n}"
                )
            subsample_size = n
            size = _integral(name, "size", size)
        elif size is None:
            size = subsample_size = -1
        else:
            size = _integral(name, "size", size)
            if size < 0:
                raise PlateError(f"plate('{name}'): size must be >= 0, got {size}")
            if subsample_size is None:
                subsample_size = size
            else:
                subsample_size = _integral(name, "subsample_size", subsample_size)
                if not 0 <= subsample_size <= size:
                    raise PlateError(
                        f"plate('{name}'): subsample_size={subsample_size} must be between 0 "
                        f"and the plate's size {size}; hint: a plate draws subsample_size of "
                        f"its size items without replacement"
                    )
        self.size: int = size
        self._subsample_size_given = count_given
        self.subsample_size: int = subsample_size
        self._subsampled = subsample is not None or 0 <= subsample_size < size
        self._indices: Any = self._draw_indices(subsample)

    # -- subsample indices ------------------------------------------------
    def _draw_indices(self, subsample: Any) -> Any:
        if self.size == -1:
            return None
        fn = SubsampleDistribution(self.size, self.subsample_size, self._use_cuda, self.device)
        if not am_i_wrapped():
            return fn() if subsample is None else subsample
        # The indices are a sample site so that replay can hand a model the
        # indices its guide drew.
        msg = new_sample_message(self.name, fn, value=subsample)
        apply_stack(msg)
        indices = msg["value"]
        if len(indices) != self.subsample_size and not self._subsample_size_given:
            # As Pyro: a plate that did not fix its subsample size takes the number
            # of indices it was given (its scale becomes size / that number).
            self.subsample_size = len(indices)
            self._subsampled = True
        elif len(indices) != self.subsample_size:
            raise PlateError(
                f"plate('{self.name}'): got {len(indices)} subsample indices but "
                f"subsample_size={self.subsample_size}; hint: did the model and the guide use "
                "different subsample sizes?"
            )
        return indices

    @property
    def indices(self) -> Any:
        """The subsample indices (``range(size)`` as a tensor when not subsampled).

        >>> SubsampleMessenger("d", 4, subsample=[3, 1]).indices
        [3, 1]
        """
        if self._indices is None:
            self._indices = torch.arange(max(self.size, 0), device=self.device)
        return self._indices

    def _index_tensor(self) -> torch.Tensor:
        idx = self.indices
        if isinstance(idx, torch.Tensor):
            return idx
        return torch.as_tensor(list(idx), dtype=torch.long, device=self.device)

    @property
    def _scale(self) -> float:
        if self.subsample_size in (0, self.size):
            return 1.0
        return self.size / self.subsample_size

    def next_context(self) -> None:
        """Move to the next iteration of a sequential plate (increment ``counter``).

        >>> m = SubsampleMessenger("d", 2); m.next_context(); m.counter
        1
        """
        self.counter += 1

    def _reset(self) -> None:
        self.counter = 0
        self._indices = None

    # -- vectorized use -----------------------------------------------------
    def __enter__(self) -> Any:
        used = _active_vectorized_dims()
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
        self._vectorized = True
        super().__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        super().__exit__(*exc)
        self._vectorized = None
        if self._user_dim is None:
            self.dim = None

    # -- sequential use -----------------------------------------------------
    def __iter__(self) -> Iterator[Any]:
        indices = self.indices
        values = indices.tolist() if isinstance(indices, torch.Tensor) else list(indices)
        for i in values:
            self.next_context()
            self._vectorized = False
            self.dim = None
            Messenger.__enter__(self)
            try:
                yield i
            except BaseException:
                # Closed early (``break``, an exception in the loop body): the
                # generator may be finalized by the garbage collector, in another
                # context, after other handlers were entered.  Leave quietly.
                _discard(self)
                self._vectorized = None
                raise
            Messenger.__exit__(self, None, None, None)
            self._vectorized = None

    # -- effects --------------------------------------------------------------
    def _frame(self) -> CondIndepStackFrame:
        dim = self.dim if self._vectorized else None
        return CondIndepStackFrame(self.name, dim, self.subsample_size, self.counter, self.size)

    def _process_message(self, msg: Message) -> None:
        msg["cond_indep_stack"] = (self._frame(),) + msg["cond_indep_stack"]
        scale = self._scale
        if scale != 1.0:
            msg["scale"] = scale * msg["scale"]

    def _postprocess_message(self, msg: Message) -> None:
        if msg["type"] not in ("param", "subsample"):
            return
        event_dim = msg["kwargs"].get("event_dim")
        if event_dim is not None:
            msg["value"] = self._subsample_tensor(msg["value"], event_dim)

    def _subsample_tensor(self, data: Any, event_dim: int) -> Any:
        if (
            not self._vectorized
            or self.dim is None
            or not self._subsampled
            or not isinstance(data, torch.Tensor)
        ):
            return data
        dim = self.dim - event_dim
        if data.dim() < -dim or data.size(dim) != self.size:
            return data
        return data.index_select(dim, self._index_tensor().to(data.device))
