"""TraceMeanField_ELBO: the ELBO with analytic KL divergences where they exist.

For a latent site whose guide and model distributions have a registered
``kl_divergence`` (``torch.distributions.kl``), the two Monte Carlo cost terms
``log p(z) - log q(z)`` are replaced by their expectation over ``z``,
``-KL(q || p)``: the same ELBO with less variance (Kingma & Welling 2014).

That replacement is valid when the expectation over the site's own value does not
change anything else the term reads: when the KL does not depend on the site's
value.  Pyro assumes it (a mean-field guide, model and guide in the same order)
and refuses non-reparameterized sites (pyro#1710).  Here provenance checks it per
site and per run: the KL of a site is used only if its provenance lacks the site
(so a model prior that reads a later guide site computed from this one keeps the
Monte Carlo terms), and non-reparameterized sites are welcome: their own term is
analytic and their score multiplies the downstream costs, Rao-Blackwellized as in
:class:`~tracegraph.infer.tracegraph_elbo.TraceGraph_ELBO` (baselines included).

Scales and masks: with the same weight ``w`` on both terms (the usual case) the
term is ``-w KL``; with different weights (``poutine.scale`` on the model alone,
for KL annealing) it is ``-w_p KL - (w_p - w_q) H(q)``, exact as well, where the
guide has an analytic entropy (else the Monte Carlo terms are kept).  Pyro uses
the guide's scale alone there.

>>> import torch
>>> import tracegraph
>>> import tracegraph.distributions as dist
>>> def model():
...     tracegraph.sample("z", dist.Normal(0.0, 1.0))
>>> def guide():
...     tracegraph.sample("z", dist.Normal(torch.tensor(0.5), 1.0))
>>> round(TraceMeanField_ELBO().loss(model, guide), 6)  # KL(N(0.5, 1) || N(0, 1)), no noise
0.125
"""

from __future__ import annotations

from typing import Any

import torch
from torch.distributions import kl_divergence

# Pyro's names at this module path, re-exported from where they live.
from tracegraph.distributions.util import scale_and_mask  # noqa: E402, F401
from tracegraph.distributions.validation import is_validation_enabled  # noqa: E402, F401
from tracegraph.infer.jit import CachedStructure
from tracegraph.infer.numeric import torch_item  # noqa: E402, F401
from tracegraph.infer.runs import Tracking
from tracegraph.infer.trace_elbo import Trace_ELBO  # noqa: E402, F401
from tracegraph.infer.tracegraph_elbo import TraceGraph_ELBO
from tracegraph.infer.validation import check_fully_reparametrized  # noqa: E402, F401
from tracegraph.ops.tensor_checks import warn_if_nan  # noqa: E402, F401

__all__ = ["JitTraceMeanField_ELBO", "TraceMeanField_ELBO", "mean_field_term"]


def _weight(site: Any) -> Any:
    # What the site's log-density is multiplied by: its scale and mask.
    w: Any = site.get("scale", 1.0)
    mask = site.get("mask")
    if mask is not None and mask is not True:
        w = w * torch.as_tensor(mask).to(torch.get_default_dtype())
    return w


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return bool(torch.equal(torch.as_tensor(a), torch.as_tensor(b)))
    return bool(a == b)


def mean_field_term(model_site: Any, guide_site: Any) -> torch.Tensor | None:
    """The expectation over a latent site's value of its two cost terms (scaled
    and masked): ``-KL(q || p)`` times the weights, or ``None`` where no KL (or,
    for unequal weights, no entropy) is known.

    >>> import tracegraph.distributions as dist
    >>> site = {"scale": 1.0, "mask": None}
    >>> p = {**site, "fn": dist.Normal(0.0, 1.0)}
    >>> q = {**site, "fn": dist.Normal(1.0, 1.0)}
    >>> float(mean_field_term(p, q))
    -0.5
    >>> mean_field_term({**p, "fn": dist.Normal(0.0, 1.0).mask(False)}, q) is None
    True
    """
    try:
        kl = kl_divergence(guide_site["fn"], model_site["fn"])
    except NotImplementedError:
        return None
    w_p, w_q = _weight(model_site), _weight(guide_site)
    if _same(w_p, w_q):
        return -(w_p * kl) if not _same(w_p, 1.0) else -kl
    try:
        entropy = guide_site["fn"].entropy()
    except NotImplementedError:
        return None
    # E_q[w_p log p - w_q log q] = -w_p KL(q || p) - (w_p - w_q) H(q).
    return -(w_p * kl) - (w_p - w_q) * entropy


class TraceMeanField_ELBO(TraceGraph_ELBO):
    """The ELBO with an analytic KL term for every latent site that has one (see
    the module docstring); the other sites' terms and every score as in
    :class:`~tracegraph.infer.tracegraph_elbo.TraceGraph_ELBO`.

    Every latent site is tracked, so that a site's KL is used only where it does
    not depend on the site's own value; :class:`JitTraceMeanField_ELBO` caches
    that per structure and runs untracked.

    Arguments: see :class:`~tracegraph.infer.elbo.ELBO` (and ``leave_one_out``).

    >>> import torch, tracegraph, tracegraph.distributions as dist
    >>> def model():
    ...     tracegraph.sample("z", dist.Normal(0.0, 1.0))
    >>> def guide():
    ...     tracegraph.sample("z", dist.Normal(tracegraph.param("m", torch.tensor(1.0)), 1.0))
    >>> round(TraceMeanField_ELBO().loss(model, guide), 6)  # KL(N(1, 1) || N(0, 1)), exact
    0.5
    """

    tracking = Tracking.COMPLETE
    analytic = staticmethod(mean_field_term)


class JitTraceMeanField_ELBO(CachedStructure, TraceMeanField_ELBO):
    """:class:`TraceMeanField_ELBO` with dependency sets (and which sites' KL is
    valid) cached per structure (:class:`~tracegraph.infer.jit.CachedStructure`).

    >>> import torch
    >>> import tracegraph
    >>> import tracegraph.distributions as dist
    >>> def model():
    ...     tracegraph.sample("z", dist.Normal(0.0, 1.0))
    >>> def guide():
    ...     tracegraph.sample("z", dist.Normal(torch.tensor(0.5), 1.0))
    >>> elbo = JitTraceMeanField_ELBO()
    >>> [round(elbo.loss(model, guide), 6) for _ in range(2)]
    [0.125, 0.125]
    """
