"""Checks every tracegraph distribution must pass: the mixin's methods and provenance.

Used by the tests of Pyro's own distributions (``test_conjugate.py`` and friends).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from tracegraph.distributions import Independent, MaskedDistribution
from tracegraph.ops.provenance import detach_provenance, get_provenance, track_provenance


def tracked(value: Any, name: str = "z") -> torch.Tensor:
    return track_provenance(
        torch.as_tensor(value, dtype=torch.get_default_dtype()), frozenset({name})
    )


def check_mixin(d: Any, value: torch.Tensor) -> None:
    """``to_event``, ``expand_by``, ``mask``, ``score_parts`` and ``has_rsample_`` on ``d``."""
    log_prob = d.log_prob(value)
    batch = d.batch_shape
    # expand_by prepends dims and keeps the class.
    e = d.expand_by((2,))
    assert e.batch_shape == (2,) + batch and e.event_shape == d.event_shape
    torch.testing.assert_close(e.log_prob(value), log_prob.expand((2,) + log_prob.shape))
    # to_event moves batch dims into the event and sums their log-density.
    if batch:
        ind = d.to_event(1)
        assert isinstance(ind, Independent)
        assert ind.event_shape == batch[-1:] + d.event_shape
        torch.testing.assert_close(ind.log_prob(value), log_prob.sum(-1))
    assert d.to_event(0) is d
    # mask(False) zeroes the log-density; mask(True) keeps it.  (MaskedMixture's
    # ``mask`` is its mask tensor, as in Pyro; the method is reached by name.)
    masked = (
        type(d).__mro__[1].mask(d, False)
        if type(d).__name__ == "MaskedMixture"
        else (d.mask(False))
    )
    assert isinstance(masked, MaskedDistribution)
    assert (masked.log_prob(value) == 0).all()
    kept = MaskedDistribution(d, True)
    torch.testing.assert_close(kept.log_prob(value), log_prob)
    # score_parts follows the has_rsample switch.
    parts = d.score_parts(value)
    torch.testing.assert_close(parts.log_prob, log_prob)
    flag = bool(d.has_rsample)
    if type(d).__name__ == "Rejector":
        pass  # its acceptance step adds a score-function term (see test_rejector.py)
    elif flag:
        assert parts.score_function == 0.0
    else:
        assert parts.entropy_term == 0.0
    assert d.has_rsample_(not flag) is d and d.has_rsample is (not flag)
    assert d.expand_by((3,)).has_rsample is (not flag)
    d.has_rsample_(flag)
    assert d.event_dim == len(d.event_shape)
    assert d.shape((4,)) == (4,) + batch + d.event_shape


def check_provenance(make: Callable[[torch.Tensor], Any], param: Any, value: torch.Tensor) -> None:
    """A distribution built from a tracked parameter scores values with its provenance."""
    d = make(tracked(param))
    assert get_provenance(d.log_prob(value)) == frozenset({"z"})
    both = d.log_prob(track_provenance(value, frozenset({"x"})))
    assert get_provenance(both) == frozenset({"z", "x"})
    # Values are unchanged by tracking.
    torch.testing.assert_close(
        detach_provenance(d.log_prob(value)),
        make(torch.as_tensor(param, dtype=torch.get_default_dtype())).log_prob(value),
    )
