"""Learnable parameters: the param store and its safe on-disk format.

``tracegraph.params`` mirrors ``pyro.params``: a process-wide
:class:`ParamStoreDict` (:func:`get_param_store`) holding unconstrained leaf
tensors and their constraints, plus the naming helpers used by ``module``.

>>> import torch
>>> from torch.distributions import constraints
>>> import tracegraph.params as params
>>> store = params.ParamStoreDict()
>>> loc = store.setdefault("loc", torch.zeros(2))
>>> sorted(store.match("l.*"))
['loc']
"""

from tracegraph.params.constraint_codec import (
    decode_constraint,
    encode_constraint,
    register_constraint,
    register_constraint_type,
)
from tracegraph.params.module_names import (
    module_from_param_with_module_name,
    param_with_module_name,
    user_param_name,
)
from tracegraph.params.param_store import (
    ParamStoreDict,
    StateDict,
    clear_param_store,
    get_param_store,
)

__all__ = [
    "ParamStoreDict",
    "StateDict",
    "clear_param_store",
    "decode_constraint",
    "encode_constraint",
    "get_param_store",
    "module_from_param_with_module_name",
    "param_with_module_name",
    "register_constraint",
    "register_constraint_type",
    "user_param_name",
]
