"""``tracegraph graph FILE.py:model``: a user's model as a dependency graph.

Runs the model once with provenance tracking and writes two drawings, plates as
boxes (clusters):

* ``<model>.dot`` (and ``.svg``, ``.png`` when Graphviz's ``dot`` is installed):
  the prior dependencies, an arrow from each site to the sites drawn from it;
* ``<model>-posterior.dot`` (...): the posterior dependencies, an undirected edge
  between sites coupled in the posterior, labelled with the plates in which the
  coupling is all-to-all.

It also prints the trace's shape table and both dependency lists.
"""

from __future__ import annotations

import argparse
import inspect
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tracegraph
from tracegraph import poutine
from tracegraph.cli.loading import CliError, FunctionLoader, parse_model_args, user_code
from tracegraph.infer.inspect import get_dependencies, get_model_relations
from tracegraph.infer.render import render_graph, write_graph

try:
    import graphviz
    from graphviz.quoting import quote as _dot_quote
except ImportError:  # the optional "graph" extra is not installed
    graphviz = None  # type: ignore[assignment]

__all__ = ["NO_DOT_NOTE", "add_parser", "check_call", "posterior_graph", "run", "write_pictures"]


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Register ``tracegraph graph`` on the subparsers ``sub``.

    >>> parser = argparse.ArgumentParser(prog="tracegraph")
    >>> add_parser(parser.add_subparsers(), [])
    >>> parser.parse_args(["graph", "m.py:model", "--args", "[1]"]).args
    '[1]'
    """
    p = sub.add_parser(
        "graph",
        parents=parents,
        help="write a model's dependency graph (DOT/SVG/PNG) and print its shapes",
        description=(
            "Load a model function from a Python file, run it once with provenance "
            "tracking, print its shape table and dependencies, and write its prior and "
            "posterior dependency graphs (plates as boxes) as DOT, plus SVG and PNG when "
            "Graphviz's `dot` is installed."
        ),
    )
    p.add_argument("model", metavar="FILE.py:model", help="the file and the model's name")
    p.add_argument(
        "--args",
        metavar="JSON",
        help="the model's arguments: a JSON array (positional) or object (keywords); "
        "lists of numbers become tensors, e.g. '[[0, 1, 1]]'",
    )
    p.add_argument(
        "--out",
        default="tracegraph-graph",
        metavar="DIR",
        help="output folder (./tracegraph-graph)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed for the run (0)")
    p.set_defaults(run=run)


def check_call(fn: Callable[..., Any], name: str, args: tuple[Any, ...], kwargs: Any) -> None:
    """Raise a :class:`CliError` if ``fn`` cannot be called with these arguments.

    >>> def model(data): pass
    >>> check_call(model, "model", (), {})
    Traceback (most recent call last):
    ...
    tracegraph.cli.loading.CliError: model(data) cannot be called with no --args (...); hint: ...
    """
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins and some callables have none
        return
    try:
        signature.bind(*args, **kwargs)
    except TypeError as exc:
        given = "no --args" if not args and not kwargs else "the --args given"
        raise CliError(
            f"{name}{signature} cannot be called with {given} ({exc}); hint: pass its "
            """arguments as JSON, e.g. --args '[[0, 1, 1]]' for one tensor argument"""
        ) from None


def _edge(a: str, b: str, label: str) -> str:
    attrs = "dir=none" + (f" label={_dot_quote(label)}" if label else "")
    return f"\t{_dot_quote(graphviz.nohtml(a))} -> {_dot_quote(graphviz.nohtml(b))} [{attrs}]\n"


def posterior_graph(relations: dict[str, Any], posterior: dict[str, dict[str, set[str]]]) -> Any:
    """Draw the posterior dependencies: the sites and plates of ``relations`` (see
    :func:`~tracegraph.infer.inspect.get_model_relations`), an undirected edge per
    coupled pair, labelled with the plates of an all-to-all coupling.

    >>> relations = {"sample_sample": {"a": [], "x": ["a"]}, "plate_sample": {},
    ...              "observed": ["x"]}
    >>> print(posterior_graph(relations, {"a": {"a": set(), "x": set()}}).source, end="")
    ... # doctest: +NORMALIZE_WHITESPACE
    digraph {
        a [label=a fillcolor=white shape=ellipse style=filled]
        x [label=x fillcolor=gray shape=ellipse style=filled]
        a -> x [dir=none]
    }
    """
    bare = dict(relations, sample_sample={s: [] for s in relations["sample_sample"]})
    graph = render_graph(bare)
    for site, coupled in posterior.items():
        for other, plates in coupled.items():
            if other == site and not plates:
                continue  # every site is coupled with itself
            graph.body.append(_edge(site, other, ",".join(sorted(plates))))
    return graph


NO_DOT_NOTE = (
    "(Graphviz's `dot` program is not installed, so only DOT files are written; "
    "apt-get install graphviz or brew install graphviz for SVG and PNG)"
)


def write_pictures(graph: Any, stem: Path) -> list[Path]:
    """Write ``stem.dot`` always, ``stem.svg`` and ``stem.png`` when Graphviz's
    ``dot`` program is on ``PATH`` (:data:`NO_DOT_NOTE` says what to do if not).

    :returns: the paths written.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     g = graphviz.Digraph(); g.node("a")
    ...     paths = write_pictures(g, Path(tmp) / "m")
    ...     print(paths[0].name, paths[0].read_text().split())
    m.dot ['digraph', '{', 'a', '}']
    """
    written = [write_graph(graph, stem.with_suffix(".dot"))]
    if shutil.which("dot") is not None:
        for suffix in (".svg", ".png"):
            write_graph(graph, stem.with_suffix(suffix))
            written.append(stem.with_suffix(suffix))
    return written


def _deps_line(name: str, arrow: str, others: dict[str, set[str]]) -> str:
    parts = []
    for other, plates in others.items():
        if other == name and not plates:
            continue
        parts.append(other + (f" [all-to-all in {', '.join(sorted(plates))}]" if plates else ""))
    return f"    {name} {arrow} " + (", ".join(parts) if parts else "(nothing)")


def run(args: argparse.Namespace) -> int:
    """Run ``tracegraph graph``; returns the exit status."""
    model, name = FunctionLoader().load(args.model, "model")
    model_args, model_kwargs = parse_model_args(args.args)
    check_call(model, name, model_args, model_kwargs)
    out = Path(args.out)
    tracegraph.set_rng_seed(args.seed)
    with user_code(f"the model '{name}'"):
        trace = poutine.trace(model).get_trace(*model_args, **model_kwargs)
        trace.compute_log_prob()
        relations = get_model_relations(model, model_args, model_kwargs)
        deps = get_dependencies(model, model_args, model_kwargs)
    print(trace.format_shapes(title=f"Trace Shapes of {name}:"))
    print("\nPrior dependencies (each site <- the sites it is drawn from):")
    for site, parents in deps["prior_dependencies"].items():
        print(_deps_line(site, "<-", parents))
    print("\nPosterior dependencies (latent site ~ the sites it is coupled with):")
    for site, coupled in deps["posterior_dependencies"].items():
        print(_deps_line(site, "~", coupled))
    if graphviz is None:
        print("\n(the graphviz Python package is not installed: no drawing; pip install graphviz)")
        return 0
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"cannot create the output folder {out}: {exc.strerror}") from exc
    prior = render_graph(relations, render_distributions=True)
    posterior = posterior_graph(relations, deps["posterior_dependencies"])
    print()
    written = write_pictures(prior, out / name) + write_pictures(
        posterior, out / f"{name}-posterior"
    )
    if shutil.which("dot") is None:
        print(NO_DOT_NOTE)
    print("wrote: " + ", ".join(str(p) for p in written))
    return 0
