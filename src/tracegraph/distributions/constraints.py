"""``torch.distributions.constraints``, re-exported under Pyro's module path.

Nothing is added: every constraint is torch's, so ``biject_to``/``transform_to``
registrations made for torch apply here unchanged.

>>> import torch
>>> from tracegraph.distributions import constraints
>>> constraints.positive is torch.distributions.constraints.positive
True
"""

from torch.distributions.constraints import *  # noqa: F403
from torch.distributions.constraints import __all__ as _torch_all

__all__ = list(_torch_all)
