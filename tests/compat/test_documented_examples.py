"""Pyro's documented examples and realistic user programs, in Pyro 1.9.2 and tracegraph.

A user porting a program changes its imports: every in-scope module path of
Pyro 1.9.2 must import from tracegraph too.  The programs of
``zoo_documented.py`` follow the examples in the docstrings of those modules
(rewritten), those of ``zoo_held_out.py`` are realistic programs (regression with
``Predictive``, importance sampling, a mixture with baselines, a ``markov`` time
series, handler combinations, every optimizer and scheduler, saving and loading
the param store), those of ``zoo_tutorials_*.py`` follow Pyro's tutorials
(``PyroModule`` and autoguides, a VAE, eight schools, traces, handlers,
checkpoints); each must give the same outcome in both libraries (see
``differential.py``), or the documented one for entries of ``DIFFERENCES``.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

import pytest

pytest.importorskip("pyro", reason="the differential tests compare against pyro-ppl==1.9.2")

import zoo_held_out  # noqa: E402, F401 - registers its programs
import zoo_tutorials_autoguides  # noqa: E402, F401 - registers its programs
import zoo_tutorials_handlers  # noqa: E402, F401
import zoo_tutorials_modules  # noqa: E402, F401
import zoo_tutorials_svi  # noqa: E402, F401
from api_surface import MODULES, tracegraph_path  # noqa: E402
from differential import DIFFERENCES, check  # noqa: E402
from zoo_documented import EXAMPLES  # noqa: E402
from zoo_tutorials import RAISES_IN_PYRO  # noqa: E402


@pytest.mark.parametrize("path", MODULES)
def test_in_scope_module_imports_in_both_libraries(path: str) -> None:
    theirs = importlib.import_module(path)
    ours = importlib.import_module(tracegraph_path(path))
    assert ours.__name__ == tracegraph_path(path) and theirs.__name__ == path


_REACHABLE = """
import importlib, sys
top, paths = sys.argv[1], sys.argv[2:]
importlib.import_module(top)
for path in paths:
    obj = sys.modules[top]
    try:
        for part in path.split(".")[1:]:
            obj = getattr(obj, part)
    except AttributeError:
        continue
    print(path)
"""


def _reachable(top: str, paths: list[str]) -> set[str]:
    # A fresh interpreter: only what ``import <top>`` itself imports counts.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    run = subprocess.run(
        [sys.executable, "-c", _REACHABLE, top, *paths], capture_output=True, text=True, env=env
    )
    assert run.returncode == 0, run.stderr
    return set(run.stdout.split())


def test_module_paths_reachable_after_importing_the_package_as_in_pyro() -> None:
    # ``import pyro`` then ``pyro.util.set_rng_seed(0)``: a ported program uses
    # submodules as attributes of the package it imported.
    theirs = _reachable("pyro", MODULES)
    ours = _reachable("tracegraph", [tracegraph_path(p) for p in MODULES])
    missing = sorted(p for p in theirs if tracegraph_path(p) not in ours)
    assert not missing


def test_at_least_twenty_documented_examples() -> None:
    documented = [name for name in EXAMPLES if name.startswith("doc_")]
    held_out = [name for name in EXAMPLES if name.startswith("held_out_")]
    assert len(documented) >= 20 and len(held_out) >= 7
    assert len(documented) + len(held_out) == len(EXAMPLES)
    recorded = {name for name in DIFFERENCES if name.startswith(("doc_", "held_out_"))}
    assert recorded <= set(EXAMPLES)


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_documented_example_matches_pyro(name: str) -> None:
    expected, _ = check(name, EXAMPLES[name])
    tutorial = EXAMPLES[name].__module__.startswith("zoo_tutorials")
    if tutorial and name not in RAISES_IN_PYRO:
        assert expected.error is None, f"{name} fails in Pyro itself: {expected.describe()}"
    if name in RAISES_IN_PYRO:
        assert expected.error is not None, f"{name} was recorded to raise in Pyro"
