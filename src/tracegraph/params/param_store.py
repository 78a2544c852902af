"""The param store: learnable tensors kept unconstrained, handed out constrained.

Each param is stored as an *unconstrained* leaf tensor (``requires_grad=True``, the
tensor an optimizer updates) together with a constraint. Reading a param returns
``transform_to(constraint)(unconstrained)``, so gradients of a loss on the
constrained value flow into the leaf, and the value always lies in the support.
The returned value has a ``.unconstrained()`` method giving back the leaf.

One default store per process (:func:`get_param_store`), shared like Pyro's.
Mutations are guarded by a lock so concurrent model runs may create params, but
:meth:`ParamStoreDict.scope` swaps the contents for every thread at once.

>>> import torch
>>> from torch.distributions import constraints
>>> store = ParamStoreDict()
>>> scale = store.setdefault("scale", torch.tensor(2.0), constraints.positive)
>>> round(scale.item(), 4), round(scale.unconstrained().item(), 4)  # log(2)
(2.0, 0.6931)
"""

from __future__ import annotations

import re
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypedDict

import torch
from torch.distributions import constraints, transform_to
from torch.distributions.constraints import Constraint

from tracegraph.errors import SiteError
from tracegraph.params.constrained_value import check_name, constrain, new_leaf
from tracegraph.params.module_names import (
    module_from_param_with_module_name,
    normalize_param_name,
    param_with_module_name,
    user_param_name,
)
from tracegraph.params.param_file import FileLike, read_file, write_file
from tracegraph.params.state_format import check_state, to_payload

__all__ = [
    "MAP_LOCATION",
    "ParamStoreDict",
    "StateDict",
    "clear_param_store",
    "get_param_store",
    "module_from_param_with_module_name",
    "normalize_param_name",
    "param_with_module_name",
    "transform_to",
    "user_param_name",
]

#: What ``torch.load`` accepts as ``map_location`` (Pyro's alias).
MAP_LOCATION = Callable[[Any, str], Any] | torch.device | str | dict[str, str] | None


class StateDict(TypedDict):
    """The store's state: unconstrained tensors and constraints by name.

    >>> state: StateDict = {"params": {}, "constraints": {}}
    >>> sorted(StateDict.__annotations__)
    ['constraints', 'params']
    """

    params: dict[str, torch.Tensor]
    constraints: dict[str, Constraint]



