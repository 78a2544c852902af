"""Force sites to take one value: the value of the first site whose name matches
(Pyro's ``poutine.equalize``).

Names are matched against regular expressions (whole-name matches).  Later
matching sample sites become observed at that value: deterministic sites (a
masked ``Delta``, ``infer["_deterministic"]``), or, with ``keep_dist=True``,
observations of their own distribution, which conditions the model on the values
being equal.  Later matching param sites return the first param's value.

>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> from tracegraph import poutine
>>> def model():
...     a = tracegraph.sample("a_std", dist.LogNormal(0.0, 1.0))
...     b = tracegraph.sample("b_std", dist.LogNormal(0.0, 1.0))
...     return bool(a == b)
>>> with EqualizeMessenger(".+_std"):
...     model()
True
"""

from __future__ import annotations

import re
from typing import Any

from tracegraph.distributions import Delta
from tracegraph.errors import HandlerArgumentError
from tracegraph.poutine.messenger import Messenger
from tracegraph.poutine.runtime import Message
from tracegraph.poutine.sites import site_is_subsample

__all__ = ["EqualizeMessenger"]


class EqualizeMessenger(Messenger):
    """Handler giving every site that matches ``sites`` the first one's value.

    :param sites: a regular expression or a list of them.
    :param type: the site type to equalize (``"sample"`` or ``"param"``).
    :param keep_dist: keep later sample sites' distributions (observe them) instead
        of making them deterministic.
    :raises HandlerArgumentError: (a ``TypeError``) if ``sites`` is neither a str nor a list of str.

    >>> EqualizeMessenger(["x", "y"]).sites
    ['x', 'y']
    """

    def __init__(
        self, sites: str | list[str], type: str | None = "sample", keep_dist: bool | None = False
    ) -> None:
        super().__init__()
        if isinstance(sites, str):
            sites = [sites]
        if not isinstance(sites, (list, tuple)) or not all(isinstance(s, str) for s in sites):
            raise HandlerArgumentError(
                f"equalize(sites=...) expects a regular expression or a list of them, got {sites!r}"
            )
        self.sites = list(sites)
        self._patterns = [re.compile(s) for s in self.sites]
        self.type = type
        self.keep_dist = keep_dist
        self.value: Any = None

    def __enter__(self) -> EqualizeMessenger:
        self.value = None
        super().__enter__()
        return self

    def _is_matching(self, msg: Message) -> bool:
        name = msg["name"]
        return (
            msg["type"] == self.type
            and isinstance(name, str)
            and not site_is_subsample(msg)
            and any(p.fullmatch(name) for p in self._patterns)
        )

    def _process_message(self, msg: Message) -> None:
        if self.value is None or not self._is_matching(msg):
            return
        msg["value"] = self.value
        if msg["type"] == "sample":
            msg["is_observed"] = True
            if not self.keep_dist:
                event_dim = len(getattr(msg["fn"], "event_shape", ()))
                msg["fn"] = Delta(self.value, event_dim=event_dim).mask(False)
                msg["infer"]["_deterministic"] = True

    def _postprocess_message(self, msg: Message) -> None:
        if self.value is None and self._is_matching(msg):
            self.value = msg["value"]
