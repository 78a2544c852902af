"""Every public name of Pyro 1.9.2's in-scope modules exists in tracegraph's module
of the same path, with a compatible signature (see ``api_surface.py``)."""

from __future__ import annotations

import pytest
from api_surface import MODULES, OUT_OF_SCOPE, compare_module, public_names

pytest.importorskip("pyro", reason="the API-surface test compares against pyro-ppl==1.9.2")


@pytest.mark.parametrize("path", MODULES)
def test_api_surface_matches_pyro(path: str) -> None:
    problems = compare_module(path)
    assert not problems, f"{len(problems)} difference(s) from {path}:\n" + "\n".join(
        f"  {p}" for p in problems
    )


@pytest.mark.parametrize("path", sorted(OUT_OF_SCOPE))
def test_api_surface_out_of_scope_names_exist_in_pyro(path: str) -> None:
    # A stale exclusion would hide nothing, but it would mislead the reader.
    import importlib

    module = importlib.import_module(path)
    names = set(public_names(module))
    for entry in OUT_OF_SCOPE[path]:
        head, _, member = entry.partition(".")
        assert head in names, f"{path}.{head} is excluded but Pyro has no such name"
        if member:
            assert hasattr(getattr(module, head), member), f"{path}.{entry}: no such member"
