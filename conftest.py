"""Test configuration shared by the whole suite (tests/ and the doctests in src/).

The one clean-state fixture: every test starts with fixed seeds, an empty param
store, validation on and one torch thread, and must leave no handler installed
(test files add no fixture of their own for this).  Warnings are errors (see
pyproject.toml).
"""

from __future__ import annotations

import pytest
import torch

import tracegraph
from tracegraph.poutine.runtime import get_handler_stack

# Importing __main__ would run the command line.
collect_ignore = ["src/tracegraph/__main__.py"]


# The suite runs in two worker processes on two cores; more torch threads per
# worker only contend (steps measured 5-10x slower with two threads each).
torch.set_num_threads(1)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", help="run tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow statistical test: run with --runslow (CI does)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True, scope="session")
def _compile_tools_loaded():
    # The Jit ELBOs load inductor in a background thread at their first step;
    # importing beside the tests (which swap warning filters and registries)
    # would make failures depend on timing.  Load it once, up front, instead
    # (tests of the loading itself stand in for the flag).
    from tracegraph.infer.compiled import prepare

    assert prepare(wait=True, timeout=600)


@pytest.fixture(autouse=True)
def _clean_state():
    tracegraph.set_rng_seed(0)
    tracegraph.clear_param_store()
    tracegraph.enable_validation(True)
    torch.set_num_threads(1)  # a test may have changed it
    yield
    leftover = get_handler_stack()
    assert not leftover, f"test left handlers installed: {leftover}"
    tracegraph.clear_param_store()
