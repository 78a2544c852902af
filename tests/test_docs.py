"""The examples in the documentation run: every ``>>>`` example of ``docs/*.md``
(as doctests) and every ``python`` code block of ``README.md`` (executed)."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDES = sorted((ROOT / "docs").glob("*.md"))




def test_docs_every_guide_has_examples():
    names = {p.name for p in GUIDES}
    assert {"traces.md", "handlers.md", "provenance.md", "tracegraph-elbo.md"} <= names
    for path in GUIDES:
        assert ">>> " in path.read_text(), f"{path.name} has no example"


@pytest.mark.parametrize("path", GUIDES, ids=[p.name for p in GUIDES])
def test_docs_guide_examples_pass(path):
    result = doctest.testfile(
        str(path),
        module_relative=False,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
        verbose=False,
    )
    assert result.attempted > 0
    assert result.failed == 0, f"{result.failed} example(s) of {path.name} failed (see stdout)"


def _readme_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)


def test_readme_has_a_quickstart():
    assert any("TraceGraph_ELBO" in block for block in _readme_blocks())


@pytest.mark.parametrize("index", range(len(_readme_blocks())))
def test_readme_python_blocks_run(index, capsys):
    exec(compile(_readme_blocks()[index], f"README.md block {index}", "exec"), {})
