"""Per-parameter optimizers in Pyro's calling style.

A :class:`PyroOptim` wraps a ``torch.optim`` optimizer class. Calling it with the
unconstrained param tensors steps each of them with its *own* torch optimizer,
made the first time the tensor shows up with a gradient. Params that a model
creates halfway through training therefore join without rebuilding anything, and
options may differ per param: ``optim_args`` is a dict of constructor options, or
a callable from the param's name in the param store to such a dict.

State is checkpointed by param *name* (see :meth:`PyroOptim.get_state`), so a
checkpoint outlives the tensors it was taken from: after the param store is
reloaded into fresh tensors, :meth:`PyroOptim.set_state` state is handed to each
param's optimizer when that optimizer is created. Files written by
:meth:`PyroOptim.save` hold only tensors, numbers and strings and are read back
with ``torch.load(..., weights_only=True)``, which refuses arbitrary pickled
objects.

>>> import torch
>>> from tracegraph.params.param_store import clear_param_store, get_param_store
>>> clear_param_store()
>>> store = get_param_store()
>>> store["w"] = torch.tensor(1.0)
>>> w = store["w"].unconstrained()
>>> optim = PyroOptim(torch.optim.SGD, {"lr": 0.5})
>>> (2 * w).backward()
>>> optim([w])
>>> w.item(), sorted(optim.get_state())
(0.0, ['w'])
"""

from __future__ import annotations

import copy
import difflib
import inspect
import io
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch

from tracegraph.errors import TracegraphError
from tracegraph.optim.clipped_adam import ClippedAdam as _ClippedAdamOptimizer
from tracegraph.params.param_store import get_param_store

__all__ = ["ClippedAdam", "OptimizerError", "PyroOptim", "TracegraphOptim"]

OptimArgs = Mapping[str, Any] | Callable[[str], Mapping[str, Any]]

_CLIP_KEYS = ("clip_norm", "clip_value")

# Pyro-style wrapper function -> the optimizer class it wraps. Lets an error point a
# user who passed `tracegraph.optim.Adam` where a torch class belongs at the class.
WRAPPED_OPTIMIZERS: dict[Any, type] = {}

# Types torch.load(weights_only=True) reads back; used only to point at the culprit
# when save() finds state it could not load safely.
_PLAIN_TYPES = (type(None), bool, int, float, complex, str, bytes, torch.Tensor, torch.Size)


class OptimizerError(TracegraphError, ValueError):
    """An optimizer wrapper was configured wrongly, or given state it cannot use.

    >>> issubclass(OptimizerError, ValueError)
    True
    """


def _callable_name(fn: Any) -> str:
    return getattr(fn, "__name__", repr(fn))


def _describe_param(p: torch.Tensor, name: str | None) -> str:
    return f"param {name!r}" if name is not None else f"an unnamed param of shape {tuple(p.shape)}"


