"""The program zoo runs the same in Pyro 1.9.2 and tracegraph (issue 10, differential tests).

Each program of the ``zoo_*.py`` modules runs in both libraries from seed 0; the
test compares trace node names and order, site types, ``is_observed``, value
types, dtypes and shapes, values (both libraries draw from torch's global
generator, so equal draw order gives equal values), ``cond_indep_stack``,
``infer``, ``scale``, ``mask``, message keys, edges, per-site log-probs,
``log_prob_sum``, return values, warning categories and, for invalid programs,
the exception type (tracegraph's may be a subclass).  Programs listed in
``differential.DIFFERENCES`` assert tracegraph's documented behaviour instead.
"""

from __future__ import annotations

import pytest

pytest.importorskip("pyro", reason="the differential tests compare against pyro-ppl==1.9.2")

import zoo_control_handlers  # noqa: E402, F401 - each zoo module registers its programs
import zoo_handlers  # noqa: E402, F401
import zoo_invalid_arguments  # noqa: E402, F401
import zoo_markov_queue  # noqa: E402, F401
import zoo_messengers  # noqa: E402, F401
import zoo_plates  # noqa: E402, F401
import zoo_primitives  # noqa: E402, F401
import zoo_subsampling  # noqa: E402, F401
import zoo_traces  # noqa: E402, F401
import zoo_util  # noqa: E402, F401
from differential import DIFFERENCES, PROGRAMS, check  # noqa: E402


def test_program_zoo_has_at_least_60_programs() -> None:
    assert len(PROGRAMS) >= 60
    # Entries of the documented examples (doc_*, held_out_*) and of the pairs
    # ("<pair>[<ELBO>]") are checked by their own tests.
    programs = {
        name
        for name in DIFFERENCES
        if "[" not in name and not name.startswith(("doc_", "held_out_"))
    }
    assert programs <= set(PROGRAMS)


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_program_matches_pyro(name: str) -> None:
    check(name, PROGRAMS[name])
