"""The package's logger, ``tracegraph.log`` (Pyro's ``pyro.log``): the logger
named ``"tracegraph"`` at level INFO.  As Pyro's, when the program has not set up
logging (the root logger has no handler at import) it writes ``LEVEL <tab>
message`` lines to standard error itself and does not propagate; otherwise it
leaves the output to the program's handlers.

>>> log.name, log.level == logging.INFO
('tracegraph', True)
"""

from __future__ import annotations

import logging

__all__ = ["log"]

log = logging.getLogger("tracegraph")
log.setLevel(logging.INFO)
if not logging.getLogger().handlers and not log.handlers:
    _handler = logging.StreamHandler()
    _handler.setLevel(logging.INFO)
    _handler.setFormatter(logging.Formatter("%(levelname)s \t %(message)s"))
    log.addHandler(_handler)
    log.propagate = False
