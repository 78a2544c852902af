"""Tensor-level building blocks that depend on torch only.

:mod:`tracegraph.ops.provenance` is sound provenance tracking: which sample sites
every tensor was computed from (a package: the tensor subclass, the rule
registry and table, control-flow scopes).

>>> from tracegraph.ops.provenance import get_provenance
>>> get_provenance(1.0)
frozenset()
"""

from tracegraph.ops import provenance as provenance
