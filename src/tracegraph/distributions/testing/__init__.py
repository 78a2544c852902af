"""Helpers for testing inference code; see :mod:`tracegraph.distributions.testing.fakes`.

>>> from tracegraph.distributions.testing import fakes
>>> fakes.NonreparameterizedNormal.has_rsample
False
"""
