"""Record every site of a run in a :class:`~tracegraph.poutine.trace_struct.Trace`.

>>> import torch
>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> from tracegraph import poutine
>>> def model(x):
...     s = tracegraph.param("s", torch.tensor(0.5))
...     z = tracegraph.sample("z", dist.Normal(x, s))
...     return z ** 2
>>> tracegraph.clear_param_store()
>>> tr = poutine.trace(model).get_trace(0.0)
>>> list(tr.nodes)
['_INPUT', 's', 'z', '_RETURN']
>>> tr.stochastic_nodes, tr.param_nodes
(['z'], ['s'])
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

from tracegraph.errors import HandlerAssertionError, SiteNameError, TracegraphError
from tracegraph.ops.provenance import scrub_tracked_names
from tracegraph.poutine.edges import add_edges, identify_dense_edges
from tracegraph.poutine.messages import describe_site
from tracegraph.poutine.messenger import HandledFunction, Messenger
from tracegraph.poutine.provenance_messenger import TrackProvenanceMessenger
from tracegraph.poutine.runtime import Message, NonlocalExit
from tracegraph.poutine.site_errors import program_line
from tracegraph.poutine.sites import site_is_subsample
from tracegraph.poutine.trace_struct import GRAPH_TYPES, Trace

__all__ = [
    "GRAPH_TYPES",
    "Messenger",
    "Trace",
    "TraceHandler",
    "TraceMessenger",
    "identify_dense_edges",
    "site_is_subsample",
]


def _note_where_it_failed(exc: BaseException, trace: Trace) -> None:
    # The program raised between sites (building a distribution, a mask, ...):
    # no site is known, so say which one was recorded last -- never which one
    # was being built, that is a guess -- and quote the program's own line,
    # which usually names the site.  Errors noted at a site, and our own
    # errors that name one, need no such note.
    if getattr(exc, "_tracegraph_site_noted", False) or (
        isinstance(exc, TracegraphError) and "site '" in str(exc)
    ):
        return
    last = None
    for name, site in trace.nodes.items():
        if site.get("type") in ("sample", "param"):
            last = name
    detail = None
    if last is None:
        lines = ["raised by the program before its first site was recorded"]
    else:
        site = trace.nodes[last]
        if site["type"] == "param":
            where = f"param {last!r}"
        elif site_is_subsample(site):
            where = f"entering plate {last!r} (size {site['fn'].size})"
        else:
            where, detail = f"site {last!r}", describe_site(site)
        lines = [f"raised by the program after {where}, before the next site was recorded"]
    line = program_line(exc.__traceback__)
    if line is not None:
        lines.append(f"  {line}")
    if detail is not None:
        lines.append(f"  (the last site recorded: {detail})")
    exc.add_note("\n".join(lines))


def _check_graph_type(graph_type: str) -> str:
    if graph_type not in GRAPH_TYPES:
        raise HandlerAssertionError(
            f"unknown graph_type {graph_type!r}; expected one of {', '.join(GRAPH_TYPES)}"
        )
    return graph_type


class TraceMessenger(Messenger):
    """Handler that records sites into ``self.trace`` (a new trace on each entry).

    :param graph_type: ``"flat"`` (no edges), ``"dense"`` (an edge from every
        earlier sample site, except across iterations of a sequential plate, as
        Pyro) or ``"provenance"`` (an edge ``i -> j`` exactly when site ``j``'s
        distribution, value or existence was computed directly from site ``i``'s
        value, found by tracking provenance through every op and through Python
        control flow; the transitive dependencies come on demand from
        :func:`~tracegraph.poutine.edges.transitive_dependencies`).
    :param param_only: record only param sites.

    >>> with TraceMessenger() as tm:
    ...     pass
    >>> len(tm.trace.nodes)
    0
    """

    def __init__(self, graph_type: str | None = None, param_only: bool | None = None) -> None:
        super().__init__()
        self.graph_type = _check_graph_type("flat" if graph_type is None else graph_type)
        self.param_only = bool(param_only)
        self.trace = Trace(graph_type=self.graph_type)
        # What __enter__ opened besides this handler (the provenance tracker).
        self._inner = ExitStack()

    def __enter__(self) -> TraceMessenger:
        self.trace = Trace(graph_type=self.graph_type)
        with ExitStack() as stack:
            if self.graph_type == "provenance":
                # Outside this handler, so that it tags values before they are
                # recorded (post-processing runs outer handler first).
                stack.enter_context(TrackProvenanceMessenger("latent", direct=True))
            super().__enter__()
            self._inner = stack.pop_all()  # exited by __exit__, after this handler
        return self

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        inner, self._inner = self._inner, ExitStack()
        with inner:
            super().__exit__(exc_type, exc_value, traceback)
        if exc_type is None:
            add_edges(self.trace)

    def _postprocess_message(self, msg: Message) -> None:
        # As Pyro: only sample and param messages are sites of a trace.
        if msg["type"] != "param" and (self.param_only or msg["type"] != "sample"):
            return
        if msg["name"] is None:
            if msg["type"] == "param":
                # Pyro's store takes a param named None, but its trace asserts.
                raise SiteNameError(
                    "a param named None cannot be traced; hint: give the param a name"
                )
            return
        if msg["infer"].get("_do_not_trace"):
            return
        self.trace.add_node(msg["name"], **msg)

    def _reset(self) -> None:
        # After a NonlocalExit the program runs again (poutine.queue): forget the
        # sites of the abandoned run, keep its inputs.
        old = self.trace
        self.trace = Trace(graph_type=self.graph_type)
        if "_INPUT" in old.nodes:
            node = old.nodes["_INPUT"]
            # Pyro's reset records the inputs with type "input".
            self.trace.add_node(
                "_INPUT", name="_INPUT", type="input", args=node["args"], kwargs=node["kwargs"]
            )

    def get_trace(self) -> Trace:
        """The trace of the last run."""
        return self.trace

    def __call__(self, fn: Callable[..., Any]) -> TraceHandler:  # type: ignore[override]
        return TraceHandler(self, fn)


class TraceHandler(HandledFunction):
    """A traced function: calling it runs the function and records its trace,
    with ``_INPUT`` and ``_RETURN`` nodes.

    Each call uses its own :class:`TraceMessenger`, so one traced function called
    from several threads gives each call its own trace.
    """

    msngr: TraceMessenger
    _unwrappable = False

    def __init__(self, msngr: TraceMessenger, fn: Callable[..., Any]) -> None:
        super().__init__(msngr, fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        msngr = TraceMessenger(self.msngr.graph_type, self.msngr.param_only)
        # Published before the run, so that a run that raises (escape,
        # NonlocalExit) leaves its partial trace in ``.trace``.
        self.msngr = msngr
        return self._run(msngr, args, kwargs)

    def _run(self, msngr: TraceMessenger, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        with msngr:
            # A param-only trace has no input and return nodes (as Pyro's).
            if not msngr.param_only:
                msngr.trace.add_node(
                    "_INPUT", name="_INPUT", type="args", args=args, kwargs=kwargs
                )
            try:
                ret = self.fn(*args, **kwargs)
            except NonlocalExit:
                raise  # control flow (escape, queue), not an error: no shape table
            except Exception as exc:
                if not getattr(exc, "_tracegraph_shapes_noted", False):
                    try:
                        _note_where_it_failed(exc, msngr.trace)
                        exc.add_note(msngr.trace.format_shapes())
                        exc._tracegraph_shapes_noted = True  # type: ignore[attr-defined]
                    except Exception:  # noqa: BLE001 - the original error matters more
                        pass
                scrub_tracked_names(exc)
                raise
            if not msngr.param_only:
                msngr.trace.add_node("_RETURN", name="_RETURN", type="return", value=ret)
        return ret

    @property
    def trace(self) -> Trace:
        """The trace of the last call."""
        return self.msngr.trace

    def get_trace(self, *args: Any, **kwargs: Any) -> Trace:
        """Run the function and return its trace.

        :returns: the :class:`Trace` of this call.
        """
        msngr = TraceMessenger(self.msngr.graph_type, self.msngr.param_only)
        self.msngr = msngr
        self._run(msngr, args, kwargs)
        return msngr.trace
