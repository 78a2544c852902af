"""Agreement between the ranks before every collective, and a failure on one rank
told to all of them.

Every exchange of :class:`~tracegraph.infer.distributed.svi.DistributedSVI` starts
with a *header*: four integers all-gathered over a gloo group of its own (CPU,
with its own timeout) saying what the rank is about to do (its :class:`Kind`),
at which step, a digest of the tensors it will send, and whether it failed.

* Equal headers: the collective that follows is well formed on every rank.
* Different headers: every rank holds the same table, so every rank takes the
  same slow path -- gather a description from each rank, raise one error that
  names them -- and none waits for a collective another rank will never join.
* A rank that raised (in its model, guide or loss) sends a ``FAILED`` header in
  place of whatever it would have sent next; the others meet it at their next
  exchange and stop with a :class:`~tracegraph.errors.DistributedError` naming
  its rank, its site and its error.
* A rank that died or hangs: the header's all-gather times out, and the ranks
  still alive stop with an error saying so.

Tensors of the data plane (gradients, which may live on GPUs and go through
NCCL) move only after the ranks agreed, so NCCL never waits for a missing peer.

>>> from tracegraph.infer.distributed.group import init_distributed, shutdown_distributed
>>> _ = init_distributed()
>>> channel = Channel(timeout=10.0)
>>> channel.agree(Kind.STEP, 1, "grads of w", lambda: "finished step 1")
True
>>> shutdown_distributed()
"""

from __future__ import annotations

import datetime
import hashlib
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import IntEnum
from typing import Any

import torch
import torch.distributed as dist

from tracegraph.errors import DistributedError

__all__ = ["Channel", "Kind", "digest", "failure_site"]


class Kind(IntEnum):
    """What a rank is about to do; the first entry of its header.

    >>> Kind(2).name
    'NEW_PARAM'
    """

    #: End of a step: average gradients, decaying-average baselines and loss.
    STEP = 1
    #: A param appeared during a run: broadcast it from rank 0.
    NEW_PARAM = 2
    #: Params that appeared between steps: broadcast them from rank 0.
    PARAMS = 3
    #: ``evaluate_loss``: average the loss.
    EVALUATE = 4
    #: This rank raised; what it raised follows.
    FAILED = 5


_OK, _RAISED, _INTERRUPTED = 0, 1, 2


def digest(key: str) -> int:
    """A 63-bit digest of ``key``, equal on every rank (unlike ``hash``, which
    Python salts per process).

    >>> digest("w") == digest("w"), digest("w") == digest("v")
    (True, False)
    """
    raw = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(raw, "little") >> 1


_SITE_NOTE = re.compile(r"at site '([^']*)'")


def failure_site(exc: BaseException, current: str | None, last: str | None) -> str:
    """Where ``exc`` happened, in words: the site a note of the exception names
    (a log-prob that failed), else the site being run, else the last site run.

    :param current: the site whose handlers were running when it raised.
    :param last: the last site that finished.

    >>> failure_site(ValueError("bad"), None, "z")
    "after site 'z'"
    """
    for note in reversed(getattr(exc, "__notes__", None) or []):
        match = _SITE_NOTE.search(str(note))
        if match:
            return f"at site '{match.group(1)}'"
    if current is not None:
        return f"at site '{current}'"
    if last is not None:
        return f"after site '{last}'"
    return "before its first site"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else ""


