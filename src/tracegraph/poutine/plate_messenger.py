"""Plates: conditional independence, vectorized (``with``) or sequential (``for``),
with subsampling and broadcasting.

A plate is a :class:`~tracegraph.poutine.subsample_messenger.SubsampleMessenger`
(frames, scale, subsample site, subsampled params and data) that also broadcasts
the distributions of the sample sites inside it to its size.  As in Pyro, a plate
built under a handler records a subsample site named after it, also when it does
not subsample, and the frame of the ``n``-th iteration of a sequential plate has
``counter == n`` (counting from 1, and on across loops over the same plate).

>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> from tracegraph import poutine
>>> def model():
...     with tracegraph.plate("data", 100, subsample_size=10) as idx:
...         tracegraph.sample("x", dist.Normal(0.0, 1.0))
...     return idx
>>> tr = poutine.trace(model).get_trace()
>>> list(tr.nodes), tr.nodes["x"]["scale"], tr.nodes["x"]["value"].shape
(['_INPUT', 'data', 'x', '_RETURN'], 10.0, torch.Size([10]))
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tracegraph.errors import PlateError
from tracegraph.poutine.broadcast_messenger import BroadcastMessenger, broadcast_site
from tracegraph.poutine.messenger import Messenger, block_messengers
from tracegraph.poutine.runtime import Message
from tracegraph.poutine.subsample_messenger import SubsampleDistribution, SubsampleMessenger

__all__ = [
    "BroadcastMessenger",
    "Messenger",
    "PlateMessenger",
    "SubsampleDistribution",
    "SubsampleMessenger",
    "block_messengers",
    "block_plate",
]


class PlateMessenger(SubsampleMessenger):
    """The handler behind :func:`tracegraph.plate` (parameters as
    :class:`~tracegraph.poutine.subsample_messenger.SubsampleMessenger`).

    ``with`` returns the subsample indices (a tensor, or the ``subsample`` list as
    given); ``for`` yields them one by one as Python numbers.

    >>> with PlateMessenger("data", 10, subsample=[1, 3, 5]) as idx:
    ...     idx
    [1, 3, 5]
    """

    def __enter__(self) -> Any:  # type: ignore[override]
        super().__enter__()
        return self.indices if self.size != -1 else None

    def _process_message(self, msg: Message) -> None:
        super()._process_message(msg)
        if self._vectorized and msg["type"] == "sample":
            broadcast_site(msg)


def _matches(handler: Messenger, name: Any, dim: int | None) -> bool:
    if not isinstance(handler, SubsampleMessenger):
        return False
    if name is not None:
        return bool(handler.name == name)
    return bool(handler._vectorized and handler.dim == dim)


@contextmanager
def block_plate(
    name: str | None = None, dim: int | None = None, *, strict: bool = True
) -> Iterator[None]:
    """Hide one enclosing plate (by ``name`` or by ``dim``) from the sites inside
    the block, e.g. to draw a global variable lazily inside a plate.

    :param name: the name of the plate to hide.
    :param dim: the (negative) dim of the plate to hide.
    :param strict: raise when no enclosing plate matches.
    :raises PlateError: (a ``ValueError``) unless exactly one of ``name`` and
        ``dim`` is given, or, with ``strict``, when no enclosing plate matches.

    >>> import tracegraph
    >>> import tracegraph.distributions as dist
    >>> with tracegraph.plate("data", 3):
    ...     with block_plate("data"):
    ...         scale = tracegraph.sample("scale", dist.LogNormal(0.0, 1.0))
    ...     tracegraph.sample("x", dist.Normal(0.0, scale)).shape
    torch.Size([3])
    >>> scale.shape
    torch.Size([])
    """
    if (name is None) == (dim is None):
        raise PlateError(
            f"block_plate: give exactly one of name and dim, got name={name!r}, dim={dim!r}"
        )
    with block_messengers(lambda h: _matches(h, name, dim)) as blocked:
        if strict and not blocked:
            what = f"name={name!r}" if name is not None else f"dim={dim!r}"
            raise PlateError(
                f"block_plate({what}) matched no enclosing plate; hint: remove the "
                "block_plate or pass strict=False"
            )
        yield
