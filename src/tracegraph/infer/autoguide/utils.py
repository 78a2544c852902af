"""Helpers shared by the autoguides: nested attributes named by dotted site names,
support errors that name the site, and the entropy of a mean-field model.

>>> import torch
>>> from tracegraph.nn import PyroModule
>>> root = PyroModule()
>>> deep_setattr(root, "layer.weight", torch.nn.Parameter(torch.zeros(1)))
>>> type(root.layer).__name__, deep_getattr(root, "layer.weight").shape
('PyroModule', torch.Size([1]))
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

from tracegraph.errors import SiteError
from tracegraph.nn import PyroModule
from tracegraph.poutine import handlers
from tracegraph.poutine.sites import site_is_subsample

__all__ = [
    "PyroModule",
    "UnsupportedSiteError",
    "deep_getattr",
    "deep_setattr",
    "helpful_support_errors",
    "mean_field_entropy",
    "periodic_repeat",
]


class UnsupportedSiteError(SiteError):
    """A guide met a site whose support it cannot handle (Pyro raises ``ValueError``).

    >>> issubclass(UnsupportedSiteError, ValueError)
    True
    """


def deep_setattr(obj: Any, key: str, val: Any) -> None:
    """Set the dotted attribute ``key`` of ``obj``, creating a :class:`PyroModule`
    for every missing prefix.

    >>> root = PyroModule()
    >>> deep_setattr(root, "a.b", torch.nn.Parameter(torch.ones(1)))
    >>> root.a.b.tolist()
    [1.0]
    """
    *path, last = key.split(".")
    for part in path:
        child = getattr(obj, part, None)
        if child is None:
            setattr(obj, part, PyroModule())
            child = getattr(obj, part)
        obj = child
    setattr(obj, last, val)


def deep_getattr(obj: Any, key: str) -> Any:
    """Read the dotted attribute ``key`` of ``obj``.

    >>> root = PyroModule(); deep_setattr(root, "a.b", torch.nn.Parameter(torch.ones(1)))
    >>> deep_getattr(root, "a.b").tolist()
    [1.0]
    """
    return functools.reduce(getattr, key.split("."), obj)


@contextmanager
def helpful_support_errors(site: Any) -> Iterator[None]:
    """Turn "cannot transform this support" (raised for a discrete site by a
    continuous guide) into an error that names the site and says what to do.

    :raises UnsupportedSiteError: (a ``ValueError``) for a discrete site.

    >>> import tracegraph.distributions as dist
    >>> site = {"name": "k", "fn": dist.Bernoulli(0.5)}
    >>> with helpful_support_errors(site):
    ...     torch.distributions.biject_to(site["fn"].support)
    Traceback (most recent call last):
    ...
    tracegraph.infer.autoguide.utils.UnsupportedSiteError: continuous inference cannot ...
    """
    try:
        yield
    except NotImplementedError as e:
        support = getattr(site.get("fn"), "support", None)
        if getattr(support, "is_discrete", False):
            name = site["name"]
            raise UnsupportedSiteError(
                f"continuous inference cannot handle discrete sample site {name!r} "
                f"(support {support}); give it a discrete guide, e.g. "
                f"AutoGuideList with AutoNormal(poutine.block(model, hide=[{name!r}])) and "
                f"AutoDiscrete(poutine.block(model, expose=[{name!r}])), or use AutoMixed(model)"
            ) from e
        raise


def periodic_repeat(tensor: torch.Tensor, size: int, dim: int) -> torch.Tensor:
    """Repeat ``tensor`` periodically along ``dim`` up to length ``size``.

    >>> periodic_repeat(torch.tensor([1, 2, 3]), 7, 0).tolist()
    [1, 2, 3, 1, 2, 3, 1]
    """
    if dim >= 0:
        dim -= tensor.dim()
    period = tensor.size(dim)
    repeats = [1] * tensor.dim()
    repeats[dim] = (size + period - 1) // period
    return tensor.repeat(*repeats)[(Ellipsis, slice(None, size)) + (slice(None),) * (-1 - dim)]


def mean_field_entropy(
    model: Callable[..., Any], args: Any, whitelist: list[str] | None = None
) -> torch.Tensor:
    """The entropy of ``model`` run on ``args``, as if every sample site were
    independent: the sum of the sites' entropies (only the ``whitelist`` sites
    when given; plate index sites never count).

    >>> import tracegraph, tracegraph.distributions as dist
    >>> def model():
    ...     tracegraph.sample("a", dist.Normal(0.0, 1.0))
    ...     tracegraph.sample("b", dist.Exponential(1.0))
    >>> round(float(mean_field_entropy(model, ())), 4)  # 0.5 log(2 pi e) + 1
    2.4189
    """
    trace = handlers.trace(model).get_trace(*args)
    entropy: Any = 0.0
    for name, site in trace.nodes.items():
        if site["type"] != "sample" or site_is_subsample(site):
            continue
        if whitelist is None or name in whitelist:
            entropy = entropy + site["fn"].entropy().sum()
    return torch.as_tensor(entropy)
