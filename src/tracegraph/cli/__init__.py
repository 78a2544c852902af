"""The ``tracegraph`` command line (also ``python -m tracegraph``).

* ``tracegraph demo``: traces, provenance and TraceGraph ELBO at work on a
  built-in model (:mod:`tracegraph.cli.demo`);
* ``tracegraph graph FILE.py:model``: a model's dependency graph
  (:mod:`tracegraph.cli.graph`);
* ``tracegraph variance FILE.py:model FILE.py:guide``: gradient variance and
  speed of each ELBO estimator (:mod:`tracegraph.cli.variance`).

Bad input gets a one-line ``tracegraph <command>: error: ...`` on stderr and exit
status 1 (2 for bad options, as argparse does; 130 for Ctrl-C); ``--debug``
shows the full traceback instead.

>>> main(["graph", "no/such/file.py:model"])  # prints the error on stderr
1
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tracegraph import __version__
from tracegraph.cli import demo, graph, variance
from tracegraph.cli.loading import CliError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command.

    >>> build_parser().parse_args(["demo", "--steps", "5"]).steps
    5
    """
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    parser = argparse.ArgumentParser(
        prog="tracegraph",
        description=(
            "Execution traces, sound provenance tracking and the Rao-Blackwellized "
            "TraceGraph ELBO, for PyTorch. Start with `tracegraph demo`."
        ),
    )
    parser.add_argument("--version", action="version", version=f"tracegraph {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo.add_parser(sub, [common])
    graph.add_parser(sub, [common])
    variance.add_parser(sub, [common])
    return parser


def _fail(command: str, message: str) -> None:
    print(f"tracegraph {command}: error: {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    :param argv: the arguments (``sys.argv[1:]`` when ``None``).
    :returns: the exit status.
    """
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except CliError as exc:
        if args.debug:
            raise
        hint = " (--debug shows the traceback)" if exc.__cause__ is not None else ""
        _fail(args.command, f"{exc}{hint}")
        return 1
    except KeyboardInterrupt:
        if args.debug:
            raise
        _fail(args.command, "interrupted")
        return 130
    except Exception as exc:  # noqa: BLE001 - the promise: no bare traceback without --debug
        if args.debug:
            raise
        text = str(exc).strip().splitlines()
        _fail(
            args.command,
            f"{type(exc).__name__}: {text[0] if text else '(no message)'} "
            "(--debug shows the traceback)",
        )
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
