"""The per-call state shared by a tree of :class:`~tracegraph.nn.PyroModule`\\ s.

While any module of the tree runs (its ``__call__`` or a :func:`pyro_method`),
the tree's :class:`_Context` is *active*: reading a random attribute then draws
it once and caches the value until the outermost call returns, and reading a
parameter is a ``param`` statement.  With the setting ``module_local_params``
the params stay in the modules (plain ``torch.nn.Parameter``\\ s for a torch
optimizer) and never enter the param store.

>>> ctx = _Context()
>>> with ctx:
...     ctx.set("x", 1.0)
...     ctx.active, ctx.get("x")
(1, 1.0)
>>> ctx.active, ctx.get("x")
(0, None)
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

__all__ = ["is_module_local_param_enabled"]

#: Whether PyroModule params stay in their modules, out of the param store (the
#: setting ``module_local_params``, registered in :mod:`tracegraph.settings`).
_MODULE_LOCAL_PARAMS = False


def is_module_local_param_enabled() -> bool:
    """Whether the ``module_local_params`` setting is on.

    >>> is_module_local_param_enabled()
    False
    """
    return _MODULE_LOCAL_PARAMS


class _Context:
    """Sometimes-active cache of one module tree's draws (see the module docstring)."""

    def __init__(self) -> None:
        self.active = 0
        self.cache: dict[str, Any] = {}

    def __enter__(self) -> None:
        self.active += 1

    def __exit__(
        self,
        type: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.active -= 1
        if not self.active:
            self.cache.clear()

    def get(self, name: str) -> Any:
        """The value cached under ``name`` in this call, or None."""
        return self.cache.get(name)

    def set(self, name: str, value: Any) -> None:
        """Cache ``value`` under ``name`` until the outermost call returns."""
        if self.active:
            self.cache[name] = value

    def __getstate__(self) -> dict[str, Any]:
        # A module is pickled between calls: nothing cached.
        return {"active": 0, "cache": {}}
