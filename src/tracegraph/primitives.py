"""The effectful primitives a model is written with.

>>> import torch
>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> tracegraph.set_rng_seed(0)
>>> def model(data):
...     p = tracegraph.sample("p", dist.Beta(1.0, 1.0))
...     with tracegraph.plate("data", len(data)):
...         tracegraph.sample("obs", dist.Bernoulli(p), obs=data)
...     return p
>>> from tracegraph import poutine
>>> tr = poutine.trace(model).get_trace(torch.tensor([1.0, 0.0]))
>>> list(tr.nodes), 0.0 < float(tr.nodes["_RETURN"]["value"]) < 1.0
(['_INPUT', 'p', 'data', 'obs', '_RETURN'], True)
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

import torch

from tracegraph.distributions import (
    Delta,
    TorchDistributionMixin,
    Unit,
    as_tracegraph_distribution,
)
from tracegraph.distributions import enable_validation as _enable_dist_validation
from tracegraph.distributions.util import is_validation_enabled
from tracegraph.errors import ShapeError, SiteError, SiteNameError
from tracegraph.ops.rng import set_rng_seed
from tracegraph.params import (
    ParamStoreDict,
    clear_param_store,
    get_param_store,
    param_with_module_name,
)
from tracegraph.poutine import validation as _poutine_validation
from tracegraph.poutine.mask_messenger import MaskMessenger
from tracegraph.poutine.plate_messenger import PlateMessenger
from tracegraph.poutine.runtime import (
    _HANDLERS,
    InferDict,
    Message,
    am_i_wrapped,
    apply_stack,
    call_site_fn,
    effectful,
    get_plates,
    new_message,
    new_sample_message,
)
from tracegraph.poutine.site_errors import masked_value_error
from tracegraph.poutine.subsample_messenger import SubsampleMessenger

__all__ = [
    "InferDict",
    "Message",
    "ParamStoreDict",
    "PlateMessenger",
    "SubsampleMessenger",
    "TorchDistributionMixin",
    "am_i_wrapped",
    "apply_stack",
    "barrier",
    "clear_param_store",
    "deterministic",
    "effectful",
    "enable_validation",
    "factor",
    "get_param_store",
    "module",
    "param",
    "param_with_module_name",
    "plate",
    "plate_stack",
    "sample",
    "set_rng_seed",
    "subsample",
    "validation_enabled",
]

_constraints = torch.distributions.constraints


def _check_name(name: Any, what: str) -> None:
    # Pyro accepts any hashable name (ints, tuples); only None is refused.
    if name is None:
        raise SiteNameError(f"a {what} site needs a name, got None")


def sample(
    name: str,
    fn: Any,
    *args: Any,
    obs: Any = None,
    obs_mask: torch.Tensor | None = None,
    infer: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Any:
    """Draw a random value at site ``name`` from the distribution ``fn``.

    :param name: the site's name, unique in one run.
    :param fn: a distribution (ours or any ``torch.distributions`` object), or
        any callable with ``log_prob`` (such as a subclass of
        :class:`tracegraph.distributions.Distribution`).
    :param obs: an observed value; the site is then conditioned on it.  Without
        any handler the value is returned with a ``RuntimeWarning`` (as Pyro:
        nothing records the observation).
    :param obs_mask: boolean tensor: where True the value is observed, where False
        it is a latent drawn at a companion site ``f"{name}_unobserved"``.
    :param infer: inference options for the site (e.g. ``{"baseline": {...}}``).
    :returns: the value.
    :raises SiteTypeError: (a ``TypeError``) when ``fn`` must be called but cannot,
        or is a distribution class where an instance belongs.
    :raises ShapeError: (a ``ValueError``) when ``obs_mask`` does not broadcast with
        the site's batch shape.

    >>> import tracegraph.distributions as dist
    >>> from tracegraph import poutine
    >>> with poutine.trace() as tracer:
    ...     sample("x", dist.Normal(0.0, 1.0), obs=torch.tensor(0.5))
    tensor(0.5000)
    >>> tracer.trace.nodes["x"]["is_observed"]
    True
    """
    _check_name(name, "sample")
    if isinstance(fn, torch.distributions.Distribution):
        fn = as_tracegraph_distribution(fn)
    # Anything else callable (e.g. a subclass of Pyro's non-torch Distribution
    # base) is used as it is, as Pyro does.
    if obs_mask is not None:
        return _masked_observe(name, fn, obs, obs_mask, infer, *args, **kwargs)
    if not _HANDLERS.get():
        # No handler: just draw (or return the observation).
        if obs is not None:
            warnings.warn(
                f"trying to observe a value outside of inference at {name}",
                RuntimeWarning,
                stacklevel=2,
            )
            return obs
        return call_site_fn(name, fn, args, kwargs)
    msg = new_sample_message(
        name,
        fn,
        *args,
        value=obs,
        is_observed=obs is not None,
        infer={} if infer is None else dict(infer),
        **kwargs,
    )
    # An observed value whose shape disagrees with the distribution is not
    # refused here: as in Pyro, that surfaces when its log-density is computed.
    apply_stack(msg)
    return msg["value"]


def _masked_observe(
    name: str, fn: Any, obs: Any, obs_mask: torch.Tensor, infer: Any, *args: Any, **kwargs: Any
) -> Any:
    if not isinstance(obs_mask, torch.Tensor) or obs_mask.dtype != torch.bool:
        raise SiteError(f"site '{name}': obs_mask must be a bool tensor, got {obs_mask!r}")
    # The observed part and the latent part are two sites whose log-probs are
    # masked complementarily (the sites' masks, as Pyro); the returned value
    # mixes them.
    if obs is None:
        raise SiteError(f"site '{name}': obs_mask needs obs=")
    with MaskMessenger(obs_mask):
        observed = sample(f"{name}_observed", fn, obs=obs, infer=infer)
    with MaskMessenger(~obs_mask):
        unobserved = sample(f"{name}_unobserved", fn, infer=infer)
    # (Read only now: a class passed as fn fails above, naming the site.)
    mask = obs_mask.reshape(obs_mask.shape + (1,) * len(fn.event_shape))
    try:
        value = torch.where(mask, observed, unobserved)
    except RuntimeError as exc:
        msg = new_sample_message(name, fn)
        msg["cond_indep_stack"] = get_plates()
        raise masked_value_error(msg, obs_mask, observed, unobserved, exc) from exc
    return deterministic(name, value, event_dim=len(fn.event_shape))


def _get_param(
    name: str, init_tensor: Any = None, constraint: Any = _constraints.real, event_dim: Any = None
) -> torch.Tensor:
    # A module-level function (not the store's bound method, whose store holds a
    # lock) so that traces with param sites pickle.
    return get_param_store().get_param(name, init_tensor, constraint, event_dim)


def param(
    name: str,
    init_tensor: torch.Tensor | Callable[[], torch.Tensor] | None = None,
    constraint: Any = _constraints.real,
    event_dim: int | None = None,
) -> torch.Tensor:
    """Get (creating on first use) the learnable parameter ``name`` from the param store.

    :param init_tensor: the initial constrained value, or a zero-argument callable
        returning it (called only if the parameter does not exist yet).
    :param constraint: a ``torch.distributions.constraints`` object.
    :param event_dim: how many rightmost dims are event dims (the rest are
        subsampled by enclosing plates).
    :returns: the constrained value (it has ``.unconstrained()``).

    >>> get_param_store().clear()
    >>> w = param("w", torch.tensor(2.0), constraint=_constraints.positive)
    >>> float(w.detach()), w.unconstrained().requires_grad
    (2.0, True)
    """
    # Any hashable name, None included, names a param (as in Pyro).
    if not _HANDLERS.get():
        return get_param_store().get_param(name, init_tensor, constraint, event_dim)
    # As Pyro: args are the name and the initial value (when given), kwargs the
    # constraint and event_dim.
    args = (name,) if init_tensor is None else (name, init_tensor)
    msg = new_message(
        "param", name, _get_param, *args, constraint=constraint, event_dim=event_dim
    )
    apply_stack(msg)
    return msg["value"]


def factor(name: str, log_factor: torch.Tensor, *, has_rsample: bool | None = None) -> None:
    """Add ``log_factor`` to the model's log density as site ``name``.

    :param has_rsample: whether the factor is reparameterized (matters only in a
        guide, where it must be given under validation); ``None`` counts as
        ``False``, as in Pyro.

    >>> from tracegraph import poutine
    >>> with poutine.trace() as tracer:
    ...     factor("penalty", torch.tensor(-1.0))
    >>> tracer.trace.log_prob_sum()
    tensor(-1.)
    """
    log_factor = torch.as_tensor(log_factor)
    try:
        unit = Unit(log_factor, has_rsample=has_rsample)
    except ValueError as exc:
        # torch names the parameter (log_factor) and not the site.
        exc.add_note(
            f"while building factor site {name!r} from a log_factor of shape "
            f"{tuple(log_factor.shape)}: expected real values (NaN is not; -inf is)"
        )
        exc._tracegraph_site_noted = True  # type: ignore[attr-defined]
        raise
    sample(name, unit, obs=unit.sample(), infer={"is_auxiliary": True})


def deterministic(name: str, value: torch.Tensor, event_dim: int | None = None) -> torch.Tensor:
    """Record a deterministic ``value`` in the trace as site ``name`` (no log-prob).

    >>> deterministic("y", torch.tensor([1.0, 2.0]))
    tensor([1., 2.])
    """
    value = torch.as_tensor(value)
    if not _HANDLERS.get():
        return value  # nothing records it (and, unlike sample, no warning: as Pyro)
    event_dim = value.dim() if event_dim is None else event_dim
    if isinstance(event_dim, int) and event_dim > value.dim():
        # (A negative event_dim counts as 0, as in Pyro.)
        raise ShapeError(
            f"deterministic site {name!r}: event_dim={event_dim} but the value has shape "
            f"{tuple(value.shape)} ({value.dim()} dims); expected event_dim <= {value.dim()}"
            "; hint: event_dim counts the value's rightmost dims that form one event"
        )
    fn = Delta(value, event_dim=event_dim).mask(False)
    return sample(name, fn, obs=value, infer={"_deterministic": True})


@effectful(type="subsample")
def _subsample(data: Any, event_dim: int | None = None) -> Any:
    return data


def subsample(data: Any, event_dim: int = 0) -> Any:
    """Index ``data`` by the subsample indices of the enclosing plates.

    A dim of ``data`` is subsampled when it sits at an enclosing plate's dim (counted
    left of ``event_dim`` event dims) and has the plate's full size.

    >>> with plate("data", 10, subsample_size=3):
    ...     subsample(torch.arange(10.0)).shape
    torch.Size([3])
    """
    return _subsample(data, event_dim=event_dim)


class plate(PlateMessenger):
    """A conditional-independence context: vectorized (``with``) or sequential (``for``).

    :param name: unique plate name.
    :param size: the full size.
    :param subsample_size: draw a random subset of this size (log-probs inside are
        scaled by ``size / subsample_size``).
    :param subsample: use these indices instead of drawing.
    :param dim: the (negative) batch dim; allocated to the rightmost free one when None.

    >>> import tracegraph.distributions as dist
    >>> with plate("data", 4) as idx:
    ...     sample("x", dist.Normal(0.0, 1.0)).shape
    torch.Size([4])
    >>> [i for i in plate("steps", 3)]
    [0, 1, 2]
    """


@contextmanager
def plate_stack(prefix: str, sizes: Sequence[int], rightmost_dim: int = -1) -> Iterator[None]:
    """Nested vectorized plates covering the batch shape ``sizes``, as Pyro names
    them: ``prefix_0`` has the last size at ``rightmost_dim``, ``prefix_1`` the
    one before it at the next dim to the left, and so on (``prefix_0`` outermost).

    >>> import tracegraph.distributions as dist
    >>> with plate_stack("batch", (2, 3)):
    ...     sample("x", dist.Normal(0.0, 1.0)).shape
    torch.Size([2, 3])
    """
    with ExitStack() as stack:
        for i, size in enumerate(reversed(sizes)):
            stack.enter_context(plate(f"{prefix}_{i}", size, dim=rightmost_dim - i))
        yield


def module(
    name: str, nn_module: torch.nn.Module, update_module_params: bool = False
) -> torch.nn.Module:
    """Register the parameters of ``nn_module`` as param sites ``f"{name}$$${param_name}"``.

    The store then holds the module's own parameter tensors, so the optimizer and
    the module always agree.

    :param update_module_params: when the store already holds values under these
        names (say, after ``load``), copy them into the module first; otherwise the
        module's current values replace the stored ones.
    :returns: the module.

    >>> lin = module("lin", torch.nn.Linear(2, 1))
    >>> sorted(n for n in get_param_store().keys() if n.startswith("lin$$$"))
    ['lin$$$bias', 'lin$$$weight']
    >>> get_param_store()["lin$$$bias"].unconstrained() is lin.bias
    True
    """
    if not isinstance(nn_module, torch.nn.Module):
        raise SiteError(
            f"module('{name}') expects a torch.nn.Module, got {type(nn_module).__name__}"
        )
    store = get_param_store()
    for param_name, value in list(nn_module.named_parameters()):
        full_name = param_with_module_name(name, param_name)
        if full_name in store:
            stored: Any = store[full_name]
            if stored.unconstrained() is not value:
                if update_module_params:
                    with torch.no_grad():
                        value.copy_(stored)
                store.replace_param(full_name, value, stored)
        param(full_name, value)
    return nn_module


@effectful(type="barrier")
def _barrier(data: torch.Tensor) -> torch.Tensor:
    return data


def barrier(data: torch.Tensor) -> torch.Tensor:
    """Make sure ``data`` holds concrete values (an effect of type ``"barrier"``).

    Pyro needs it for lazily computed values under ``poutine.collapse``;
    tracegraph's values are always concrete, so it returns ``data`` itself.

    >>> barrier(torch.ones(2))
    tensor([1., 1.])
    """
    return _barrier(data)


def enable_validation(is_validate: bool = True) -> None:
    """Turn every validation check on or off: distributions' arguments and
    supports, and the checks of traces and handlers.

    :raises SiteError: (a ``ValueError``) if ``is_validate`` is not a bool.

    >>> enable_validation(False); _poutine_validation.is_validation_enabled()
    False
    >>> enable_validation(True); is_validation_enabled()
    True
    """
    if is_validate not in (True, False):
        raise SiteError(f"enable_validation expects a bool, got {is_validate!r}")
    _enable_dist_validation(bool(is_validate))
    _poutine_validation.enable_validation(bool(is_validate))


@contextmanager
def validation_enabled(is_validate: bool = True) -> Iterator[None]:
    """Set every validation check (see :func:`enable_validation`) inside a ``with``
    block and restore the previous settings afterwards, also when it raises.

    >>> with validation_enabled(False):
    ...     is_validation_enabled()
    False
    """
    dist_flag = is_validation_enabled()
    poutine_flag = _poutine_validation.is_validation_enabled()
    enable_validation(is_validate)
    try:
        yield
    finally:
        _enable_dist_validation(dist_flag)
        _poutine_validation.enable_validation(poutine_flag)
