"""The lowercase handler API, as Pyro's ``pyro.poutine``.

Every handler ``h(fn=None, **options)`` returns its messenger when ``fn`` is
omitted (use it as a context manager or a decorator), and otherwise a *handled
function*: a callable that runs ``fn`` under the handler on each call and that
pickles when ``fn`` and the options do.  A ``fn`` that is not callable raises
:class:`~tracegraph.errors.HandlerError` naming the handler.

>>> import torch
>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> from tracegraph import poutine
>>> def model():
...     z = tracegraph.sample("z", dist.Normal(0.0, 1.0))
...     return tracegraph.sample("x", dist.Normal(z, 1.0))
>>> conditioned = poutine.condition(model, data={"x": torch.tensor(1.0)})
>>> tr = poutine.trace(conditioned).get_trace()
>>> tr.stochastic_nodes, tr.observation_nodes
(['z'], ['x'])
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar, overload

from tracegraph.errors import HandlerArgumentError, HandlerError
from tracegraph.poutine.block_messenger import BlockMessenger
from tracegraph.poutine.broadcast_messenger import BroadcastMessenger
from tracegraph.poutine.condition_messenger import ConditionMessenger
from tracegraph.poutine.do_messenger import DoMessenger
from tracegraph.poutine.equalize_messenger import EqualizeMessenger
from tracegraph.poutine.escape_messenger import EscapeMessenger
from tracegraph.poutine.infer_config_messenger import InferConfigMessenger
from tracegraph.poutine.lift_messenger import LiftMessenger, Prior
from tracegraph.poutine.markov_messenger import MarkovMessenger
from tracegraph.poutine.mask_messenger import MaskMessenger
from tracegraph.poutine.messenger import HandledFunction, Messenger
from tracegraph.poutine.queue_handler import queue
from tracegraph.poutine.replay_messenger import ReplayMessenger
from tracegraph.poutine.runtime import Message, NonlocalExit
from tracegraph.poutine.scale_messenger import ScaleMessenger
from tracegraph.poutine.seed_messenger import SeedMessenger
from tracegraph.poutine.substitute_messenger import SubstituteMessenger
from tracegraph.poutine.trace_messenger import TraceHandler, TraceMessenger
from tracegraph.poutine.trace_struct import Trace
from tracegraph.poutine.uncondition_messenger import UnconditionMessenger

__all__ = [
    "BlockMessenger",
    "BroadcastMessenger",
    "ConditionMessenger",
    "DoMessenger",
    "EqualizeMessenger",
    "EscapeMessenger",
    "InferConfigMessenger",
    "LiftMessenger",
    "MarkovMessenger",
    "MaskMessenger",
    "NonlocalExit",
    "ReplayMessenger",
    "ScaleMessenger",
    "SeedMessenger",
    "SubstituteMessenger",
    "TraceHandler",
    "TraceMessenger",
    "UnconditionMessenger",
    "block",
    "broadcast",
    "condition",
    "do",
    "equalize",
    "escape",
    "infer_config",
    "lift",
    "markov",
    "mask",
    "queue",
    "replay",
    "scale",
    "seed",
    "substitute",
    "trace",
    "uncondition",
]

M = TypeVar("M", bound=Messenger)


def _check_fn(handler: str, fn: Any) -> None:
    if fn is not None and not callable(fn):
        raise HandlerError(
            f"poutine.{handler} expected a callable model or guide as its first argument, "
            f"got {type(fn).__name__}: {fn!r:.80}; hint: pass options by keyword, e.g. "
            f"poutine.{handler}(model, ...=...), or poutine.{handler}(...=...) for the "
            "handler itself"
        )


def _wrap(msngr: M, fn: Callable[..., Any] | None) -> M | HandledFunction:
    if fn is None:
        return msngr
    return HandledFunction(msngr, fn)


@overload
def trace(
    fn: None = None, graph_type: str | None = None, param_only: bool | None = None
) -> TraceMessenger: ...


@overload
def trace(
    fn: Callable[..., Any], graph_type: str | None = None, param_only: bool | None = None
) -> TraceHandler: ...


def trace(
    fn: Callable[..., Any] | None = None,
    graph_type: str | None = None,
    param_only: bool | None = None,
) -> TraceMessenger | TraceHandler:
    """Record the sites of each run in a :class:`~tracegraph.poutine.trace_struct.Trace`.

    :param fn: the function to trace.
    :param graph_type: ``"flat"`` (default), ``"dense"`` or ``"provenance"``.
    :param param_only: record only param sites.
    :returns: a :class:`TraceHandler` (use ``.get_trace(*args)``), or the messenger.
    :raises HandlerError: for a non-callable ``fn`` or an unknown ``graph_type``.

    >>> import tracegraph
    >>> import tracegraph.distributions as dist
    >>> def model():
    ...     tracegraph.sample("z", dist.Normal(0.0, 1.0))
    >>> list(trace(model).get_trace().nodes)
    ['_INPUT', 'z', '_RETURN']
    """
    _check_fn("trace", fn)
    msngr = TraceMessenger(graph_type=graph_type, param_only=param_only)
    if fn is None:
        return msngr
    return TraceHandler(msngr, fn)


@overload
def replay(
    fn: None = None, trace: Trace | None = None, params: Mapping[str, Any] | None = None
) -> ReplayMessenger: ...


@overload
def replay(
    fn: Callable[..., Any], trace: Trace | None = None, params: Mapping[str, Any] | None = None
) -> HandledFunction: ...


def replay(
    fn: Callable[..., Any] | None = None,
    trace: Trace | None = None,
    params: Mapping[str, Any] | None = None,
) -> ReplayMessenger | HandledFunction:
    """Give latent sample sites the values recorded in ``trace`` (and param sites
    the values in ``params``); see :mod:`~tracegraph.poutine.replay_messenger`.

    >>> import tracegraph
    >>> import tracegraph.distributions as dist
    >>> from tracegraph import poutine
    >>> def model():
    ...     return tracegraph.sample("z", dist.Normal(0.0, 1.0))
    >>> tr = poutine.trace(model).get_trace()
    >>> bool(replay(model, trace=tr)() == tr.nodes["z"]["value"])
    True
    """
    _check_fn("replay", fn)
    return _wrap(ReplayMessenger(trace=trace, params=params), fn)


@overload
def condition(
    fn: None = None, data: Mapping[str, Any] | Trace | None = None
) -> ConditionMessenger: ...


@overload
def condition(
    fn: Callable[..., Any], data: Mapping[str, Any] | Trace | None = None
) -> HandledFunction: ...


def condition(
    fn: Callable[..., Any] | None = None, data: Mapping[str, Any] | Trace | None = None
) -> ConditionMessenger | HandledFunction:
    """Observe sample sites: each site named in ``data`` (a dict or a Trace) takes
    that value and is marked observed.

    >>> import torch
    >>> import tracegraph
    >>> import tracegraph.distributions as dist
    >>> def model():
    ...     return tracegraph.sample("x", dist.Normal(0.0, 1.0))
    >>> condition(model, data={"x": torch.tensor(2.0)})()
    tensor(2.)
    """
    _check_fn("condition", fn)
    if data is None:
        raise HandlerArgumentError(
            "poutine.condition needs data= (a dict name -> value or a Trace)"
        )
    return _wrap(ConditionMessenger(data=data), fn)


@overload
def block(
    fn: None = None,
    hide_fn: Callable[[Message], object] | None = None,
    expose_fn: Callable[[Message], object] | None = None,
    hide_all: bool = True,
    expose_all: bool = False,
    hide: Iterable[str] | None = None,
    expose: Iterable[str] | None = None,
    hide_types: Iterable[str] | None = None,
    expose_types: Iterable[str] | None = None,
) -> BlockMessenger: ...


@overload
def block(
    fn: Callable[..., Any],
    hide_fn: Callable[[Message], object] | None = None,
    expose_fn: Callable[[Message], object] | None = None,
    hide_all: bool = True,
    expose_all: bool = False,
    hide: Iterable[str] | None = None,
    expose: Iterable[str] | None = None,
    hide_types: Iterable[str] | None = None,
    expose_types: Iterable[str] | None = None,
) -> HandledFunction: ...


def block(
    fn: Callable[..., Any] | None = None,
    hide_fn: Callable[[Message], object] | None = None,
    expose_fn: Callable[[Message], object] | None = None,
    hide_all: bool = True,
    expose_all: bool = False,
    hide: Iterable[str] | None = None,
    expose: Iterable[str] | None = None,
    hide_types: Iterable[str] | None = None,
    expose_types: Iterable[str] | None = None,
) -> BlockMessenger | HandledFunction:
    """Hide sites from the handlers outside (by default all of them); the rules
    are in :mod:`~tracegraph.poutine.block_messenger`.

    >>> import tracegraph
    >>> import tracegraph.distributions as dist
    >>> def model():
    ...     tracegraph.sample("a", dist.Normal(0.0, 1.0))
    ...     tracegraph.sample("b", dist.Normal(0.0, 1.0))
    >>> list(trace(block(model, expose=["b"])).get_trace().nodes)
    ['_INPUT', 'b', '_RETURN']
    """
    _check_fn("block", fn)
    msngr = BlockMessenger(
        hide_fn=hide_fn,
        expose_fn=expose_fn,
        hide_all=hide_all,
        expose_all=expose_all,
        hide=hide,
        expose=expose,
        hide_types=hide_types,
        expose_types=expose_types,
    )
    return _wrap(msngr, fn)


@overload
def scale(fn: None = None, scale: Any = 1.0) -> ScaleMessenger: ...


@overload
def scale(fn: Callable[..., Any], scale: Any = 1.0) -> HandledFunction: ...


def scale(
    fn: Callable[..., Any] | None = None, scale: Any = 1.0
) -> ScaleMessenger | HandledFunction:
    """Multiply the log-probs of the sites inside by ``scale`` (positive).

    >>> import tracegraph
    >>> import tracegraph.distributions as dist
    >>> def model():
    ...     tracegraph.sample("z", dist.Normal(0.0, 1.0))
    >>> trace(scale(model, scale=0.5)).get_trace().nodes["z"]["scale"]
    0.5
    """
    _check_fn("scale", fn)
    return _wrap(ScaleMessenger(scale=scale), fn)


@overload
def mask(fn: None = None, mask: Any = None) -> MaskMessenger: ...


@overload
def mask(fn: Callable[..., Any], mask: Any = None) -> HandledFunction: ...


def mask(fn: Callable[..., Any] | None = None, mask: Any = None) -> MaskMessenger | HandledFunction:
    """Mask the log-probs of the sites inside (``mask`` is a bool or bool tensor).

    >>> import tracegraph
    >>> import tracegraph.distributions as dist
    >>> def model():
    ...     tracegraph.sample("z", dist.Normal(0.0, 1.0))
    >>> trace(mask(model, mask=False)).get_trace().nodes["z"]["mask"]
    False
    """
    _check_fn("mask", fn)
    return _wrap(MaskMessenger(mask=mask), fn)


@overload
def seed(fn: None = None, rng_seed: Any = None) -> SeedMessenger: ...


@overload
def seed(fn: Callable[..., Any], rng_seed: Any = None) -> HandledFunction: ...


def seed(
    fn: Callable[..., Any] | None = None, rng_seed: Any = None
) -> SeedMessenger | HandledFunction:
    """Run under a fixed seed (torch, ``random``, NumPy); the random state is
    restored afterwards.

    >>> import tracegraph
    >>> import tracegraph.distributions as dist
    >>> def model():
    ...     return tracegraph.sample("z", dist.Normal(0.0, 1.0))
    >>> bool(seed(model, rng_seed=3)() == seed(model, rng_seed=3)())
    True
    """
    _check_fn("seed", fn)
    return _wrap(SeedMessenger(rng_seed=rng_seed), fn)


@overload
def do(fn: None = None, data: Mapping[str, Any] | None = None) -> DoMessenger: ...


@overload
def do(fn: Callable[..., Any], data: Mapping[str, Any] | None = None) -> HandledFunction: ...


def do(
    fn: Callable[..., Any] | None = None, data: Mapping[str, Any] | None = None
) -> DoMessenger | HandledFunction:
    """Intervene: the program sees ``data[name]`` after site ``name``, which is
    recorded as a fresh, unobserved sample site; see
    :mod:`~tracegraph.poutine.do_messenger`.

    >>> import torch
    >>> import tracegraph
    >>> import tracegraph.distributions as dist
    >>> def model():
    ...     z = tracegraph.sample("z", dist.Normal(0.0, 1.0))
    ...     return z + 1
    >>> do(model, data={"z": torch.tensor(5.0)})()
    tensor(6.)
    """
    _check_fn("do", fn)
    if data is None:
        raise HandlerArgumentError("poutine.do needs data= (a dict name -> intervention value)")
    return _wrap(DoMessenger(data=data), fn)


@overload
def uncondition(fn: None = None) -> UnconditionMessenger: ...


@overload
def uncondition(fn: Callable[..., Any]) -> HandledFunction: ...


def uncondition(fn: Callable[..., Any] | None = None) -> UnconditionMessenger | HandledFunction:
    """Make observed sample sites latent (the observation moves to
    ``msg["infer"]["obs"]``).

    >>> import torch
    >>> import tracegraph
    >>> import tracegraph.distributions as dist
    >>> def model():
    ...     tracegraph.sample("x", dist.Normal(0.0, 1.0), obs=torch.tensor(1.0))
    >>> trace(uncondition(model)).get_trace().stochastic_nodes
    ['x']
    """
    _check_fn("uncondition", fn)
    return _wrap(UnconditionMessenger(), fn)


@overload
def infer_config(
    fn: None = None, config_fn: Callable[[Message], Mapping[str, Any]] | None = None
) -> InferConfigMessenger: ...


@overload
def infer_config(
    fn: Callable[..., Any], config_fn: Callable[[Message], Mapping[str, Any]] | None = None
) -> HandledFunction: ...


def infer_config(
    fn: Callable[..., Any] | None = None,
    config_fn: Callable[[Message], Mapping[str, Any]] | None = None,
) -> InferConfigMessenger | HandledFunction:
    """Merge ``config_fn(msg)`` into the ``infer`` dict of each sample and param site.

    >>> import tracegraph
    >>> import tracegraph.distributions as dist
    >>> def guide():
    ...     tracegraph.sample("z", dist.Bernoulli(0.5))
    >>> configured = infer_config(guide, config_fn=lambda msg: {"enumerate": "parallel"})
    >>> trace(configured).get_trace().nodes["z"]["infer"]
    {'enumerate': 'parallel'}
    """
    _check_fn("infer_config", fn)
    return _wrap(InferConfigMessenger(config_fn=config_fn), fn)  # type: ignore[arg-type]


@overload
def substitute(
    fn: None = None,
    data: Mapping[str, Any] | None = None,
) -> SubstituteMessenger: ...


@overload
def substitute(
    fn: Callable[..., Any],
    data: Mapping[str, Any] | None = None,
) -> HandledFunction: ...


def substitute(
    fn: Callable[..., Any] | None = None,
    data: Mapping[str, Any] | None = None,
) -> SubstituteMessenger | HandledFunction:
    """Fix the values of param sites (the param store is not touched); sample
    sites are not affected, as in Pyro.

    >>> import torch
    >>> import tracegraph
    >>> def model():
    ...     return tracegraph.param("w", torch.tensor(0.0))
    >>> tr = trace(substitute(model, data={"w": torch.tensor(0.5)})).get_trace()
    >>> tr.nodes["w"]["value"]
    tensor(0.5000)
    """
    _check_fn("substitute", fn)
    return _wrap(SubstituteMessenger(data=data), fn)


@overload
def escape(
    fn: None = None, escape_fn: Callable[[Message], object] | None = None
) -> EscapeMessenger: ...


@overload
def escape(
    fn: Callable[..., Any], escape_fn: Callable[[Message], object] | None = None
) -> HandledFunction: ...


def escape(
    fn: Callable[..., Any] | None = None, escape_fn: Callable[[Message], object] | None = None
) -> EscapeMessenger | HandledFunction:
    """Raise :class:`~tracegraph.poutine.escape_messenger.NonlocalExit` at the first
    sample site for which ``escape_fn(msg)`` is true.

    >>> import tracegraph
    >>> import tracegraph.distributions as dist
    >>> from tracegraph.poutine.escape_messenger import NonlocalExit
    >>> def model():
    ...     tracegraph.sample("z", dist.Normal(0.0, 1.0))
    >>> try:
    ...     escape(model, escape_fn=lambda msg: True)()
    ... except NonlocalExit as e:
    ...     e.site["name"]
    'z'
    """
    _check_fn("escape", fn)
    return _wrap(EscapeMessenger(escape_fn=escape_fn), fn)  # type: ignore[arg-type]


@overload
def lift(fn: None = None, prior: Prior | Mapping[str, Prior] | None = None) -> LiftMessenger: ...


@overload
def lift(
    fn: Callable[..., Any], prior: Prior | Mapping[str, Prior] | None = None
) -> HandledFunction: ...


def lift(
    fn: Callable[..., Any] | None = None, prior: Prior | Mapping[str, Prior] | None = None
) -> LiftMessenger | HandledFunction:
    """Turn param sites into sample sites drawn from ``prior`` (a distribution, a
    dict name -> distribution, or a stochastic function).

    >>> import torch
    >>> import tracegraph
    >>> import tracegraph.distributions as dist
    >>> def model():
    ...     tracegraph.param("w", torch.tensor(0.0))
    >>> trace(lift(model, prior={"w": dist.Normal(0.0, 1.0)})).get_trace().stochastic_nodes
    ['w']
    """
    _check_fn("lift", fn)
    if prior is None:
        raise HandlerArgumentError(
            "poutine.lift needs prior= (a distribution, dict or callable)"
        )
    return _wrap(LiftMessenger(prior=prior), fn)


@overload
def broadcast(fn: None = None) -> BroadcastMessenger: ...


@overload
def broadcast(fn: Callable[..., Any]) -> HandledFunction: ...


def broadcast(fn: Callable[..., Any] | None = None) -> BroadcastMessenger | HandledFunction:
    """Broadcast each sample site's distribution to the sizes of its plates.

    >>> import tracegraph
    >>> import tracegraph.distributions as dist
    >>> def model():
    ...     with tracegraph.plate("data", 3):
    ...         return tracegraph.sample("x", dist.Normal(0.0, 1.0))
    >>> broadcast(model)().shape
    torch.Size([3])
    """
    _check_fn("broadcast", fn)
    return _wrap(BroadcastMessenger(), fn)


@overload
def markov(
    fn: None = None,
    history: int = 1,
    keep: bool = False,
    dim: int | None = None,
    name: str | None = None,
) -> MarkovMessenger: ...


@overload
def markov(
    fn: Callable[..., Any],
    history: int = 1,
    keep: bool = False,
    dim: int | None = None,
    name: str | None = None,
) -> HandledFunction: ...


@overload
def markov(
    fn: Iterable[Any],
    history: int = 1,
    keep: bool = False,
    dim: int | None = None,
    name: str | None = None,
) -> MarkovMessenger: ...


def markov(
    fn: Callable[..., Any] | Iterable[Any] | None = None,
    history: int = 1,
    keep: bool = False,
    dim: int | None = None,
    name: str | None = None,
) -> MarkovMessenger | HandledFunction:
    """Declare Markov dependence: a context manager (``with markov():``), a
    decorator of a recursive function (``@markov``), or an iterator
    (``for t in markov(range(n))``); see :mod:`~tracegraph.poutine.markov_messenger`.

    :param fn: nothing, a function to decorate, or an iterable to walk.
    :param history: how many earlier contexts a site depends on.
    :param keep: let a context see the sites of an earlier sibling context.
    :param dim: not supported (raises ``NotImplementedError``, as Pyro).
    :param name: not supported (raises ``NotImplementedError``, as Pyro).

    >>> import tracegraph
    >>> import tracegraph.distributions as dist
    >>> def chain():
    ...     for t in markov(range(2)):
    ...         tracegraph.sample(f"x_{t}", dist.Normal(0.0, 1.0))
    >>> tr = trace(chain).get_trace()
    >>> dict(tr.nodes["x_1"]["infer"]["_markov_scope"]), tr.nodes["x_1"]["infer"]["_markov_depth"]
    ({'x_0': 1}, 1)
    """
    msngr = MarkovMessenger(history=history, keep=keep, dim=dim, name=name)
    if fn is None:
        return msngr
    if callable(fn):
        return HandledFunction(msngr, fn)
    return msngr.generator(fn)


@overload
def equalize(
    fn: None = None,
    sites: str | list[str] | None = None,
    type: str | None = "sample",
    keep_dist: bool | None = False,
) -> EqualizeMessenger: ...


@overload
def equalize(
    fn: Callable[..., Any],
    sites: str | list[str] | None = None,
    type: str | None = "sample",
    keep_dist: bool | None = False,
) -> HandledFunction: ...


def equalize(
    fn: Callable[..., Any] | None = None,
    sites: str | list[str] | None = None,
    type: str | None = "sample",
    keep_dist: bool | None = False,
) -> EqualizeMessenger | HandledFunction:
    """Give every site whose name matches ``sites`` (regular expressions) the value
    of the first such site; see :mod:`~tracegraph.poutine.equalize_messenger`.

    >>> import tracegraph
    >>> import tracegraph.distributions as dist
    >>> def model():
    ...     return [tracegraph.sample(f"{c}_std", dist.LogNormal(0.0, 1.0)) for c in "ab"]
    >>> a, b = equalize(model, ".+_std")()
    >>> bool(a == b)
    True
    """
    _check_fn("equalize", fn)
    if sites is None:
        raise HandlerArgumentError(
            "poutine.equalize needs sites= (a regular expression or a list)"
        )
    return _wrap(EqualizeMessenger(sites, type, keep_dist), fn)
