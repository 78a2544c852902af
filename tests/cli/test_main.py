"""Tests of tracegraph.cli.main: help, exit codes, --debug, unexpected errors."""

from __future__ import annotations

import pytest

import tracegraph
from tracegraph.cli import build_parser, graph, main
from tracegraph.cli.loading import CliError


@pytest.mark.parametrize("command", ["demo", "graph", "variance"])
def test_main_help_on_every_command(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: tracegraph {command}") and "--debug" in out


def test_main_version(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"tracegraph {tracegraph.__version__}"


def test_main_no_command_is_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2


@pytest.mark.parametrize("steps", ["0", "-3", "many"])
def test_main_demo_bad_steps_is_usage_error(steps, capsys):
    with pytest.raises(SystemExit) as info:
        main(["demo", "--steps", steps])
    assert info.value.code == 2
    assert "--steps: expected a positive integer" in capsys.readouterr().err


def test_main_debug_reraises_the_error_with_its_cause(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("def model():\n    raise ValueError('broken')\n")
    with pytest.raises(CliError, match="raised ValueError: broken") as info:
        main(["graph", str(path), "--debug", "--out", str(tmp_path)])
    assert isinstance(info.value.__cause__, ValueError)


def test_main_unexpected_error_is_one_line(monkeypatch, capsys):
    def broken(args):
        raise RuntimeError("internal\nsecond line")

    monkeypatch.setattr(graph, "run", broken)
    assert main(["graph", "x.py"]) == 1
    err = capsys.readouterr().err
    assert err == (
        "tracegraph graph: error: RuntimeError: internal (--debug shows the traceback)\n"
    )


def test_main_keyboard_interrupt_exits_130(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(graph, "run", interrupted)
    assert main(["graph", "x.py"]) == 130
    assert capsys.readouterr().err == "tracegraph graph: error: interrupted\n"


def test_build_parser_demo_defaults():
    args = build_parser().parse_args(["demo"])
    assert (args.steps, args.seed, args.out, args.no_plot) == (300, 0, "tracegraph-demo", False)
