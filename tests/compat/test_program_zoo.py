"""The program zoo runs the same in Pyro 1.9.2 and tracegraph (issue 10, differential tests).

Each program of ``program_zoo.py`` runs in both libraries from seed 0; the test
compares trace node names and order, site types, ``is_observed``, value types,
dtypes and shapes, values (both libraries draw from torch's global generator, so
equal draw order gives equal values), ``cond_indep_stack``, ``infer``, ``scale``,
``mask``, per-site log-probs, ``log_prob_sum``, return values, warning categories
and, for invalid programs, the exception type (tracegraph's may be a subclass).
"""

from __future__ import annotations

import pytest
from program_zoo import PROGRAMS, PYRO_SILENTLY_WRONG
from zoo_compare import PYRO, TRACEGRAPH, compare, report, run_in

from tracegraph.errors import TracegraphWarning


def test_program_zoo_has_at_least_60_programs() -> None:
    assert len(PROGRAMS) >= 60
    assert set(PYRO_SILENTLY_WRONG) <= set(PROGRAMS)


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_program_matches_pyro(name: str) -> None:
    program = PROGRAMS[name]

    def code(lib):
        return program(lib.pyro, lib.dist, lib.poutine)

    expected = run_in(PYRO, code)
    actual = run_in(TRACEGRAPH, code)
    allowed = TracegraphWarning if name in PYRO_SILENTLY_WRONG else None
    problems = compare(expected, actual, allowed_extra_warning=allowed)
    assert not problems, report(f"program {name!r}", problems)
