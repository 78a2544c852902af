"""The provenance rule registry: which rule governs which op, and strict mode
(which refuses ops the registry does not list).

A rule has ``__torch_function__``'s signature, ``rule(func, types, args, kwargs,
cls)``, and returns the op's result with provenance attached.  The table itself
is filled by :func:`tracegraph.ops.provenance.rules.install_rules`; ops it does not list get a
sound default outside strict mode (see :func:`rule_for`).

>>> import torch
>>> rule_for(torch.Tensor.add).__name__
'union_rule'
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from tracegraph.errors import ProvenanceError

__all__ = [
    "RULES",
    "Rule",
    "is_registered",
    "is_strict",
    "op_name",
    "register_rule",
    "rule_for",
    "set_default_rules",
    "set_strict",
    "strict",
    "unlisted",
]

#: ``rule(func, types, args, kwargs, cls) -> result``, like ``__torch_function__``.
Rule = Callable[[Any, tuple, tuple, "dict[str, Any] | None", type], Any]

#: The table: op -> rule.  Read directly by the tensor's dispatch (hot path).
RULES: dict[Any, Rule] = {}
# Per thread and task; a ContextVar so an exception can never leave it switched on.
_STRICT: ContextVar[bool] = ContextVar("tracegraph_provenance_strict", default=False)
# Rules chosen for unlisted ops outside strict mode; kept apart from RULES so
# that strict mode keeps refusing those ops.
_DEFAULTS: dict[Any, Rule] = {}
# The sound defaults, set by install_rules().
_FALLBACK: dict[str, Rule] = {}
_INPLACE_DUNDERS = frozenset(
    f"__i{op}__"
    for op in "add sub mul truediv floordiv div mod pow and or xor lshift rshift".split()
)


def op_name(func: Any) -> str:
    owner: Any = getattr(func, "__self__", None)
    if type(owner).__name__ == "getset_descriptor":
        return f"torch.Tensor.{owner.__name__}.{func.__name__}"
    qual = str(getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or func)
    qual = qual.replace("TensorBase.", "Tensor.").replace("_VariableFunctionsClass.", "")
    module = "torch" if qual.startswith("Tensor.") else getattr(func, "__module__", None)
    module = (module or "torch").replace("torch._C._nn", "torch.nn.functional")
    return f"{module}.{qual}".replace("torch._tensor.", "torch.")


def register_rule(rule: Rule, *funcs: Any) -> Rule:
    """Register ``rule`` for each of ``funcs``, replacing any previous rule.

    ``None`` entries are skipped, so ``getattr(torch, name, None)`` may be
    passed for ops that some torch versions lack.

    :param rule: called as ``rule(func, types, args, kwargs, cls)``, exactly
        like ``__torch_function__``; returns the result with provenance attached.
    :param funcs: the ops it governs.
    :returns: ``rule``.

    >>> import torch
    >>> from tracegraph.ops.provenance.rules import union_rule
    >>> def double(x):
    ...     return torch.cat([x, x])
    >>> _ = register_rule(union_rule, double)
    >>> rule_for(double) is union_rule
    True
    """
    for func in funcs:
        if func is not None:
            RULES[func] = rule
            _DEFAULTS.pop(func, None)
    return rule


def is_registered(func: Any) -> bool:
    """Return whether the rule table lists ``func`` (so strict mode accepts it).

    >>> import torch
    >>> is_registered(torch.Tensor.add), is_registered(object())
    (True, False)
    """
    return func in RULES


def rule_for(func: Any) -> Rule:
    """Return the rule governing ``func``.

    :raises ProvenanceError: in strict mode, when the table does not list ``func``.

    >>> import torch
    >>> from tracegraph.ops.provenance.rules import mutation_rule
    >>> rule_for(torch.Tensor.add_) is mutation_rule
    True
    """
    rule = RULES.get(func)
    return unlisted(func) if rule is None else rule


def unlisted(func: Any) -> Rule:
    if _STRICT.get():
        name = op_name(func)
        raise ProvenanceError(
            f"provenance strict mode: no rule says what {name} does to provenance. "
            f"Register one, e.g. `register_rule(union_rule, {name})` from "
            f"tracegraph.ops.provenance.rules if every output depends on every input, "
            f"or leave strict mode to get the default union rule."
        )
    rule = _DEFAULTS.get(func)
    if rule is None:
        name = getattr(func, "__name__", "")
        mutates = (
            name in ("__set__", "__setitem__", "__setstate__")
            or name in _INPLACE_DUNDERS
            or (name.endswith("_") and not name.endswith("__"))
        )
        # mutation_all_rule for writes; view_rule (an unknown op may return views).
        rule = _DEFAULTS[func] = _FALLBACK["mutating" if mutates else "functional"]
    return rule


def set_default_rules(functional: Rule, mutating: Rule) -> None:
    """Set the rules unlisted ops get outside strict mode.

    :param functional: for ops that do not write into their arguments.
    :param mutating: for ops named like in-place ops (``name_``, ``__setitem__``).

    >>> from tracegraph.ops.provenance import registry
    >>> registry._FALLBACK["functional"].__name__
    'view_rule'
    """
    _FALLBACK["functional"] = functional
    _FALLBACK["mutating"] = mutating
    _DEFAULTS.clear()


@contextmanager
def strict(enabled: bool = True) -> Iterator[None]:
    """Raise :class:`~tracegraph.errors.ProvenanceError` on ops the rule table lacks.

    Outside strict mode an unlisted op gets the default rule (the union of
    its tensor inputs' provenance, or the mutation rule for in-place ops),
    which is sound but may hide a missing precise rule.

    :param enabled: ``False`` switches strict mode off inside a strict block.
    :returns: a context manager.

    >>> with strict():
    ...     is_strict()
    True
    >>> is_strict()
    False
    """
    token = _STRICT.set(enabled)
    try:
        yield
    finally:
        _STRICT.reset(token)


def set_strict(enabled: bool) -> None:
    """Switch strict mode on or off for the current thread or task.

    Prefer :func:`strict`, which restores the previous setting on exit.

    :param enabled: the new setting.

    >>> set_strict(True); is_strict()
    True
    >>> set_strict(False); is_strict()
    False
    """
    _STRICT.set(bool(enabled))


def is_strict() -> bool:
    """Return whether strict mode is on in the current thread or task.

    >>> is_strict()
    False
    """
    return _STRICT.get()
