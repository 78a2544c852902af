"""The zoo of ``poutine_zoo.py`` run through Pyro 1.9.2 and tracegraph: the same
traces (node names and order, types, values where the draws coincide, shapes,
frames, scales, masks, ``infer``, message keys, edges, log-probs), the same
values, or exceptions of the same built-in type, and the same warnings."""

from __future__ import annotations

import pytest

pytest.importorskip("pyro", reason="the differential tests compare against pyro-ppl==1.9.2")

from differential import compare  # noqa: E402
from poutine_zoo import PROGRAMS  # noqa: E402


def test_zoo_has_at_least_sixty_programs() -> None:
    assert len(PROGRAMS) >= 60


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_program_behaves_as_in_pyro(name: str) -> None:
    compare(PROGRAMS[name])
