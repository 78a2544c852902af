"""Helpers for testing inference code; see :mod:`tracegraph.distributions.testing.fakes`.

>>> from tracegraph.distributions.testing import fakes
>>> fakes.NonreparameterizedNormal.has_rsample
False
"""

# As in Pyro, the package makes its fakes module reachable as an attribute.
from tracegraph.distributions.testing import fakes as fakes