class Channel:
    """The control channel of one data-parallel SVI object: a gloo group with its
    own timeout, over which ranks agree before each collective.

    Creating it is itself a collective: every rank must create its channels in
    the same order (every rank builds the same ``DistributedSVI`` objects).

    :param timeout: seconds an exchange waits for the other ranks.
    :param group: the ranks taking part (the default group when None).
    :param inline_bytes: room in every header for a payload of float64 numbers
        (:meth:`agree`'s ``payload``); every header has this size, whatever it
        carries, so that any two exchanges of the ranks match.
    """

    def __init__(self, timeout: float, group: Any = None, inline_bytes: int = 0) -> None:
        self.timeout = float(timeout)
        self.slot = max(0, int(inline_bytes)) // 8
        #: The ranks' payloads of the last :meth:`agree`, in rank order, when
        #: every rank sent one (else None).
        self.payloads: list[torch.Tensor] | None = None
        #: Seconds spent in the channel's collectives (waiting for the slowest
        #: rank to arrive, mostly).
        self.seconds = 0.0
        self.rank = dist.get_rank(group)
        self.world_size = dist.get_world_size(group)
        ranks = None if group is None else dist.get_process_group_ranks(group)
        self.group = dist.new_group(
            ranks=ranks,
            backend="gloo",
            timeout=datetime.timedelta(seconds=self.timeout),
            # For a subgroup only its members take part in making the channel.
            use_local_synchronization=ranks is not None,
        )

    # -- collectives of the control group ------------------------------------------
    @contextmanager
    def _collective(self, doing: Callable[[], str]) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        except RuntimeError as exc:
            error = DistributedError(
                f"rank {self.rank}: no answer from the other ranks within {self.timeout:g} s "
                f"while it {doing()}: another rank died, hangs, or raised outside a step "
                f"(its own output says why); torch.distributed said: {_first_line(exc)}"
            )
            error.collective_failed = True  # type: ignore[attr-defined]
            raise error from exc
        finally:
            self.seconds += time.perf_counter() - start

    def _headers(
        self, header: list[int], doing: Callable[[], str], payload: torch.Tensor | None = None
    ) -> list[list[int]]:
        # One int64 tensor: the header, then the payload's float64 bits, padded to
        # the fixed slot.  A header says how many payload numbers it carries.
        n = 0 if payload is None else payload.numel()
        header = [*header, n]
        self.payloads = None
        if self.world_size == 1:
            if payload is not None:
                self.payloads = [payload]
            return [header]
        mine = torch.zeros(len(header) + self.slot, dtype=torch.int64)
        mine[: len(header)] = torch.tensor(header, dtype=torch.int64)
        if payload is not None:
            mine[len(header) : len(header) + n] = payload.view(torch.int64)
        rows = [torch.empty_like(mine) for _ in range(self.world_size)]
        with self._collective(doing):
            dist.all_gather(rows, mine, group=self.group)
        heads = [row[: len(header)].tolist() for row in rows]
        if n and all(h == header for h in heads):
            self.payloads = [row[len(header) : len(header) + n].view(torch.float64) for row in rows]
        return heads

    def gather(self, obj: Any, doing: Callable[[], str]) -> list[Any]:
        """Every rank's ``obj`` (picklable), in rank order."""
        if self.world_size == 1:
            return [obj]
        out: list[Any] = [None] * self.world_size
        with self._collective(doing):
            dist.all_gather_object(out, obj, group=self.group)
        return out

    def broadcast(self, obj: Any, doing: Callable[[], str]) -> Any:
        """Rank 0's ``obj`` (picklable), on every rank."""
        if self.world_size == 1:
            return obj
        box = [obj]
        with self._collective(doing):
            dist.broadcast_object_list(box, src=0, group=self.group)
        return box[0]

    # -- agreement -----------------------------------------------------------------
    def fits(self, numbers: int) -> bool:
        """Whether a payload of ``numbers`` float64 numbers fits in a header."""
        return 0 < numbers <= self.slot

    def agree(
        self,
        kind: Kind,
        step: int,
        key: str,
        describe: Callable[[], str],
        payload: torch.Tensor | None = None,
    ) -> bool:
        """Check that every rank is about to do the same thing.

        :param kind: what this rank is about to do.
        :param step: the step it is in.
        :param key: what it will send (names, shapes, dtypes); only a digest travels.
        :param describe: says in words what this rank does (for errors).
        :param payload: float64 numbers (at most the slot) to send along; when
            every header is equal, :attr:`payloads` then holds every rank's.
        :returns: True when every header is equal; False when only the keys of a
            ``STEP`` differ (the caller reconciles the layouts).
        :raises DistributedError: when another rank failed, or the ranks do
            different things.
        """
        if payload is not None:
            payload = payload.detach().to("cpu", torch.float64).reshape(-1).contiguous()
            assert self.fits(payload.numel()), "payload larger than the slot"
        header = [int(kind), step, digest(key), _OK]
        rows = self._headers(header, describe, payload)
        header = [*header, 0 if payload is None else payload.numel()]
        if all(row == header for row in rows):
            return True
        if any(row[0] == Kind.FAILED for row in rows):
            self._stop(rows, describe(), own=None)
        same_kind = all(row[:2] == header[:2] for row in rows)
        if same_kind and kind == Kind.STEP:
            return False
        said = self.gather(describe(), describe)
        lines = "\n".join(f"  rank {r}: {text}" for r, text in enumerate(said))
        raise DistributedError(
            f"the ranks disagree about what comes next:\n{lines}\nEvery rank must create "
            f"the same params (names, shapes, dtypes) in the same order and call step / "
            f"evaluate_loss equally often: a param made on some ranks only cannot be kept "
            f"identical. Hint: create data-dependent params with the full data set's size "
            f"on every rank, and index them with the plate's subsample."
        )

    def report(self, step: int, exc: BaseException, site: str) -> None:
        """Tell every rank that this one raised ``exc`` (at ``site``), then return
        so the caller re-raises it.  The other ranks raise at their next exchange."""
        interrupted = isinstance(exc, KeyboardInterrupt)
        header = [int(Kind.FAILED), step, 0, _INTERRUPTED if interrupted else _RAISED]
        what = {
            "rank": self.rank,
            "step": step,
            "type": type(exc).__name__,
            "message": _first_line(exc),
            "site": site,
            "interrupted": interrupted,
        }
        rows = self._headers(header, lambda: f"reports its {type(exc).__name__}")
        self._stop(rows, what, own=exc)

    def _stop(self, rows: list[list[int]], mine: Any, own: BaseException | None) -> None:
        # Every rank that saw a FAILED header comes here, so this gather matches.
        said = self.gather(mine, lambda: "gathers the failures of other ranks")
        failures = [s for s, row in zip(said, rows) if row[0] == Kind.FAILED]
        others = [f for f in failures if f["rank"] != self.rank]
        text = "; ".join(
            f"rank {f['rank']} raised {f['type']} {f['site']} in step {f['step']}: "
            f"{f['message']} (its own output has the traceback)"
            for f in others
        )
        if own is not None:
            if others:
                own.add_note(f"other ranks failed too: {text}")
            own.add_note(f"rank {self.rank} told the other ranks to stop")
            return
        if all(f["interrupted"] for f in others):
            interrupt = KeyboardInterrupt()
            interrupt.add_note(f"stopped because {text}")
            raise interrupt
        error = DistributedError(f"rank {self.rank} stops because {text}")
        first = others[0]
        error.rank, error.site, error.step = first["rank"], first["site"], first["step"]  # type: ignore[attr-defined]
        raise error
