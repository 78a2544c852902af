"""The model--guide zoo gives the same SVI outcome in Pyro 1.9.2 and tracegraph (issue 10).

Each pair of ``model_guide_zoo.py`` runs through two ``SVI.step`` calls
(``Adam({"lr": 1e-6})``) with ``Trace_ELBO`` and with ``TraceGraph_ELBO``, in both
libraries from seed 0.  The outcome must agree: both run (and then the two losses
agree, since both libraries draw from torch's global generator in the same
order, and the param store holds the same names), both warn with the same
categories, or both raise (tracegraph's exception an instance of Pyro's type).
"""

from __future__ import annotations

import pytest
from model_guide_zoo import PAIRS
from zoo_compare import PYRO, TRACEGRAPH, compare, report, run_in

ELBOS = ["Trace_ELBO", "TraceGraph_ELBO"]
STEPS = 2


def test_model_guide_zoo_has_at_least_100_pairs() -> None:
    assert len(PAIRS) >= 100


def _svi_steps(name: str, elbo_name: str):
    def code(lib):
        pair = PAIRS[name](lib.pyro, lib.dist, lib.poutine)
        elbo = getattr(lib.pyro.infer, elbo_name)(**pair.elbo)
        optim = lib.pyro.optim.Adam({"lr": 1e-6})
        svi = lib.pyro.infer.SVI(pair.model, pair.guide, optim, loss=elbo)
        losses = [svi.step(*pair.args, **pair.kwargs) for _ in range(STEPS)]
        return {"losses": losses, "params": sorted(lib.pyro.get_param_store().keys())}

    return code


@pytest.mark.parametrize("elbo", ELBOS)
@pytest.mark.parametrize("name", list(PAIRS))
def test_model_guide_pair_svi_outcome_matches_pyro(name: str, elbo: str) -> None:
    code = _svi_steps(name, elbo)
    expected = run_in(PYRO, code)
    actual = run_in(TRACEGRAPH, code)
    problems = compare(expected, actual)
    assert not problems, report(f"pair {name!r} with {elbo}", problems)
