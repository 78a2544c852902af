"""Dense feed-forward networks whose output is split into named parameter blocks,
for amortized guides and conditional transforms.

>>> import torch
>>> net = DenseNN(3, [8], param_dims=[1, 2])
>>> loc, scale = net(torch.randn(5, 3))
>>> tuple(loc.shape), tuple(scale.shape)
((5, 1), (5, 2))
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["ConditionalDenseNN", "DenseNN"]


class ConditionalDenseNN(torch.nn.Module):
    """A dense network of ``x`` and a context ``context``: the context (broadcast to
    ``x``'s batch shape) and ``x`` are concatenated, in that order, and go through
    ``len(hidden_dims) + 1`` linear layers with ``nonlinearity`` between them.

    The last layer has ``sum(param_dims)`` outputs, returned as one tensor when
    ``param_dims`` has a single entry and as a tuple of slices (``(..., p)`` for
    each ``p`` in ``param_dims``) otherwise.

    :param input_dim: size of ``x``'s last dim.
    :param context_dim: size of the context's last dim.
    :param hidden_dims: widths of the hidden layers.
    :param param_dims: sizes of the output blocks.
    :param nonlinearity: the activation between layers (none after the last).

    >>> import torch
    >>> net = ConditionalDenseNN(3, 2, [8], param_dims=[1, 3])
    >>> a, b = net(torch.randn(4, 3), context=torch.randn(2))
    >>> tuple(a.shape), tuple(b.shape)
    ((4, 1), (4, 3))
    """

    def __init__(
        self,
        input_dim: int,
        context_dim: int,
        hidden_dims: list[int],
        param_dims: list[int] = [1, 1],  # noqa: B006 (Pyro's default, never mutated)
        nonlinearity: torch.nn.Module = torch.nn.ReLU(),  # noqa: B008
    ) -> None:
        super().__init__()
        self.input_dim = input_dim
        self.context_dim = context_dim
        self.hidden_dims = hidden_dims
        self.param_dims = param_dims
        self.count_params = len(param_dims)
        self.output_multiplier = sum(param_dims)
        ends = torch.tensor(list(param_dims), dtype=torch.long).cumsum(0).tolist()
        starts = [0, *ends[:-1]]
        self.param_slices = [slice(s, e) for s, e in zip(starts, ends)]
        widths: Sequence[int] = [input_dim + context_dim, *hidden_dims, self.output_multiplier]
        self.layers = torch.nn.ModuleList(
            torch.nn.Linear(widths[i], widths[i + 1]) for i in range(len(widths) - 1)
        )
        self.f = nonlinearity

    def forward(
        self, x: torch.Tensor, context: torch.Tensor
    ) -> Sequence[torch.Tensor] | torch.Tensor:
        context = context.expand(x.shape[:-1] + context.shape[-1:])
        return self._forward(torch.cat([context, x], dim=-1))

    def _forward(self, x: torch.Tensor) -> Sequence[torch.Tensor] | torch.Tensor:
        h = x
        for layer in self.layers[:-1]:
            h = self.f(layer(h))
        h = self.layers[-1](h)
        if self.count_params == 1:
            return h
        return tuple(h[..., s] for s in self.param_slices)


class DenseNN(ConditionalDenseNN):
    """A dense network of ``x`` alone: :class:`ConditionalDenseNN` without a context.

    :param input_dim: size of ``x``'s last dim.
    :param hidden_dims: widths of the hidden layers.
    :param param_dims: sizes of the output blocks (one tensor for one block, else
        a tuple).
    :param nonlinearity: the activation between layers.

    >>> import torch
    >>> DenseNN(2, [4], param_dims=[3])(torch.zeros(2)).shape
    torch.Size([3])
    """

    def __init__(
        self,
        input_dim: int,
        hidden_dims: list[int],
        param_dims: list[int] = [1, 1],  # noqa: B006
        nonlinearity: torch.nn.Module = torch.nn.ReLU(),  # noqa: B008
    ) -> None:
        super().__init__(input_dim, 0, hidden_dims, param_dims, nonlinearity)

    def forward(self, x: torch.Tensor) -> Sequence[torch.Tensor] | torch.Tensor:  # type: ignore[override]
        return self._forward(x)
