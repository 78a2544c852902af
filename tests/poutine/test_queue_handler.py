"""poutine.queue: exhaustive exploration of discrete choices through partial traces."""

from __future__ import annotations

import queue as queues

import pytest
import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph import poutine
from tracegraph.poutine.util import all_escape, mc_extend


def discrete():
    a = tracegraph.sample("a", dist.Bernoulli(0.5))
    b = tracegraph.sample("b", dist.Categorical(torch.ones(3) / 3))
    c = tracegraph.sample("c", dist.Normal(0.0, 1.0))
    return int(a), int(b), c


def _fresh(kind=queues.LifoQueue):
    q = kind()
    q.put(poutine.Trace())
    return q


def test_queue_enumerates_every_discrete_path_once():
    q = _fresh()
    explore = poutine.queue(discrete, queue=q)
    paths = []
    while not q.empty():
        a, b, _ = explore()
        paths.append((a, b))
    # Depth-first, the last support value first (a LIFO queue).
    assert paths == [(1, 2), (1, 1), (1, 0), (0, 2), (0, 1), (0, 0)]


def test_queue_outer_trace_records_only_the_completed_run():
    q = _fresh()
    tr = poutine.trace(poutine.queue(discrete, queue=q)).get_trace()
    assert list(tr.nodes) == ["_INPUT", "a", "b", "c", "_RETURN"]
    # The escaped runs were forgotten by reset_stack (as Pyro, the input node is
    # re-recorded with type "input").
    assert tr.nodes["_INPUT"]["type"] == "input"


def test_queue_with_all_escape_and_mc_extend_samples_continuations():
    q = _fresh(queues.Queue)
    explore = poutine.queue(discrete, queue=q, escape_fn=all_escape, extend_fn=mc_extend)
    a, b, c = explore()
    # One continuation per escaped site (a, then b, then c), each taken in turn.
    assert q.qsize() == 0 and isinstance(c, torch.Tensor)
    q.put(poutine.Trace())
    explore = poutine.queue(
        discrete, queue=q, escape_fn=all_escape, extend_fn=mc_extend, num_samples=2
    )
    explore()
    # Breadth-first (FIFO), 2 continuations per escape: the first complete run is
    # the first of the 8 three-site traces, after 1 + 2 + 4 escapes.
    assert q.qsize() == 7


def test_queue_as_decorator():
    q = _fresh()
    explore = poutine.queue(queue=q)(discrete)
    assert explore()[:2] == (1, 2) and explore.__name__ == "discrete"


def test_queue_empty_raises_assertion_compatible_error():
    with pytest.raises(AssertionError, match="queue of partial traces is empty"):
        poutine.queue(discrete, queue=queues.Queue())()


def test_queue_max_tries_raises_value_error():
    q = _fresh(queues.Queue)
    with pytest.raises(ValueError, match=r"max tries \(1\) exceeded"):
        poutine.queue(discrete, queue=q, max_tries=1)()
    assert q.qsize() == 2  # the extensions of the first partial trace
