"""The package's logger, ``tracegraph.log`` (Pyro's ``pyro.log``): the logger
named ``"tracegraph"``, at level INFO, writing ``LEVEL <tab> message`` lines to
standard error and not propagating to the root logger, as Pyro's does.

>>> log.name, log.level == logging.INFO, log.propagate
('tracegraph', True, False)
"""

from __future__ import annotations

import logging

__all__ = ["log"]

log = logging.getLogger("tracegraph")
if not log.handlers:
    _handler = logging.StreamHandler()
    _handler.setLevel(logging.INFO)
    _handler.setFormatter(logging.Formatter("%(levelname)s \t %(message)s"))
    log.addHandler(_handler)
log.setLevel(logging.INFO)
log.propagate = False
