"""Tensor-level building blocks that depend on torch only.

* :mod:`tracegraph.ops.provenance` -- sound provenance tracking (the public API);
* :mod:`tracegraph.ops.control_flow` -- control-flow scopes and strict mode;
* :mod:`tracegraph.ops.provenance_tensor` -- the tensor subclass;
* :mod:`tracegraph.ops.provenance_registry` -- the rule registry, strict refusals;
* :mod:`tracegraph.ops.provenance_propagation` -- the default rules;
* :mod:`tracegraph.ops.provenance_rules` -- the other rule categories, installs the table;
* :mod:`tracegraph.ops.provenance_table` -- which torch op is in which category.

Importing any of them loads the whole rule table (through ``provenance``), so a
tracked tensor never meets an empty table.

>>> from tracegraph.ops.provenance import get_provenance
>>> get_provenance(1.0)
frozenset()
"""

from tracegraph.ops import provenance as provenance
