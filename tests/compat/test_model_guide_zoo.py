"""The model--guide zoo gives the same SVI outcome in Pyro 1.9.2 and tracegraph (issue 10).

Each pair of the ``zoo_pairs_*.py`` modules runs through two ``SVI.step`` calls
(``Adam({"lr": 1e-6})``) with ``Trace_ELBO`` and with ``TraceGraph_ELBO``, in both
libraries from seed 0.  The outcome must agree: both run (and then the two losses
agree, since both libraries draw from torch's global generator in the same
order, and the param store holds the same names), both warn with the same
categories, or both raise (tracegraph's exception an instance of Pyro's type).
Entries listed in ``differential.DIFFERENCES`` (as ``"<pair>[<ELBO>]"``) assert
tracegraph's documented behaviour instead.
"""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("pyro", reason="the differential tests compare against pyro-ppl==1.9.2")

import zoo_pairs_continuous  # noqa: E402, F401 - each module registers its pairs
import zoo_pairs_discrete  # noqa: E402, F401
import zoo_pairs_handlers  # noqa: E402, F401
import zoo_pairs_mismatches  # noqa: E402, F401
import zoo_pairs_plates  # noqa: E402, F401
from differential import DIFFERENCES, Lib, check  # noqa: E402
from model_guide_zoo import PAIRS  # noqa: E402

ELBOS = ["Trace_ELBO", "TraceGraph_ELBO"]
STEPS = 2


def test_model_guide_zoo_has_at_least_100_pairs() -> None:
    assert len(PAIRS) >= 100
    assert {name.split("[")[0] for name in DIFFERENCES if "[" in name} <= set(PAIRS)


def _svi_steps(name: str, elbo_name: str):
    def code(lib: Lib) -> Any:
        pair = PAIRS[name](lib.pyro, lib.dist, lib.poutine)
        elbo = getattr(lib.pyro.infer, elbo_name)(**pair.elbo)
        optim = lib.pyro.optim.Adam({"lr": 1e-6})
        svi = lib.pyro.infer.SVI(pair.model, pair.guide, optim, loss=elbo)
        losses = [svi.step(*pair.args, **pair.kwargs) for _ in range(STEPS)]
        return {"losses": losses, "params": sorted(map(str, lib.pyro.get_param_store().keys()))}

    return code


@pytest.mark.parametrize("elbo", ELBOS)
@pytest.mark.parametrize("name", list(PAIRS))
def test_model_guide_pair_svi_outcome_matches_pyro(name: str, elbo: str) -> None:
    check(f"{name}[{elbo}]", _svi_steps(name, elbo))
