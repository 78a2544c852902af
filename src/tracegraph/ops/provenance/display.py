"""How tracked tensors appear in error messages: as the plain tensors they are.

Torch builds some messages from ``type(value).__name__`` or from a repr made
while tracking is off (``Expected parameter loc (ProvenanceTensor of shape ())
... ProvenanceTensor(nan)``).  The class is an implementation detail, so the
places where errors leave a tracked run rewrite those names in the message and
its notes (:func:`scrub_tracked_names`); the exception keeps its type, traceback
and cause.

>>> plain_names("Expected parameter loc (ProvenanceTensor of shape ()): ProvenanceTensor(nan)")
'Expected parameter loc (Tensor of shape ()): tensor(nan)'
"""

from __future__ import annotations

import re

__all__ = ["plain_names", "scrub_tracked_names"]

_TRACKED_NAME = re.compile(r"\b(?:DynamicShape)?ProvenanceTensor\b(\()?")


def plain_names(text: str) -> str:
    """``text`` with the tracked tensor classes named as plain tensors.

    >>> plain_names("DynamicShapeProvenanceTensor([1.])")
    'tensor([1.])'
    """
    if "ProvenanceTensor" not in text:
        return text
    return _TRACKED_NAME.sub(lambda m: "tensor(" if m.group(1) else "Tensor", text)


def scrub_tracked_names(exc: BaseException) -> None:
    """Rewrite, in place, the message and notes of ``exc`` (and of the exceptions
    it was raised from) so that they name plain tensors; other exceptions, and
    messages an exception class formats from several arguments, stay as they are.

    >>> exc = ValueError("bad value ProvenanceTensor(1.)")
    >>> exc.add_note("at ProvenanceTensor of shape (2,)")
    >>> scrub_tracked_names(exc); exc.args, exc.__notes__
    (('bad value tensor(1.)',), ['at Tensor of shape (2,)'])
    """
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        args = e.args
        if len(args) == 1 and isinstance(args[0], str) and "ProvenanceTensor" in args[0]:
            try:
                formats_as_given = str(e) == args[0]
            except Exception:  # noqa: BLE001 - a broken __str__: leave it alone
                formats_as_given = False
            if formats_as_given:
                e.args = (plain_names(args[0]),)
        notes = getattr(e, "__notes__", None)
        if isinstance(notes, list):
            notes[:] = [plain_names(n) if isinstance(n, str) else n for n in notes]
        todo.extend((e.__cause__, e.__context__))
