"""tracegraph.log: configured as Pyro configures ``pyro.log``."""

from __future__ import annotations

import subprocess
import sys

import tracegraph

PROBE = (
    "import logging{setup}\n"
    "import tracegraph\n"
    "log = tracegraph.log\n"
    "print(log.level, log.propagate, [h.formatter._fmt for h in log.handlers])\n"
)


def _probe(setup: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(setup=setup)],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def test_log_writes_to_stderr_itself_when_logging_is_not_set_up():
    assert _probe("") == "20 False ['%(levelname)s \\t %(message)s']"


def test_log_propagates_to_the_programs_handlers_when_logging_is_set_up():
    assert _probe("; logging.basicConfig()") == "20 True []"


def test_log_is_the_tracegraph_logger():
    assert tracegraph.log.name == "tracegraph"