class ParamStoreDict:
    """A dict-like store of learnable params: name -> (unconstrained leaf, constraint).

    Mirrors Pyro's ``ParamStoreDict``. Item access returns *constrained* values;
    :meth:`named_parameters` returns the unconstrained leaves an optimizer updates.

    >>> import torch
    >>> from torch.distributions import constraints
    >>> store = ParamStoreDict()
    >>> bool(store)
    False
    >>> p = store.setdefault("p", torch.tensor([0.25, 0.75]), constraints.simplex)
    >>> "p" in store, len(store), list(store)
    (True, 1, ['p'])
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._params: dict[str, torch.Tensor] = {}
        self._constraints: dict[str, Constraint] = {}
        # id(leaf) -> names holding that leaf (normally one). Keyed by identity
        # because tensors hash by identity anyway and ``==`` is elementwise; the
        # ids are stable because ``_params`` keeps every leaf alive.
        self._param_to_name: dict[int, list[str]] = {}

    # -- internal bookkeeping (callers hold the lock) ------------------------------
    def _install(self, name: str, leaf: torch.Tensor, constraint: Constraint) -> None:
        if type(constraint) is type(constraints.real):
            # Canonical singleton, so ``constraint is constraints.real`` holds.
            constraint = constraints.real
        if name in self._params:
            self._forget(name)
        self._params[name] = leaf
        self._constraints[name] = constraint
        self._param_to_name.setdefault(id(leaf), []).append(name)

    def _snapshot(self) -> list[tuple[str, torch.Tensor, Constraint]]:
        # Consistent triples taken under the lock; constraining happens outside it.
        with self._lock:
            return [(n, t, self._constraints[n]) for n, t in self._params.items()]

    def _forget(self, name: str) -> None:
        leaf = self._params.pop(name)
        del self._constraints[name]
        names = self._param_to_name[id(leaf)]
        names.remove(name)
        if not names:
            del self._param_to_name[id(leaf)]

    # -- the mapping protocol --------------------------------------------------------
    def clear(self) -> None:
        """Remove every param.

        >>> import torch
        >>> store = ParamStoreDict(); store["a"] = torch.zeros(2); store.clear(); len(store)
        0
        """
        with self._lock:
            self._params, self._constraints, self._param_to_name = {}, {}, {}

    def keys(self) -> list[str]:
        """The param names, in insertion order (a snapshot).

        >>> import torch
        >>> store = ParamStoreDict(); store["b"] = torch.zeros(1); store["a"] = torch.zeros(1)
        >>> store.keys()
        ['b', 'a']
        """
        with self._lock:
            return list(self._params)

    def get_all_param_names(self) -> list[str]:
        """The param names, like :meth:`keys`; deprecated, as in Pyro.

        :warns DeprecationWarning: always (use :meth:`keys`).

        >>> import torch, warnings
        >>> store = ParamStoreDict(); store["a"] = torch.zeros(1)
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore", DeprecationWarning)
        ...     store.get_all_param_names()
        ['a']
        """
        warnings.warn(
            "ParamStore.get_all_param_names() is deprecated; use .keys() instead.",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.keys()

    def items(self) -> Iterator[tuple[str, torch.Tensor]]:
        """Iterate over ``(name, constrained value)`` pairs.

        >>> import torch
        >>> store = ParamStoreDict(); store["a"] = torch.ones(1)
        >>> [(name, value.tolist()) for name, value in store.items()]
        [('a', [1.0])]
        """
        for name, leaf, constraint in self._snapshot():
            yield name, constrain(leaf, constraint)

    def values(self) -> Iterator[torch.Tensor]:
        """Iterate over constrained values.

        >>> import torch
        >>> store = ParamStoreDict(); store["a"] = torch.ones(1)
        >>> [v.tolist() for v in store.values()]
        [[1.0]]
        """
        for _, value in self.items():
            yield value

    def __bool__(self) -> bool:
        return bool(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def __contains__(self, name: object) -> bool:
        return name in self._params

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __getitem__(self, name: str) -> torch.Tensor:
        """The constrained value ``transform_to(constraint)(unconstrained)``.

        Computed afresh on each access (differentiable w.r.t. the leaf); its
        ``.unconstrained()`` returns the stored leaf. For ``constraints.real`` the
        value *is* the leaf.

        :raises KeyError: if there is no such param.

        >>> import torch
        >>> from torch.distributions import constraints
        >>> store = ParamStoreDict()
        >>> _ = store.setdefault("rate", torch.tensor(1.0), constraints.positive)
        >>> rate = store["rate"]
        >>> rate.unconstrained() is store.named_parameters()[0][1]
        True
        """
        with self._lock:
            unconstrained = self._params[name]
            constraint = self._constraints[name]
        return constrain(unconstrained, constraint)

    def __setitem__(self, name: str, new_constrained_value: Any) -> None:
        """Set the param to a constrained value (keeping its constraint, else ``real``).

        The value must lie in the support; what is stored is a new leaf holding
        ``transform_to(constraint).inv(value)``, except that a trainable leaf under
        ``constraints.real`` (such as an ``nn.Parameter``) is stored as-is.

        :raises SiteError: if the value is outside the support, maps to a
            non-finite unconstrained value, or is not floating point.

        >>> import torch
        >>> from torch.distributions import constraints
        >>> store = ParamStoreDict()
        >>> _ = store.setdefault("s", torch.tensor(1.0), constraints.positive)
        >>> store["s"] = torch.tensor(-1.0)
        Traceback (most recent call last):
        ...
        tracegraph.errors.SiteError: param 's': value tensor(-1.) is outside the support of ...
        """
        check_name(name)
        with self._lock:
            constraint = self._constraints.get(name, constraints.real)
            self._install(name, new_leaf(name, new_constrained_value, constraint), constraint)

    def __delitem__(self, name: str) -> None:
        """Remove a param.

        :raises KeyError: if there is no such param.

        >>> import torch
        >>> store = ParamStoreDict(); store["a"] = torch.ones(1); del store["a"]; "a" in store
        False
        """
        with self._lock:
            self._forget(name)

    # -- Pyro's accessors ------------------------------------------------------------
    def setdefault(
        self,
        name: str,
        init_constrained_value: torch.Tensor | Callable[[], torch.Tensor],
        constraint: Constraint = constraints.real,
    ) -> torch.Tensor:
        """Create the param if it is new, then return its constrained value.

        :param init_constrained_value: the initial value, or a zero-argument callable
            returning it; the callable runs only when the param is new.
        :param constraint: the support; ignored when the param already exists.
        :raises SiteError: if the initial value is invalid (nothing is stored then).

        >>> import torch
        >>> store = ParamStoreDict()
        >>> store.setdefault("w", lambda: torch.zeros(2)).tolist()
        [0.0, 0.0]
        >>> store.setdefault("w", torch.ones(2)).tolist()  # exists: not overwritten
        [0.0, 0.0]
        """
        check_name(name)
        with self._lock:
            # The lock is held across the user's init callable so it runs at most
            # once even when threads race to create the same param (RLock: the
            # callable may itself read the store).
            if name not in self._params:
                init = (
                    init_constrained_value()
                    if callable(init_constrained_value)
                    else init_constrained_value
                )
                self._install(name, new_leaf(name, init, constraint), constraint)
            return self[name]

    def get_param(
        self,
        name: str,
        init_tensor: torch.Tensor | Callable[[], torch.Tensor] | None = None,
        constraint: Constraint = constraints.real,
        event_dim: int | None = None,
    ) -> torch.Tensor:
        """Get a param, creating it from ``init_tensor`` if it is new.

        :param init_tensor: the initial constrained value (or a callable returning
            it); None means the param must exist.
        :param constraint: the support of a new param.
        :param event_dim: ignored, as in Pyro (the ``param`` primitive uses it).
        :raises KeyError: if ``init_tensor`` is None and there is no such param.

        >>> import torch
        >>> store = ParamStoreDict()
        >>> store.get_param("b", torch.tensor(3.0)).item(), store.get_param("b").item()
        (3.0, 3.0)
        """
        if init_tensor is None:
            return self[name]
        return self.setdefault(name, init_tensor, constraint)

    def named_parameters(self) -> list[tuple[str, torch.Tensor]]:
        """``(name, unconstrained leaf)`` pairs: the tensors to optimize (a snapshot list).

        >>> import torch
        >>> from torch.distributions import constraints
        >>> store = ParamStoreDict()
        >>> _ = store.setdefault("s", torch.tensor(1.0), constraints.positive)
        >>> store.named_parameters()
        [('s', tensor(0., requires_grad=True))]
        """
        with self._lock:
            return list(self._params.items())

    def replace_param(self, param_name: str, new_param: Any, old_param: torch.Tensor) -> None:
        """Replace a param by a new constrained value, keeping its constraint.

        :param new_param: the new constrained value.
        :param old_param: the current constrained value (as returned by item access).
        :raises SiteError: if ``old_param`` is not the param's current value.

        >>> import torch
        >>> store = ParamStoreDict(); store["a"] = torch.zeros(1)
        >>> store.replace_param("a", torch.ones(1), store["a"]); store["a"].tolist()
        [1.0]
        """
        with self._lock:
            unconstrained = getattr(old_param, "unconstrained", None)
            current = self._params.get(param_name)
            if current is None or not callable(unconstrained) or unconstrained() is not current:
                raise SiteError(
                    f"replace_param({param_name!r}, ...): old_param is not the current value of "
                    f"that param. Hint: pass get_param_store()[{param_name!r}]."
                )
            constraint = self._constraints[param_name]
            self._install(param_name, new_leaf(param_name, new_param, constraint), constraint)

    def match(self, name: str) -> dict[str, torch.Tensor]:
        """Constrained values of the params whose names match the regex ``name``.

        Matching is ``re.match`` (anchored at the start only), as in Pyro.

        >>> import torch
        >>> store = ParamStoreDict(); store["loc_a"] = torch.zeros(1); store["s_a"] = torch.ones(1)
        >>> sorted(store.match("loc"))
        ['loc_a']
        """
        regex = re.compile(name)
        return {key: constrain(leaf, c) for key, leaf, c in self._snapshot() if regex.match(key)}

    def param_name(self, p: torch.Tensor) -> str | None:
        """The name holding the unconstrained leaf ``p`` (by identity), or None.

        >>> import torch
        >>> store = ParamStoreDict(); store["a"] = torch.zeros(1)
        >>> store.param_name(store["a"].unconstrained()), store.param_name(torch.zeros(1))
        ('a', None)
        """
        with self._lock:
            names = self._param_to_name.get(id(p))
            return names[-1] if names else None

    def get_state(self) -> StateDict:
        """A snapshot ``{"params": {name: unconstrained}, "constraints": {name: constraint}}``.

        Unlike Pyro (which returns its live leaves), the tensors are detached
        copies, so training after the call does not change the snapshot.

        >>> import torch
        >>> store = ParamStoreDict(); store["a"] = torch.zeros(1)
        >>> state = store.get_state(); state["params"]["a"] is store["a"]
        False
        """
        with self._lock:
            params = {n: t.detach().clone() for n, t in self._params.items()}
            return {"params": params, "constraints": dict(self._constraints)}

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Load a :meth:`get_state` snapshot, merging it into the store (as in Pyro).

        Params named in ``state`` are replaced by new leaves copied from it (the
        snapshot stays reusable); other params are kept. A param with no entry in
        ``state["constraints"]`` gets ``constraints.real``. All or nothing: on error
        the store is unchanged.

        :raises SiteError: if ``state`` is malformed.

        >>> import torch
        >>> store = ParamStoreDict(); store["a"] = torch.zeros(1); state = store.get_state()
        >>> store["a"] = torch.ones(1); store.set_state(state); store["a"].tolist()
        [0.0]
        """
        entries = check_state(state)
        leaves = {n: (t.detach().clone().requires_grad_(True), c) for n, (t, c) in entries.items()}
        self._install_all(leaves)

    def save(self, filename: FileLike) -> None:
        """Write every param and constraint to ``filename`` in a safe format.

        The file holds only plain containers, numbers, strings and tensors, so
        :meth:`load` reads it with ``weights_only=True``. A path is replaced
        atomically. Constraints are checked first: nothing is written on error.

        :param filename: a path or a writable binary file object.
        :raises SiteError: naming the param, if its constraint has no safe encoding
            (see :func:`tracegraph.params.register_constraint_type`).

        >>> import io, torch
        >>> from torch.distributions import constraints
        >>> store = ParamStoreDict()
        >>> _ = store.setdefault("s", torch.tensor([0.5, 2.0]), constraints.positive)
        >>> buffer = io.BytesIO(); store.save(buffer); _ = buffer.seek(0)
        >>> other = ParamStoreDict(); other.load(buffer)
        >>> torch.equal(other["s"].unconstrained(), store["s"].unconstrained())
        True
        """
        with self._lock:
            payload = to_payload(self._params, self._constraints)
        write_file(payload, filename)

    def load(self, filename: FileLike, map_location: Any = None) -> None:
        """Read params saved by :meth:`save`, merging them into the store.

        Never runs code the file names: its pickle is scanned for anything but
        plain data and tensors before it is read (``weights_only=True``), so a
        malicious file raises instead. The whole record is checked against the
        digests :meth:`save` wrote -- every name, constraint and tensor, and the
        set of entries -- so a damaged file is refused rather than loaded with
        other contents. Files of version 1 (saved before the record digest
        existed) still load, with the checks they carry. All or nothing: if the
        file is bad, the store keeps its previous contents.

        :param filename: a path or a readable binary file object.
        :param map_location: as for ``torch.load`` (e.g. ``"cpu"``).
        :raises FileNotFoundError: if the path does not exist.
        :raises ParamFileError: (a ``RuntimeError``) naming the file, and the
            param when one tensor is damaged, for any other failure; its
            subclasses ``UnsafeParamFileError`` (a ``pickle.UnpicklingError``:
            not plain data), ``MalformedParamFileError`` (a ``SiteError``: not
            a param-store record) and ``TruncatedParamFileError`` (an
            ``EOFError``: empty) keep the types such files raised before.

        >>> import io, torch
        >>> store = ParamStoreDict(); store["a"] = torch.ones(1)
        >>> store.load(io.BytesIO(b"not a checkpoint"))
        Traceback (most recent call last):
        ...
        tracegraph.errors.UnsafeParamFileError: param-store file object is not the zip archive...
        >>> store["a"].tolist()
        [1.0]
        """
        entries = read_file(filename, map_location)
        self._install_all({n: (t.requires_grad_(True), c) for n, (t, c) in entries.items()})

    def _install_all(self, entries: Mapping[str, tuple[torch.Tensor, Constraint]]) -> None:
        with self._lock:
            for name, (leaf, constraint) in entries.items():
                self._install(name, leaf, constraint)

    @contextmanager
    def scope(self, state: StateDict | None = None) -> Iterator[StateDict]:
        """Temporarily run with other contents, restoring the current ones on exit.

        Inside, the store starts from ``state`` (or empty). The same leaves (not
        copies) are back afterwards, so optimizers holding them keep working. The
        yielded dict is ``state`` (or a new one) and on exit it receives the scope's
        final state, so it can be passed to a later ``scope`` to resume.

        >>> import torch
        >>> store = ParamStoreDict(); store["outer"] = torch.zeros(1)
        >>> with store.scope() as inner:
        ...     store["inner"] = torch.ones(1)
        ...     store.keys()
        ['inner']
        >>> store.keys(), list(inner["params"])
        (['outer'], ['inner'])
        """
        out: StateDict = state if state is not None else {"params": {}, "constraints": {}}
        with self._lock:
            saved = (self._params, self._constraints, self._param_to_name)
            self.clear()
            try:
                if state is not None:
                    self.set_state(state)
            except BaseException:
                self._params, self._constraints, self._param_to_name = saved
                raise
        try:
            yield out
        finally:
            with self._lock:
                out.update(self.get_state())
                self._params, self._constraints, self._param_to_name = saved


_PARAM_STORE = ParamStoreDict()


def get_param_store() -> ParamStoreDict:
    """The process-wide default param store.

    >>> get_param_store() is get_param_store()
    True
    """
    return _PARAM_STORE


def clear_param_store() -> None:
    """Remove every param from the default store.

    >>> import torch
    >>> get_param_store()["tmp"] = torch.zeros(1); clear_param_store(); len(get_param_store())
    0
    """
    _PARAM_STORE.clear()
