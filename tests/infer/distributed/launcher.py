"""Start the ranks of a distributed test the way ``torchrun`` does -- one process
per rank with ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
``MASTER_PORT`` set -- on 127.0.0.1, on a free port, with a deadline: a test
that goes wrong kills its ranks and fails, it never hangs CI.

:func:`launch_once` runs a scenario once per test session, even when several
pytest-xdist workers hold tests that need it: the first launches, the others
wait on a file lock and read its results."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from filelock import FileLock

WORKERS = Path(__file__).resolve().parent / "workers.py"
SRC = Path(__file__).resolve().parents[3] / "src"


def free_port() -> int:
    """A TCP port nobody listens on now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rank_env(rank: int, world_size: int, port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world_size),
        LOCAL_WORLD_SIZE=str(world_size),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        PYTHONPATH=os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")]),
        OMP_NUM_THREADS="1",
    )
    if sys.platform.startswith("linux") and Path("/sys/class/net/lo").exists():
        env["GLOO_SOCKET_IFNAME"] = "lo"  # the loopback interface: 127.0.0.1
    return env


@dataclass
class Job:
    """One launch: each rank's exit code (negative: killed) and output, the
    wall-clock seconds until all had exited, and whether the deadline hit."""

    returncodes: list[int]
    outputs: list[str]
    seconds: float
    timed_out: bool


def launch(scenario: str, out: Path, world_size: int = 2, deadline: float = 90.0) -> Job:
    """Run ``workers.py scenario out`` on ``world_size`` ranks; kill them all if
    any is still running after ``deadline`` seconds."""
    port = free_port()
    start = time.perf_counter()
    logs = [out / f"rank{rank}.log" for rank in range(world_size)]
    procs = []
    for rank, log in enumerate(logs):
        with open(log, "w") as f:  # a file, not a pipe: a full pipe would block a rank
            procs.append(
                subprocess.Popen(
                    [sys.executable, str(WORKERS), scenario, str(out)],
                    env=rank_env(rank, world_size, port),
                    stdout=f,
                    stderr=subprocess.STDOUT,
                )
            )
    timed_out = False
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - (time.perf_counter() - start)))
        except subprocess.TimeoutExpired:
            timed_out = True
            for other in procs:
                other.kill()
            proc.wait()
    seconds = time.perf_counter() - start
    return Job(
        [int(p.returncode) for p in procs], [log.read_text() for log in logs], seconds, timed_out
    )


def launch_once(
    scenario: str, tmp_path_factory: pytest.TempPathFactory, deadline: float = 90.0
) -> tuple[Path, Job]:
    """:func:`launch` the scenario unless this session did already; returns the
    directory holding its results and the job."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # shared by the session's workers
    out = root / f"launch-{scenario}"
    record = out / "job.json"
    with FileLock(str(out) + ".lock"):
        if not record.exists():
            out.mkdir(exist_ok=True)
            job = launch(scenario, out, deadline=deadline)
            record.write_text(json.dumps(job.__dict__))
    return out, Job(**json.loads(record.read_text()))
