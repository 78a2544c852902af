"""The zoo (``zoo_*.py``) run through Pyro 1.9.2 and tracegraph: the same
traces (node names and order, types, values where the draws coincide, shapes,
frames, scales, masks, ``infer``, message keys, edges, log-probs), the same
values, or exceptions of the same built-in type, and the same warnings."""

from __future__ import annotations

import pytest

pytest.importorskip("pyro", reason="the differential tests compare against pyro-ppl==1.9.2")

import zoo_handlers  # noqa: E402, F401 - each zoo module registers its programs
import zoo_invalid_arguments  # noqa: E402, F401
import zoo_markov_queue  # noqa: E402, F401
import zoo_plates  # noqa: E402, F401
import zoo_primitives  # noqa: E402, F401
import zoo_util  # noqa: E402, F401
from differential import PROGRAMS, compare  # noqa: E402


def test_zoo_has_at_least_sixty_programs() -> None:
    assert len(PROGRAMS) >= 60


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_program_behaves_as_in_pyro(name: str) -> None:
    compare(PROGRAMS[name])