def check_kwargs(fn: Callable[..., Any], kwargs: Mapping[Any, Any], what: str) -> None:
    """Check that ``fn(first_arg, **kwargs)`` binds: no unknown or missing option.

    Used on optimizer and scheduler constructors, whose first argument (the params,
    or the optimizer) the wrapper supplies itself.

    :param fn: the constructor.
    :param kwargs: the options the user gave.
    :param what: names the options in the error, e.g. ``"Adam options"``.
    :raises OptimizerError: naming the bad key and the accepted ones.

    >>> import torch
    >>> check_kwargs(torch.optim.SGD, {"lrr": 0.1}, "SGD options")
    Traceback (most recent call last):
    ...
    tracegraph.optim.optim.OptimizerError: SGD options: unknown option 'lrr' (did you mean 'lr'?)...
    """
    bad_keys = [k for k in kwargs if not isinstance(k, str)]
    if bad_keys:
        raise OptimizerError(f"{what}: option names must be strings, got {bad_keys[0]!r}")
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return  # no introspectable signature: the constructor itself will complain
    params = list(signature.parameters.values())[1:]
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    accepted = [p.name for p in params if p.kind in named]
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        for key in kwargs:
            if key not in accepted:
                close = difflib.get_close_matches(key, accepted, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise OptimizerError(
                    f"{what}: unknown option {key!r}{hint}; accepted: {', '.join(accepted)}"
                )
    missing = [
        p.name
        for p in params
        if p.kind in named and p.default is inspect.Parameter.empty and p.name not in kwargs
    ]
    if missing:
        raise OptimizerError(f"{what}: missing required option(s) {', '.join(map(repr, missing))}")


def _check_options_type(value: Any, what: str) -> None:
    if not (isinstance(value, Mapping) or callable(value)):
        raise OptimizerError(
            f"{what} must be a dict of options or a callable taking a param name and "
            f"returning one, got {type(value).__name__} {value!r}"
        )


def _check_clip_args(clip: Mapping[Any, Any], what: str) -> dict[str, float]:
    for key, value in clip.items():
        if key not in _CLIP_KEYS:
            close = difflib.get_close_matches(str(key), _CLIP_KEYS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise OptimizerError(
                f"{what}: unknown option {key!r}{hint}; accepted: clip_norm, clip_value"
            )
        number = isinstance(value, int | float) and not isinstance(value, bool)
        # `not value > 0` also rejects NaN.
        if not number or not value > 0:
            raise OptimizerError(f"{what}: {key} must be a number > 0, got {value!r}")
    return dict(clip)


def _find_unsafe(obj: Any, path: str) -> str | None:
    """The path of the first value in ``obj`` that is not a plain tensor/number/string."""
    if isinstance(obj, _PLAIN_TYPES) and type(obj).__module__ in ("builtins", "torch"):
        return None
    if isinstance(obj, dict):
        for key, value in obj.items():
            found = _find_unsafe(key, f"{path} key") or _find_unsafe(value, f"{path}[{key!r}]")
            if found:
                return found
        return None
    if isinstance(obj, list | tuple):
        for i, value in enumerate(obj):
            found = _find_unsafe(value, f"{path}[{i}]")
            if found:
                return found
        return None
    return f"{path} ({type(obj).__module__}.{type(obj).__qualname__})"


def _state_is_param_shaped(optimizer: torch.optim.Optimizer) -> bool:
    # torch's own optimizers keep every non-scalar state tensor in the shape of its
    # param -- except Adafactor, whose second moments are factored into row and
    # column vectors. A custom optimizer may store anything, so it is not checked.
    cls = type(optimizer)
    if cls is getattr(torch.optim, "Adafactor", None):
        return False
    return cls is _ClippedAdamOptimizer or cls.__module__.startswith("torch.optim.")


def _check_optimizer_state(entry: Any, what: str) -> None:
    ok = (
        isinstance(entry, Mapping)
        and isinstance(entry.get("state"), Mapping)
        and isinstance(entry.get("param_groups"), list | tuple)
        and len(entry["param_groups"]) == 1
        and isinstance(entry["param_groups"][0], Mapping)
        and len(entry["param_groups"][0].get("params", ())) == 1
    )
    if not ok:
        raise OptimizerError(
            f"{what} is not the state of a one-param torch optimizer (expected "
            f"{{'state': {{...}}, 'param_groups': [one group holding one param]}}), "
            f"got {type(entry).__name__}; pass a state from get_state()"
        )


def load_optimizer_state(
    optimizer: torch.optim.Optimizer, param: torch.Tensor, state: Mapping[str, Any], what: str
) -> None:
    """Load a one-param optimizer state into ``optimizer`` after checking its shapes.

    :param optimizer: a torch optimizer over ``param`` only.
    :param param: the param it optimizes.
    :param state: a ``state_dict()`` of such an optimizer.
    :param what: names the param in errors.
    :raises OptimizerError: when a state tensor's shape differs from the param's.

    >>> import torch
    >>> x = torch.zeros(3, requires_grad=True)
    >>> optimizer = torch.optim.SGD([x], lr=0.1, momentum=0.9)
    >>> bad = {"state": {0: {"momentum_buffer": torch.zeros(2)}},
    ...        "param_groups": [dict(optimizer.param_groups[0], params=[0])]}
    >>> load_optimizer_state(optimizer, x, bad, "param 'x'")
    Traceback (most recent call last):
    ...
    tracegraph.optim.optim.OptimizerError: state for param 'x': 'momentum_buffer' has shape (2,) ...
    """
    _check_optimizer_state(state, f"state for {what}")
    if _state_is_param_shaped(optimizer):
        for per_param in state["state"].values():
            for key, value in per_param.items():
                if (
                    isinstance(value, torch.Tensor)
                    and value.dim() > 0
                    and value.shape != param.shape
                ):
                    raise OptimizerError(
                        f"state for {what}: {key!r} has shape {tuple(value.shape)} but the "
                        f"param has shape {tuple(param.shape)}; was the state saved for a "
                        f"differently sized param?"
                    )
    optimizer.load_state_dict(dict(state))


class PyroOptim:
    """Steps every param with its own torch optimizer; Pyro's ``PyroOptim``.

    :param optim_constructor: a ``torch.optim.Optimizer`` class (or any callable
        ``(params, **options) -> Optimizer``).
    :param optim_args: constructor options, as a dict or as a callable from the
        param's name in the param store to a dict (per-param options). The callable
        form only works for params held in the param store.
    :param clip_args: optional ``{"clip_norm": x}`` and/or ``{"clip_value": x}``
        (or a callable from param name to such a dict): before each step the
        param's gradient is rescaled to norm at most ``clip_norm`` and/or clamped to
        ``[-clip_value, clip_value]``, separately for each param.
    :raises OptimizerError: for options that are neither a dict nor a callable, or
        name an option the constructor does not take.

    >>> import torch
    >>> optim = PyroOptim(torch.optim.Adam, {"lr": 0.1}, {"clip_norm": 1.0})
    >>> x = torch.zeros(2, requires_grad=True)
    >>> x.grad = torch.tensor([30.0, 40.0])
    >>> optim([x]); [round(v, 4) for v in x.tolist()]
    [-0.1, -0.1]
    """

    def __init__(
        self,
        optim_constructor: Callable[..., torch.optim.Optimizer],
        optim_args: OptimArgs,
        clip_args: OptimArgs | None = None,
    ) -> None:
        if not callable(optim_constructor):
            raise OptimizerError(
                f"optim_constructor must be a torch.optim.Optimizer class, "
                f"got {optim_constructor!r}"
            )
        self.pt_optim_constructor = optim_constructor
        ctor = _callable_name(optim_constructor)
        _check_options_type(optim_args, f"{ctor} optim_args")
        if isinstance(optim_args, Mapping):
            check_kwargs(optim_constructor, optim_args, f"{ctor} options")
            # A copy: editing the caller's dict later must not change this optimizer.
            optim_args = dict(optim_args)
        self.pt_optim_args = optim_args
        if clip_args is not None:
            _check_options_type(clip_args, f"{ctor} clip_args")
            if isinstance(clip_args, Mapping):
                clip_args = _check_clip_args(clip_args, f"{ctor} clip_args")
        self.pt_clip_args = clip_args
        # One optimizer per unconstrained param tensor, keyed by identity
        # (torch.Tensor hashes by id), plus the name and clipping it was made with.
        self.optim_objs: dict[torch.Tensor, Any] = {}
        self.grad_clip: dict[torch.Tensor, dict[str, float] | None] = {}
        self._param_names: dict[torch.Tensor, str | None] = {}
        # set_state() entries for params that have no optimizer yet.
        self._state_waiting_to_be_consumed: dict[str, Any] = {}

    def __call__(self, params: Iterable[torch.Tensor], *args: Any, **kwargs: Any) -> None:
        """Take one step for every param in ``params`` that has a gradient.

        Params whose ``.grad`` is None are skipped (no optimizer is made for them).
        Extra arguments go to each torch optimizer's ``step``.

        :param params: unconstrained param tensors (e.g. from the param store).
        :raises OptimizerError: for an item that is not a tensor, or a callable
            ``optim_args`` meeting a param that is not in the param store.

        >>> import torch
        >>> x, y = torch.ones(1, requires_grad=True), torch.ones(1, requires_grad=True)
        >>> x.grad = torch.ones(1)
        >>> optim = PyroOptim(torch.optim.SGD, {"lr": 1.0}); optim([x, y])
        >>> x.item(), y.item(), len(optim.optim_objs)
        (0.0, 1.0, 1)
        """
        seen: set[int] = set()
        for p in params:
            if not isinstance(p, torch.Tensor):
                raise OptimizerError(
                    f"{_callable_name(self.pt_optim_constructor)} optimizer was called with "
                    f"{type(p).__name__} {p!r}; expected param tensors, e.g. "
                    f"`optim(get_param_store().values())` gives the constrained values -- "
                    f"pass their `.unconstrained()` leaves"
                )
            if id(p) in seen:  # a param listed twice is still stepped once
                continue
            seen.add(id(p))
            if p.grad is None:
                continue
            if p not in self.optim_objs:
                self._add_param(p)
            clip = self.grad_clip[p]
            if clip:
                if "clip_norm" in clip:
                    torch.nn.utils.clip_grad_norm_(p, clip["clip_norm"])
                if "clip_value" in clip:
                    torch.nn.utils.clip_grad_value_(p, clip["clip_value"])
            self._torch_optimizer(self.optim_objs[p]).step(*args, **kwargs)

    # ----- hooks that PyroLRScheduler overrides -------------------------------------

    def _get_optim(self, param: torch.Tensor) -> Any:
        """Make the object stored in ``optim_objs`` for ``param``."""
        name = get_param_store().param_name(param)
        options = self._get_optim_args(param)
        try:
            return self.pt_optim_constructor([param], **options)
        except Exception as exc:
            exc.add_note(
                f"while making the {_callable_name(self.pt_optim_constructor)} optimizer "
                f"for {_describe_param(param, name)} with options {options!r}"
            )
            raise

    def _torch_optimizer(self, obj: Any) -> torch.optim.Optimizer:
        return obj  # type: ignore[no-any-return]

    def _state_of(self, obj: Any) -> Any:
        return obj.state_dict()

    def _check_state_entry(self, entry: Any, what: str) -> None:
        _check_optimizer_state(entry, what)

    def _load_state(self, obj: Any, param: torch.Tensor, state: Any, what: str) -> None:
        load_optimizer_state(obj, param, state, what)

    # ----- per-param options --------------------------------------------------------

    def _resolve(self, options: OptimArgs, param: torch.Tensor, kind: str) -> Mapping[Any, Any]:
        if isinstance(options, Mapping):
            return options
        ctor = _callable_name(self.pt_optim_constructor)
        name = get_param_store().param_name(param)
        if name is None:
            raise OptimizerError(
                f"{ctor} {kind} is a callable of the param name, but a param of shape "
                f"{tuple(param.shape)} is not in the param store; create params with "
                f"tracegraph.param(...) or pass a dict of options"
            )
        result = options(name)
        if not isinstance(result, Mapping):
            raise OptimizerError(
                f"{ctor} {kind} callable returned {type(result).__name__} {result!r} for "
                f"param {name!r}; it must return a dict of options"
            )
        return result

    def _get_optim_args(self, param: torch.Tensor) -> dict[str, Any]:
        options = self._resolve(self.pt_optim_args, param, "optim_args")
        if not isinstance(self.pt_optim_args, Mapping):  # dicts were checked up front
            name = get_param_store().param_name(param)
            ctor = _callable_name(self.pt_optim_constructor)
            check_kwargs(self.pt_optim_constructor, options, f"{ctor} options for param {name!r}")
        return dict(options)

    def _get_grad_clip(self, param: torch.Tensor) -> dict[str, float] | None:
        if self.pt_clip_args is None:
            return None
        clip = self._resolve(self.pt_clip_args, param, "clip_args")
        if not isinstance(self.pt_clip_args, Mapping):
            name = get_param_store().param_name(param)
            ctor = _callable_name(self.pt_optim_constructor)
            clip = _check_clip_args(clip, f"{ctor} clip_args for param {name!r}")
        return dict(clip)

    def _add_param(self, param: torch.Tensor) -> None:
        name = get_param_store().param_name(param)
        clip = self._get_grad_clip(param)
        obj = self._get_optim(param)
        if name is not None and name in self._state_waiting_to_be_consumed:
            # Load before registering: if the state does not fit, nothing is
            # registered and the waiting state is kept for the user to fix.
            self._load_state(
                obj, param, self._state_waiting_to_be_consumed[name], f"param {name!r}"
            )
            del self._state_waiting_to_be_consumed[name]
        self.optim_objs[param] = obj
        self.grad_clip[param] = clip
        self._param_names[param] = name

    # ----- state --------------------------------------------------------------------

    def _live_by_name(self) -> tuple[dict[str, tuple[torch.Tensor, Any]], int]:
        """The newest optimizer for each param name, and how many params have no name."""
        live: dict[str, tuple[torch.Tensor, Any]] = {}
        unnamed = 0
        for p, obj in self.optim_objs.items():
            # A param may have entered the store after its optimizer was made.
            name = self._param_names[p] or get_param_store().param_name(p)
            if name is None:
                unnamed += 1
            else:
                live[name] = (p, obj)  # later entries (re-created tensors) win
        return live, unnamed

    def get_state(self) -> dict[str, Any]:
        """A snapshot ``{param name: optimizer state_dict}`` of every optimizer.

        State given to :meth:`set_state` for params that have no optimizer yet is
        included, so nothing set is lost. Tensors are copies: training after the
        call does not change the snapshot.

        :returns: a dict of plain tensors, numbers and strings.
        :raises OptimizerError: if some optimized params are not in the param store
            (their state could not be restored by name).

        >>> import torch
        >>> from tracegraph.params.param_store import clear_param_store, get_param_store
        >>> clear_param_store(); get_param_store()["b"] = torch.zeros(2)
        >>> b = get_param_store()["b"].unconstrained(); b.grad = torch.ones(2)
        >>> optim = PyroOptim(torch.optim.Adam, {}); optim([b])
        >>> state = optim.get_state(); state["b"]["state"][0]["exp_avg"]
        tensor([0.1000, 0.1000])
        """
        state = copy.deepcopy(self._state_waiting_to_be_consumed)
        live, unnamed = self._live_by_name()
        if unnamed:
            raise OptimizerError(
                f"get_state: {unnamed} optimized param(s) are not in the param store, so "
                f"their state cannot be saved by name; create params with tracegraph.param"
            )
        for name, (_, obj) in live.items():
            state[name] = copy.deepcopy(self._state_of(obj))
        return state

    def set_state(self, state_dict: Mapping[str, Any]) -> None:
        """Restore state from :meth:`get_state`.

        Params that already have an optimizer get their state now; the others get
        it when their optimizer is made (on their first step). Either all of it is
        applied or, on error, none of it.

        :param state_dict: ``{param name: optimizer state_dict}``.
        :raises OptimizerError: for a malformed entry or a state whose tensor
            shapes do not match the param.

        >>> import torch
        >>> optim = PyroOptim(torch.optim.SGD, {"lr": 0.1})
        >>> optim.set_state({"w": {"state": {}, "param_groups": [{"lr": 0.5, "params": [0]}]}})
        >>> sorted(optim.get_state())
        ['w']
        """
        if not isinstance(state_dict, Mapping):
            raise OptimizerError(
                f"set_state expects a dict {{param name: optimizer state}} from get_state(), "
                f"got {type(state_dict).__name__}"
            )
        entries: dict[str, Any] = {}
        for name, entry in state_dict.items():
            if not isinstance(name, str):
                raise OptimizerError(f"set_state: keys must be param names, got {name!r}")
            self._check_state_entry(entry, f"state for param {name!r}")
            # A private copy: the optimizer updates its state in place, which must
            # not reach back into the caller's dict.
            entries[name] = copy.deepcopy(entry)
        live, _ = self._live_by_name()
        applied: list[tuple[Any, torch.Tensor, Any, str]] = []
        try:
            for name, entry in entries.items():
                if name in live:
                    p, obj = live[name]
                    what = f"param {name!r}"
                    applied.append((obj, p, copy.deepcopy(self._state_of(obj)), what))
                    self._load_state(obj, p, entry, what)
        except BaseException:
            for obj, p, backup, what in reversed(applied):
                self._load_state(obj, p, backup, what)
            raise
        for name, entry in entries.items():
            if name not in live:
                self._state_waiting_to_be_consumed[name] = entry

    def save(self, filename: str | os.PathLike[str]) -> None:
        """Write :meth:`get_state` to ``filename`` in a format safe to load.

        The file is checked to load with ``torch.load(..., weights_only=True)``
        before it is written, so an unloadable checkpoint is refused now rather than
        discovered later, and an existing file is left alone.

        :param filename: the path to write.
        :raises OptimizerError: when the state holds something other than tensors,
            numbers and strings (e.g. a numpy scalar given as ``lr``).

        >>> import os, tempfile, torch
        >>> optim = PyroOptim(torch.optim.SGD, {"lr": 0.1})
        >>> path = os.path.join(tempfile.mkdtemp(), "optim.pt")
        >>> optim.save(path); PyroOptim(torch.optim.SGD, {"lr": 0.1}).load(path)
        """
        state = self.get_state()
        buffer = io.BytesIO()
        torch.save(state, buffer)
        try:
            torch.load(io.BytesIO(buffer.getvalue()), weights_only=True)
        except Exception as exc:
            culprit = _find_unsafe(state, "state")
            raise OptimizerError(
                f"save: optimizer state holds {culprit or 'an object'} that cannot be "
                f"loaded safely; give options as plain Python numbers, strings and tensors"
            ) from exc
        with open(filename, "wb") as f:
            f.write(buffer.getvalue())

    def load(self, filename: str | os.PathLike[str], map_location: Any = None) -> None:
        """Read a file written by :meth:`save` and :meth:`set_state` its contents.

        Only tensors, numbers and strings are unpickled; a file holding any other
        object is refused without running its code, and the current state is kept.

        :param filename: the path to read.
        :param map_location: as for ``torch.load`` (e.g. ``"cpu"``).
        :raises OptimizerError: for a file that is not a safe optimizer checkpoint.
        :raises OSError: when the file cannot be opened.

        >>> import os, tempfile, torch
        >>> path = os.path.join(tempfile.mkdtemp(), "bad.pt")
        >>> torch.save([1, 2], path)
        >>> PyroOptim(torch.optim.SGD, {"lr": 0.1}).load(path)
        Traceback (most recent call last):
        ...
        tracegraph.optim.optim.OptimizerError: set_state expects a dict ...
        """
        with open(filename, "rb") as f:
            try:
                state = torch.load(f, map_location=map_location, weights_only=True)
            except Exception as exc:
                raise OptimizerError(
                    f"load: {os.fspath(filename)!r} is not a safe optimizer checkpoint "
                    f"(only tensors, numbers and strings are read, never other pickled "
                    f"objects): {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                ) from exc
        self.set_state(state)


TracegraphOptim = PyroOptim


def ClippedAdam(optim_args: OptimArgs, clip_args: OptimArgs | None = None) -> PyroOptim:
    """Pyro's ``ClippedAdam``: :class:`~tracegraph.optim.clipped_adam.ClippedAdam` per param.

    :param optim_args: options ``lr`` (default 1e-3), ``betas`` ((0.9, 0.999)),
        ``eps`` (1e-8), ``weight_decay`` (0), ``clip_norm`` (10.0; each gradient
        element is clamped to ``[-clip_norm, clip_norm]``) and ``lrd`` (1.0; ``lr`` is
        multiplied by it at every step), or a callable from param name to them.
    :param clip_args: extra clipping, as for :class:`PyroOptim`.
    :returns: the wrapped optimizer.

    >>> import math, torch
    >>> x = torch.zeros(1, requires_grad=True); x.grad = torch.ones(1)
    >>> optim = ClippedAdam({"lr": 0.1, "lrd": 0.5}); optim([x])
    >>> round(x.item(), 4), math.isclose(optim.optim_objs[x].param_groups[0]["lr"], 0.05)
    (-0.05, True)
    """
    return PyroOptim(_ClippedAdamOptimizer, optim_args, clip_args)


WRAPPED_OPTIMIZERS[ClippedAdam] = _ClippedAdamOptimizer
