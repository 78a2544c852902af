"""A process group of one rank (this test process) for the tests that need one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tracegraph.infer.distributed import RankInfo, init_distributed, shutdown_distributed


@pytest.fixture
def one_rank() -> Iterator[RankInfo]:
    info = init_distributed()
    try:
        yield info
    finally:
        shutdown_distributed()
