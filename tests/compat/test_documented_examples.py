"""Pyro's documented examples and realistic user programs, in Pyro 1.9.2 and tracegraph.

A user porting a program changes its imports: every in-scope module path of
Pyro 1.9.2 must import from tracegraph too.  The programs of
``zoo_documented.py`` follow the examples in the docstrings of those modules
(rewritten), those of ``zoo_held_out.py`` are realistic programs (regression with
``Predictive``, importance sampling, a mixture with baselines, a ``markov`` time
series, handler combinations, every optimizer and scheduler, saving and loading
the param store); each must give the same outcome in both libraries (see
``differential.py``), or the documented one for entries of ``DIFFERENCES``.
"""

from __future__ import annotations

import importlib

import pytest

pytest.importorskip("pyro", reason="the differential tests compare against pyro-ppl==1.9.2")

import zoo_held_out  # noqa: E402, F401 - registers its programs
from api_surface import MODULES, tracegraph_path  # noqa: E402
from differential import check  # noqa: E402
from zoo_documented import EXAMPLES  # noqa: E402


@pytest.mark.parametrize("path", MODULES)
def test_in_scope_module_imports_in_both_libraries(path: str) -> None:
    theirs = importlib.import_module(path)
    ours = importlib.import_module(tracegraph_path(path))
    assert ours.__name__ == tracegraph_path(path) and theirs.__name__ == path


def test_at_least_twenty_documented_examples() -> None:
    documented = [name for name in EXAMPLES if name.startswith("doc_")]
    held_out = [name for name in EXAMPLES if name.startswith("held_out_")]
    assert len(documented) >= 20 and len(held_out) >= 7
    assert len(documented) + len(held_out) == len(EXAMPLES)


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_documented_example_matches_pyro(name: str) -> None:
    check(name, EXAMPLES[name])
