"""Tensor-level building blocks that depend on torch only.

* :mod:`tracegraph.ops.provenance` -- sound provenance tracking (the public API);
* :mod:`tracegraph.ops.provenance_rules` -- the rule table and rule categories;
* :mod:`tracegraph.ops.provenance_table` -- which torch op is in which category;
* :mod:`tracegraph.ops.provenance_tensor` -- the tensor subclass and default rules;
* :mod:`tracegraph.ops.control_flow` -- control-flow scopes and strict mode.

>>> from tracegraph.ops.provenance import get_provenance
>>> get_provenance(1.0)
frozenset()
"""
