"""Transforms that are also ``torch.nn.Module`` objects (learnable parameters).

Pyro's ``TransformModule`` and ``ComposeTransformModule``: a transform whose
parameters live in an ``nn.Module``, so that ``module(...)``/``pyro.module``
registers them; a composition of such transforms that registers all of theirs.

>>> import torch
>>> from torch.distributions.transforms import ExpTransform
>>> class Shift(TransformModule):
...     domain = codomain = torch.distributions.constraints.real
...     bijective = True
...     def __init__(self):
...         super().__init__()
...         self.shift = torch.nn.Parameter(torch.zeros(1))
...     def _call(self, x):
...         return x + self.shift
>>> flow = ComposeTransformModule([Shift(), ExpTransform()])
>>> [name for name, _ in flow.named_parameters()]
['0.shift']
"""

from __future__ import annotations

from typing import Any

import torch
from torch.distributions.transforms import ComposeTransform, Transform

__all__ = ["ComposeTransformModule", "TransformModule"]


class TransformModule(Transform, torch.nn.Module):
    """Base class of transforms with learnable parameters (normalizing flows).

    Subclass it instead of ``Transform`` so the transform is also an
    ``nn.Module`` (parameters, ``.to()``, ``state_dict``, ...).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)

    def __hash__(self) -> int:
        return torch.nn.Module.__hash__(self)


class ComposeTransformModule(ComposeTransform, torch.nn.ModuleList):
    """``ComposeTransform`` whose parts that are modules are registered as submodules.

    :param parts: the transforms, applied in order.
    :param cache_size: as for ``ComposeTransform``.

    >>> from torch.distributions.transforms import ExpTransform
    >>> ComposeTransformModule([ExpTransform()])(torch.zeros(1))
    tensor([1.])
    """

    def __init__(self, parts: list[Transform], cache_size: int = 0) -> None:
        ComposeTransform.__init__(self, parts, cache_size=cache_size)
        torch.nn.ModuleList.__init__(self, [p for p in parts if isinstance(p, torch.nn.Module)])

    def __hash__(self) -> int:
        return torch.nn.Module.__hash__(self)

    def with_cache(self, cache_size: int = 1) -> ComposeTransformModule:
        """This transform with another cache size (itself if the size is the same)."""
        if cache_size == self._cache_size:
            return self
        return ComposeTransformModule(self.parts, cache_size=cache_size)
