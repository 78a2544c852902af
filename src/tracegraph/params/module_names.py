"""Store names of ``nn.Module`` params: ``f"{module name}$$${param name}"``, as in Pyro.

>>> name = param_with_module_name("net", "layer.weight")
>>> name, module_from_param_with_module_name(name), user_param_name(name)
('net$$$layer.weight', 'net', 'layer.weight')
"""

from __future__ import annotations

__all__ = [
    "module_from_param_with_module_name",
    "normalize_param_name",
    "param_with_module_name",
    "user_param_name",
]

_MODULE_NAMESPACE_DIVIDER = "$$$"


def param_with_module_name(pyro_name: str, param_name: str) -> str:
    """The store name of param ``param_name`` of the module registered as ``pyro_name``.

    >>> param_with_module_name("net", "layer.weight")
    'net$$$layer.weight'
    """
    return f"{pyro_name}{_MODULE_NAMESPACE_DIVIDER}{param_name}"


def module_from_param_with_module_name(param_name: str) -> str:
    """The module part of a store name made by :func:`param_with_module_name`.

    >>> module_from_param_with_module_name("net$$$layer.weight")
    'net'
    """
    return param_name.partition(_MODULE_NAMESPACE_DIVIDER)[0]


def user_param_name(param_name: str) -> str:
    """The module-local part of a store name (the part after the first divider and
    before any second one, as Pyro); names without a module are returned as-is.

    >>> user_param_name("net$$$layer.weight"), user_param_name("loc")
    ('layer.weight', 'loc')
    """
    if _MODULE_NAMESPACE_DIVIDER in param_name:
        return param_name.split(_MODULE_NAMESPACE_DIVIDER)[1]
    return param_name


def normalize_param_name(name: str) -> str:
    """A store name with each module divider ``$$$`` written as ``.`` (the dotted
    path ``nn.Module.named_parameters`` would give).

    >>> normalize_param_name("net$$$layer.weight"), normalize_param_name("loc")
    ('net.layer.weight', 'loc')
    """
    return name.replace(_MODULE_NAMESPACE_DIVIDER, ".")
