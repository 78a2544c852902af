"""Saving and restoring every global random number generator, cheaply.

An ELBO that redoes a run with more provenance tracking must draw the same
numbers again (see ``docs/design/plate-soundness.md``), so it saves the state of
torch's, Python's and NumPy's global generators before every run that may be
redone.  That is every step of some estimators, so the snapshot must cost little:
``random.getstate()`` takes ~10 us and ``np.random.get_state()`` ~50 us, more than
the rest of a small model's bookkeeping.

Both are Mersenne Twisters whose words and position can be read straight from
memory (``ctypes``, ~1 us).  A snapshot reads them, together with the cached
second Gaussian of each legacy Box-Muller sampler (a draw can consume it without
moving the Twister), and reuses the last full state while all of that is
unchanged.  The memory layouts are checked once against the official state
(Python: ``getstate()`` on the live generator; NumPy: a probe generator set to a
known state); where a check fails, or the generator is not a Mersenne Twister, the
official calls are used every time.

>>> import numpy as np
>>> state = RngState()
>>> a = (torch.rand(2), random.random(), np.random.normal(size=2))
>>> state.restore()
>>> b = (torch.rand(2), random.random(), np.random.normal(size=2))
>>> bool((a[0] == b[0]).all()) and a[1] == b[1] and bool((a[2] == b[2]).all())
True
"""

from __future__ import annotations

import ctypes
import random
import struct
import sys
from typing import Any

import numpy as np
import torch

__all__ = ["RngState"]

_MT_WORDS = 624
# NumPy's ``mt19937_state``: ``uint32_t key[624]; int pos``.
_NUMPY_MT_BYTES = _MT_WORDS * 4 + 4
# CPython's ``RandomObject`` after the object header: ``int index; uint32_t state[624]``.
_PY_OFFSET = object.__basicsize__
_PY_BYTES = 4 + _MT_WORDS * 4

_python_layout_ok: bool | None = None
_python_seen: tuple[bytes, Any, Any] | None = None
_numpy_gauss_offset: int | None = None
_numpy_probed = False
_numpy_seen: tuple[bytes, Any] | None = None


def _python_generator() -> random.Random:
    # The instance the module-level functions are bound to.
    return random.random.__self__  # type: ignore[attr-defined, no-any-return]


def _python_raw(inst: random.Random) -> bytes | None:
    global _python_layout_ok
    if _python_layout_ok is None:
        raw = ctypes.string_at(id(inst) + _PY_OFFSET, _PY_BYTES)
        index = int.from_bytes(raw[:4], sys.byteorder, signed=True)
        words = struct.unpack(f"={_MT_WORDS}I", raw[4:])
        _python_layout_ok = type(inst) is random.Random and inst.getstate()[1] == (
            *words,
            index,
        )
    if not _python_layout_ok or type(inst) is not random.Random:
        return None
    return ctypes.string_at(id(inst) + _PY_OFFSET, _PY_BYTES)


def _python_state() -> Any:
    """``random.getstate()``, reused while the generator has not moved (its words,
    index and cached Gaussian are unchanged)."""
    global _python_seen
    inst = _python_generator()
    raw = _python_raw(inst)
    if raw is None:
        return random.getstate()
    gauss_next = inst.gauss_next  # type: ignore[attr-defined]
    seen = _python_seen
    if seen is not None and seen[0] == raw and seen[1] is gauss_next:
        return seen[2]
    state = random.getstate()
    if _python_raw(inst) == raw and inst.gauss_next is gauss_next:  # type: ignore[attr-defined]
        _python_seen = (raw, gauss_next, state)  # not moved by another thread meanwhile
    return state


def _probe_numpy_gauss_offset() -> int | None:
    # Where a legacy RandomState keeps ``has_gauss`` (an int, then padding, then
    # the double ``gauss``): found in a probe generator set to a state with a
    # distinctive cached Gaussian, then checked with and without one.
    probe = np.random.RandomState(0)
    key = probe.get_state()[1]  # type: ignore[index]
    size = type(probe).__basicsize__
    magic = -1.2345678901234567e-300
    probe.set_state(("MT19937", key, _MT_WORDS, 1, magic))
    raw = ctypes.string_at(id(probe), size)
    needle = struct.pack("=d", magic)
    at = raw.find(needle)
    if at < 8 or raw.find(needle, at + 1) != -1:
        return None
    offset = at - 8
    for has_gauss, gauss in ((1, magic), (0, 0.0), (1, 2.5)):
        probe.set_state(("MT19937", key, _MT_WORDS, has_gauss, gauss))
        flag, value = _read_gauss(probe, offset)
        if flag != has_gauss or value != gauss:
            return None
    return offset


def _read_gauss(generator: Any, offset: int) -> tuple[int, float]:
    raw = ctypes.string_at(id(generator) + offset, 16)
    return struct.unpack_from("=i", raw)[0], struct.unpack_from("=d", raw, 8)[0]


def _numpy_raw() -> bytes | None:
    global _numpy_gauss_offset, _numpy_probed
    generator = np.random.mtrand._rand
    bit_generator = generator._bit_generator
    if type(generator) is not np.random.RandomState or not isinstance(
        bit_generator, np.random.MT19937
    ):
        return None
    if not _numpy_probed:
        _numpy_gauss_offset = _probe_numpy_gauss_offset()
        _numpy_probed = True
    if _numpy_gauss_offset is None:
        return None
    words = ctypes.string_at(bit_generator.ctypes.state_address, _NUMPY_MT_BYTES)
    return words + ctypes.string_at(id(generator) + _numpy_gauss_offset, 16)


def _numpy_state() -> Any:
    """``np.random.get_state()``, reused while the generator has not moved (its
    words, position and cached Gaussian are unchanged)."""
    global _numpy_seen
    raw = _numpy_raw()
    if raw is None:
        return np.random.get_state()
    seen = _numpy_seen
    if seen is not None and seen[0] == raw:
        return seen[1]
    state = np.random.get_state()
    if _numpy_raw() == raw:  # not moved by another thread meanwhile
        _numpy_seen = (raw, state)
    return state


class RngState:
    """The state of every global random number generator a model may draw from
    (torch's CPU and, when initialized, CUDA generators, Python's ``random``,
    NumPy's legacy global generator), to run it again with the same draws.

    >>> state = RngState(); a = torch.rand(2); state.restore(); bool((a == torch.rand(2)).all())
    True
    """

    def __init__(self) -> None:
        self.torch = torch.get_rng_state()
        self.cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
        self.python = _python_state()
        self.numpy = _numpy_state()

    def restore(self) -> None:
        """Set every generator back to the saved state."""
        torch.set_rng_state(self.torch)
        if self.cuda is not None:
            torch.cuda.set_rng_state_all(self.cuda)
        random.setstate(self.python)
        np.random.set_state(self.numpy)
