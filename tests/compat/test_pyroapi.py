"""The public conformance suite for Pyro-API backends (``pyroapi.tests``, from
the pyro-api package), run against tracegraph registered as a backend."""

from __future__ import annotations

import pytest

pyroapi = pytest.importorskip("pyroapi")
from pyroapi import pyro_backend, register_backend  # noqa: E402
from pyroapi.tests import *  # noqa: E402, F403

register_backend(
    "tracegraph",
    {
        "distributions": "tracegraph.distributions",
        "handlers": "tracegraph.poutine",
        "infer": "tracegraph.infer",
        "ops": "torch",
        "optim": "tracegraph.optim",
        "pyro": "tracegraph",
    },
)


@pytest.fixture
def backend():
    with pyro_backend("tracegraph"):
        yield
