"""``PyroModule``: a ``torch.nn.Module`` whose attributes are Pyro effects.

An attribute declared as a :class:`PyroParam` (or set to an ``nn.Parameter``)
is a learnable parameter: read inside the module's call it is a ``param``
statement whose name is the attribute's dotted path from the root module (the
root's ``name`` first, if it has one), so it lives in the param store under that
name and every handler sees it.  An attribute declared as a :class:`PyroSample`
is a random variable: read inside the call it is a ``sample`` statement, drawn
once per call.  A plain ``nn.Module`` child is registered with
:func:`tracegraph.module` when read.

Module and param store agree on one tensor per param: when the store already
holds a param of that name (loaded from disk, or made by an earlier module of
the same name), the module adopts the store's tensor the next time the param
is read inside a call; otherwise the module's tensor enters the store.

>>> import torch
>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> from tracegraph import poutine
>>> class Regression(PyroModule):
...     def __init__(self):
...         super().__init__()
...         self.linear = PyroModule[torch.nn.Linear](2, 1)
...         self.linear.weight = PyroSample(dist.Normal(0.0, 1.0).expand([1, 2]).to_event(2))
...         self.sigma = PyroParam(torch.tensor(1.0), constraint=dist.constraints.positive)
...     def forward(self, x):
...         mean = self.linear(x).squeeze(-1)
...         with tracegraph.plate("data", x.shape[0]):
...             return tracegraph.sample("y", dist.Normal(mean, self.sigma))
>>> tracegraph.clear_param_store()
>>> tr = poutine.trace(Regression()).get_trace(torch.ones(3, 2))
>>> [name for name in tr.nodes if name not in ("_INPUT", "_RETURN")]
['linear.weight', 'linear.bias', 'data', 'sigma', 'y']
>>> sorted(tracegraph.get_param_store().keys())
['linear.bias', 'sigma']
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from typing import Any, ParamSpec, TypeVar

import torch
from torch.distributions import constraints, transform_to
from torch.distributions.constraints import Constraint

from tracegraph.nn.context import _Context, is_module_local_param_enabled
from tracegraph.nn.declarations import PyroParam, PyroSample
from tracegraph.ops.provenance import detach_provenance
from tracegraph.params import get_param_store, param_with_module_name
from tracegraph.params.constrained_value import constrain
from tracegraph.poutine.messages import new_message
from tracegraph.poutine.runtime import am_i_wrapped, apply_stack
from tracegraph.primitives import deterministic, module, param, sample

__all__ = [
    "PyroModule",
    "PyroModuleList",
    "PyroParam",
    "PyroSample",
    "clear",
    "detach_provenance",
    "pyro_method",
    "to_pyro_module_",
    "transform_to",
]

_P = ParamSpec("_P")
_T = TypeVar("_T")
_UNCONSTRAINED = "_unconstrained"


def _make_name(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _adopt(name: str, leaf: torch.Tensor, constraint: Constraint) -> None:
    # Put the module's own leaf into the store (Pyro's modules do the same), so
    # that the optimizer steps the very tensor the module holds.
    store = get_param_store()
    with store._lock:
        store._install(name, leaf, constraint)


def _local_param(name: str, value: torch.Tensor, event_dim: int | None) -> torch.Tensor:
    # With module-local params a read is still a param site that handlers see,
    # but its value comes from the module, not from the store.
    if not am_i_wrapped():
        return value
    msg = new_message("param", name, lambda *args, **kwargs: value, name, event_dim=event_dim)
    apply_stack(msg)
    return msg["value"]  # type: ignore[no-any-return]


class _PyroModuleMeta(type(torch.nn.Module)):  # type: ignore[misc]
    # ``PyroModule[torch.nn.Linear]``: a subclass mixing PyroModule into a torch
    # module class, made once per class.
    _cache: dict[type, type] = {}
    _bases: dict[type, type] = {}

    def __getitem__(cls, Module: type) -> type:
        if not isinstance(Module, type) or not issubclass(Module, torch.nn.Module):
            raise TypeError(f"PyroModule[...] expects a torch.nn.Module subclass, got {Module!r}")
        if issubclass(Module, PyroModule):
            return Module
        result = _PyroModuleMeta._cache.get(Module)
        if result is None:
            result = _PyroModuleMeta(f"Pyro{Module.__name__}", (Module, PyroModule), {})
            result.__module__ = __name__
            _PyroModuleMeta._cache[Module] = result
            _PyroModuleMeta._bases[result] = Module
        return result


def _new_mixin_instance(Module: type) -> PyroModule:
    # Unpickling an instance of ``PyroModule[Module]``, a class made at run time.
    cls: Any = PyroModule[Module]  # type: ignore[misc]
    return cls.__new__(cls)  # type: ignore[no-any-return]


class PyroModule(torch.nn.Module, metaclass=_PyroModuleMeta):
    """A ``torch.nn.Module`` whose attributes may be params and random variables
    handled by Pyro's effects (see the module docstring).

    ``PyroModule[torch.nn.Linear](2, 1)`` makes any torch module class such a
    module; several PyroModules used in one model should hang from one root.
    Draws are cached within one call of the root (or of a :func:`pyro_method`).

    :param name: the name of a root module, prefixing every param and sample
        name of its tree; ignored for a module that becomes another's child.

    >>> import torch
    >>> import tracegraph
    >>> tracegraph.clear_param_store()
    >>> layer = PyroModule[torch.nn.Linear](2, 1)
    >>> _ = layer(torch.ones(2))
    >>> sorted(tracegraph.get_param_store().keys())
    ['bias', 'weight']
    >>> tracegraph.get_param_store()["weight"] is layer.weight
    True
    """

    def __init__(self, name: str = "") -> None:
        self._pyromodule_init(name)
        super().__init__()

    def _pyromodule_init(self, name: str) -> None:
        object.__setattr__(self, "_pyro_name", name)
        object.__setattr__(self, "_pyro_context", _Context())
        object.__setattr__(self, "_pyro_params", OrderedDict())
        object.__setattr__(self, "_pyro_samples", OrderedDict())

    # -- names -------------------------------------------------------------------
    def _pyro_set_supermodule(self, name: str, context: _Context) -> None:
        self._pyro_name = name
        self._pyro_context = context
        for key, child in self._modules.items():
            if isinstance(child, PyroModule):
                child._pyro_set_supermodule(_make_name(name, key), context)

    def _pyro_get_fullname(self, name: str) -> str:
        return _make_name(self._pyro_name, name)

    def add_module(self, name: str, module: torch.nn.Module | None) -> None:
        """Add a child module (renamed into this module's tree if it is a PyroModule).

        >>> root = PyroModule("root"); root.add_module("child", PyroModule())
        >>> root.child._pyro_name
        'root.child'
        """
        if isinstance(module, PyroModule):
            module._pyro_set_supermodule(self._pyro_get_fullname(name), self._pyro_context)
        super().add_module(name, module)

    def named_pyro_params(
        self, prefix: str = "", recurse: bool = True
    ) -> Iterator[tuple[str, torch.Tensor]]:
        """``(name, value)`` of every param of this module (and its children when
        ``recurse``): ``nn.Parameter``\\ s as they are, :class:`PyroParam`\\ s by
        their declared name with their constrained value.

        >>> import torch
        >>> m = PyroModule()
        >>> m.scale = PyroParam(torch.ones(1)); m.w = torch.nn.Parameter(torch.zeros(1))
        >>> [name for name, _ in m.named_pyro_params()]
        ['scale', 'w']
        """
        modules = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mod_prefix, mod in modules:
            pyro_params = mod.__dict__.get("_pyro_params", {})
            for name, value in mod._parameters.items():
                if value is None:
                    continue
                base = name[: -len(_UNCONSTRAINED)] if name.endswith(_UNCONSTRAINED) else None
                if base is not None and base in pyro_params:
                    yield _make_name(mod_prefix, base), getattr(mod, base)
                else:
                    yield _make_name(mod_prefix, name), value

    # -- calls -------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self._pyro_context:
            return super().__call__(*args, **kwargs)

    # -- attributes --------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        state = self.__dict__
        pyro_params = state.get("_pyro_params")
        if pyro_params is not None and name in pyro_params:
            return self._pyromodule_read_param(name, *pyro_params[name])
        pyro_samples = state.get("_pyro_samples")
        if pyro_samples is not None and name in pyro_samples:
            return self._pyromodule_read_sample(name, pyro_samples[name])
        result = super().__getattr__(name)
        context = state.get("_pyro_context")
        if context is None or not context.active:
            return result
        if name in state["_parameters"] and not name.endswith(_UNCONSTRAINED):
            fullname = self._pyro_get_fullname(name)
            if is_module_local_param_enabled():
                _local_param(fullname, result, None)  # type: ignore[arg-type]
            else:
                param(fullname, result)
        elif isinstance(result, torch.nn.Module) and not isinstance(result, PyroModule):
            fullname = self._pyro_get_fullname(name)
            if is_module_local_param_enabled():
                for pname, p in result.named_parameters():
                    _local_param(param_with_module_name(fullname, pname), p, None)
            else:
                module(fullname, result)
        return result

    def _pyromodule_read_param(
        self, name: str, constraint: Constraint, event_dim: int | None
    ) -> torch.Tensor:
        unconstrained: torch.Tensor = self._parameters[name + _UNCONSTRAINED]  # type: ignore
        if not self._pyro_context.active:
            return constrain(unconstrained, constraint)
        fullname = self._pyro_get_fullname(name)
        if is_module_local_param_enabled():
            return _local_param(fullname, constrain(unconstrained, constraint), event_dim)
        store = get_param_store()
        stored = store._params.get(fullname)
        if stored is None:
            _adopt(fullname, unconstrained, constraint)
        elif stored is not unconstrained:
            # The store's tensor wins (loaded params, or an earlier module of
            # this name); the module holds that very tensor from now on, so an
            # optimizer that holds it keeps working.
            self._parameters[name + _UNCONSTRAINED] = stored  # type: ignore[assignment]
        return param(fullname, event_dim=event_dim)

    def _pyromodule_read_sample(self, name: str, prior: Any) -> Any:
        context = self._pyro_context
        if not context.active:
            # Outside a call: a plain draw, no site.
            d = prior if hasattr(prior, "sample") else prior(self)
            return d.sample() if hasattr(d, "sample") else d
        fullname = self._pyro_get_fullname(name)
        value = context.get(fullname)
        if value is None:
            d = prior if hasattr(prior, "sample") else prior(self)
            if hasattr(d, "sample"):
                value = sample(fullname, d)
            else:
                value = deterministic(fullname, d)
            context.set(fullname, value)
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_pyro_"):
            object.__setattr__(self, name, value)
            return
        if "_pyro_params" not in self.__dict__:
            # A torch class that skipped PyroModule.__init__ (to_pyro_module_).
            self._pyromodule_init("")
        if isinstance(value, PyroModule):
            self._pyromodule_forget(name)
            super().__setattr__(name, value)
            value._pyro_set_supermodule(self._pyro_get_fullname(name), self._pyro_context)
            return
        if isinstance(value, PyroParam):
            self._pyromodule_set_param(name, value)
            return
        if isinstance(value, PyroSample):
            self._pyromodule_forget(name)
            self._pyro_samples[name] = value.prior
            return
        if isinstance(value, torch.nn.Parameter):
            self._pyromodule_forget(name)
            if self._pyro_context.active and not is_module_local_param_enabled():
                stored = self._pyromodule_sync_parameter(name, value)
                if stored is not value:
                    self._parameters[name] = stored  # type: ignore[assignment]  # the store's leaf
                    return
        elif isinstance(value, torch.Tensor) and name in self._pyro_params:
            # A new constrained value for a declared param keeps its constraint.
            constraint, event_dim = self._pyro_params[name]
            self._pyromodule_set_param(name, PyroParam(value, constraint, event_dim), replace=True)
            return
        super().__setattr__(name, value)

    def _pyromodule_sync_parameter(
        self, name: str, value: torch.nn.Parameter
    ) -> torch.Tensor:
        # Set inside a call: the store's tensor of that name wins; else the new
        # one enters the store.
        fullname = self._pyro_get_fullname(name)
        store = get_param_store()
        stored = store._params.get(fullname)
        if stored is None:
            _adopt(fullname, value, constraints.real)
            stored = value
        param(fullname, stored)
        return stored

    def _pyromodule_forget(self, name: str) -> None:
        # What ``name`` was declared as before (it is being redeclared).
        if self._pyro_params.pop(name, None) is not None:
            self._parameters.pop(name + _UNCONSTRAINED, None)
        self._pyro_samples.pop(name, None)
        self._parameters.pop(name, None)

    def _pyromodule_set_param(
        self, name: str, declared: PyroParam, replace: bool = False
    ) -> None:
        init_value, constraint, event_dim = declared
        fullname = self._pyro_get_fullname(name)
        store = get_param_store()
        in_call = self._pyro_context.active and not is_module_local_param_enabled()
        self._pyromodule_forget(name)
        self._pyro_params[name] = (constraint, event_dim)
        stored = store._params.get(fullname) if in_call and not replace else None
        if stored is not None:
            # Inside a call the store's value wins over the initial value.
            unconstrained = stored
        else:
            value = init_value() if callable(init_value) else init_value
            if value is None:
                raise ValueError(f"PyroParam {fullname!r} needs an initial value")
            with torch.no_grad():
                value = torch.as_tensor(value)
                leaf = transform_to(constraint).inv(detach_provenance(value)).detach()
            # A copy: training must not write into the caller's tensor.
            unconstrained = torch.nn.Parameter(leaf.clone())
            if in_call:
                _adopt(fullname, unconstrained, constraint)
        if isinstance(unconstrained, torch.nn.Parameter):
            super().__setattr__(name + _UNCONSTRAINED, unconstrained)
        else:
            self._parameters[name + _UNCONSTRAINED] = unconstrained  # type: ignore[assignment]
        if in_call:
            # As in Pyro, a param set inside a call is a param statement there.
            param(fullname, event_dim=event_dim)

    def __delattr__(self, name: str) -> None:
        fullname = self._pyro_get_fullname(name)
        if name in self._pyro_params:
            del self._pyro_params[name]
            del self._parameters[name + _UNCONSTRAINED]
            self._pyromodule_forget_store(fullname)
        elif name in self._pyro_samples:
            del self._pyro_samples[name]
        elif name in self._parameters:
            del self._parameters[name]
            self._pyromodule_forget_store(fullname)
        else:
            super().__delattr__(name)

    @staticmethod
    def _pyromodule_forget_store(fullname: str) -> None:
        store = get_param_store()
        if not is_module_local_param_enabled() and fullname in store:
            del store[fullname]

    # -- pickling ------------------------------------------------------------------
    def __reduce_ex__(self, protocol: Any) -> Any:
        base = _PyroModuleMeta._bases.get(type(self))
        if base is None:
            return super().__reduce_ex__(protocol)
        # ``PyroModule[Module]`` is made at run time: rebuild the class by its recipe.
        return _new_mixin_instance, (base,), self.__getstate__()


class PyroModuleList(torch.nn.ModuleList, PyroModule):
    """A ``torch.nn.ModuleList`` that is a :class:`PyroModule`: its items are named
    ``"0"``, ``"1"``, ... under the list's name.

    >>> import torch
    >>> layers = PyroModuleList([PyroModule[torch.nn.Linear](2, 2) for _ in range(2)])
    >>> layers[1]._pyro_name
    '1'
    """

    def __init__(self, modules: Iterable[torch.nn.Module] | None) -> None:
        super().__init__(modules)

    def __getitem__(self, idx: int | slice) -> torch.nn.Module | torch.nn.ModuleList:  # type: ignore[override]
        if isinstance(idx, slice):
            # A plain list: putting the items into a new PyroModuleList would
            # rename them.
            return torch.nn.ModuleList(list(self._modules.values())[idx])
        return super().__getitem__(idx)  # type: ignore[no-any-return]


def pyro_method(fn: Callable[_P, _T]) -> Callable[_P, _T]:
    """Decorate a public method of a :class:`PyroModule` other than ``forward`` so
    that it runs like a call of the module: params are ``param`` statements and
    each random attribute is drawn once.

    >>> import tracegraph.distributions as dist
    >>> from tracegraph import poutine
    >>> class Model(PyroModule):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.x = PyroSample(dist.Normal(0.0, 1.0))
    ...     @pyro_method
    ...     def twice(self):
    ...         return self.x + self.x
    >>> list(poutine.trace(Model().twice).get_trace().stochastic_nodes)
    ['x']
    """

    @functools.wraps(fn)
    def cached_fn(self: Any, *args: Any, **kwargs: Any) -> Any:
        with self._pyro_context:
            return fn(self, *args, **kwargs)

    return cached_fn  # type: ignore[return-value]


def clear(mod: PyroModule) -> None:
    """Remove every param of ``mod`` and its PyroModule children, from the
    modules and from the param store.

    >>> import torch, tracegraph
    >>> m = PyroModule[torch.nn.Linear](1, 1); _ = m(torch.ones(1))
    >>> clear(m); list(tracegraph.get_param_store().keys()), len(list(m.parameters()))
    ([], 0)
    """
    for name in list(mod.__dict__.get("_pyro_params", {})):
        delattr(mod, name)
    for name in list(mod._parameters):
        delattr(mod, name)
    for child in list(mod._modules.values()):
        if isinstance(child, PyroModule):
            clear(child)


def to_pyro_module_(m: torch.nn.Module, recurse: bool = True) -> None:
    """Turn a plain ``torch.nn.Module`` into a :class:`PyroModule` in place (its
    class becomes ``PyroModule[type(m)]``), with its children when ``recurse``.

    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU())
    >>> to_pyro_module_(net)
    >>> isinstance(net[0], PyroModule[torch.nn.Linear]), net[0]._pyro_name
    (True, '0')
    """
    if not isinstance(m, torch.nn.Module):
        raise TypeError(f"to_pyro_module_ expects a torch.nn.Module, got {type(m).__name__}")
    if not isinstance(m, PyroModule):
        m.__class__ = PyroModule[type(m)]  # type: ignore[misc]
        PyroModule._pyromodule_init(m, "")  # type: ignore[arg-type]
    if recurse:
        for name, child in list(m._modules.items()):
            if child is not None:
                to_pyro_module_(child, recurse=True)
                setattr(m, name, child)
