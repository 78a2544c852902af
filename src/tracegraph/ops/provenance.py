# TEMPORARY STUB written by the lead so that `import tracegraph` works while the
# provenance helper writes the real module.  The provenance helper replaces this
# whole file; nothing here is meant to stay.
from __future__ import annotations

from contextlib import contextmanager
from typing import Any


class _Scope:
    provenance: frozenset[str] = frozenset()


@contextmanager
def control_flow_scope():
    yield _Scope()


def track_provenance(x: Any, provenance: frozenset[str]) -> Any:
    return x


def get_provenance(x: Any) -> frozenset[str]:
    return frozenset()


def detach_provenance(x: Any) -> Any:
    return x
