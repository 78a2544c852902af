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
import inspect
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch

from tracegraph.optim.options import (
    OptimArgs,
    OptimizerError,
    callable_name,
    check_clip_args,
    check_kwargs,
    check_options_type,
    describe_param,
)
from tracegraph.optim.state import (
    check_optimizer_state,
    load_optimizer_state,
    read_state,
    write_state,
)
from tracegraph.params.module_names import (
    module_from_param_with_module_name,
    normalize_param_name,
    user_param_name,
)
from tracegraph.params.param_store import get_param_store

__all__ = ["WRAPPED_OPTIMIZERS", "OptimizerError", "PyroOptim", "TracegraphOptim"]

# Pyro-style wrapper function -> the optimizer class it wraps. Lets an error point a
# user who passed `tracegraph.optim.Adam` where a torch class belongs at the class.
WRAPPED_OPTIMIZERS: dict[Any, type] = {}


def _takes_two_positional(fn: Callable[..., Any]) -> bool:
    try:
        inspect.signature(fn).bind("module", "param")
    except TypeError:
        return False
    except ValueError:  # no signature to inspect: trust the caller wrote Pyro's form
        return True
    return True


def _declares_one_parameter(fn: Callable[..., Any]) -> bool:
    try:
        return len(inspect.signature(fn).parameters) == 1
    except ValueError:  # no signature to inspect: trust the caller wrote Pyro's form
        return False


def _call_with_name(options: Callable[..., Any], name: str, kind: str) -> Any:
    # Pyro's conventions: (module name, param name) -- (name, name) for a param of
    # no module -- except for an optim_args callable declaring one parameter
    # (``*args`` counts as one), which gets the name with "$$$" written as ".".
    # A clip_args callable that cannot take two arguments gets the store name.
    by_module = (module_from_param_with_module_name(name), user_param_name(name))
    if kind == "clip_args":
        return options(*by_module) if _takes_two_positional(options) else options(name)
    if _declares_one_parameter(options):
        return options(normalize_param_name(name))
    return options(*by_module)


class PyroOptim:
    """Steps every param with its own torch optimizer; Pyro's ``PyroOptim``.

    :param optim_constructor: a ``torch.optim.Optimizer`` class (or any callable
        ``(params, **options) -> Optimizer``).
    :param optim_args: constructor options, as a dict or as a callable to a dict
        (per-param options), as in Pyro: a callable declaring one parameter gets
        the param's name in the param store (a module's param ``"net$$$w"`` is
        named ``"net.w"``), any other gets ``(module name, param name)`` --
        ``("net", "w")``, or ``(name, name)`` for a param of no module. The
        callable form only works for params held in the param store.
    :param clip_args: optional ``{"clip_norm": x}`` and/or ``{"clip_value": x}``
        (or, as in Pyro, a callable from ``(module name, param name)`` -- ``(name,
        name)`` for a param of no module -- to such a dict; a callable of one
        argument gets the param's name): before each step the
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
        ctor = callable_name(optim_constructor)
        check_options_type(optim_args, f"{ctor} optim_args")
        if isinstance(optim_args, Mapping):
            check_kwargs(optim_constructor, optim_args, f"{ctor} options")
            # A copy: editing the caller's dict later must not change this optimizer.
            optim_args = dict(optim_args)
        self.pt_optim_args = optim_args
        if clip_args is not None:
            check_options_type(clip_args, f"{ctor} clip_args")
            if isinstance(clip_args, Mapping):
                clip_args = check_clip_args(clip_args, f"{ctor} clip_args")
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
        :raises OptimizerError: for an item that is not a leaf tensor, or a callable
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
                    f"{callable_name(self.pt_optim_constructor)} optimizer was called with "
                    f"{type(p).__name__} {p!r}; expected the unconstrained param tensors, "
                    f"e.g. [p for _, p in get_param_store().named_parameters()]"
                )
            if not p.is_leaf:
                # A constrained value (or any computed tensor) never gets a .grad, so
                # stepping it would silently do nothing.
                raise OptimizerError(
                    f"{callable_name(self.pt_optim_constructor)} optimizer was given a "
                    f"non-leaf tensor of shape {tuple(p.shape)}, which cannot be "
                    f"optimized; pass the unconstrained leaf instead (for a param store "
                    f"value: `value.unconstrained()`)"
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
                f"while making the {callable_name(self.pt_optim_constructor)} optimizer "
                f"for {describe_param(param, name)} with options {options!r}"
            )
            raise

    def _torch_optimizer(self, obj: Any) -> torch.optim.Optimizer:
        return obj  # type: ignore[no-any-return]

    def _state_of(self, obj: Any) -> Any:
        return obj.state_dict()

    def _check_state_entry(self, entry: Any, what: str) -> None:
        check_optimizer_state(entry, what)

    def _load_state(self, obj: Any, param: torch.Tensor, state: Any, what: str) -> None:
        load_optimizer_state(obj, param, state, what)

    # ----- per-param options --------------------------------------------------------

    def _resolve(self, options: OptimArgs, param: torch.Tensor, kind: str) -> Mapping[Any, Any]:
        if isinstance(options, Mapping):
            return options
        ctor = callable_name(self.pt_optim_constructor)
        name = get_param_store().param_name(param)
        if name is None:
            raise OptimizerError(
                f"{ctor} {kind} is a callable of the param name, but a param of shape "
                f"{tuple(param.shape)} is not in the param store; create params with "
                f"tracegraph.param(...) or pass a dict of options"
            )
        result = _call_with_name(options, name, kind)
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
            ctor = callable_name(self.pt_optim_constructor)
            check_kwargs(self.pt_optim_constructor, options, f"{ctor} options for param {name!r}")
        return dict(options)

    def _get_grad_clip(self, param: torch.Tensor) -> dict[str, float] | None:
        if self.pt_clip_args is None:
            return None
        clip = self._resolve(self.pt_clip_args, param, "clip_args")
        if not isinstance(self.pt_clip_args, Mapping):
            name = get_param_store().param_name(param)
            ctor = callable_name(self.pt_optim_constructor)
            clip = check_clip_args(clip, f"{ctor} clip_args for param {name!r}")
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
            name = self._param_names[p]
            if name is None:
                name = get_param_store().param_name(p)
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
        write_state(self.get_state(), filename)

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
        tracegraph.errors.OptimizerError: set_state expects a dict ...
        """
        with open(filename, "rb") as f:
            state = read_state(f, map_location, repr(os.fspath(filename)))
        self.set_state(state)


TracegraphOptim = PyroOptim
