"""Distributions: every ``torch.distributions`` class, plus what Pyro's API needs.

``tracegraph.distributions.Normal`` is ``torch.distributions.Normal`` with
:class:`TorchDistributionMixin` in front: the same maths, plus calling to draw a
sample, ``to_event``, ``expand_by``, ``mask``, ``has_rsample_``,
``score_parts`` and the rest of Pyro's distribution API.  Every one is an
instance of the abstract :class:`Distribution`.  New here: :class:`Delta`,
:class:`Unit` and the wrappers :class:`MaskedDistribution` and
:class:`ExpandedDistribution`.  Constraints (torch's and Pyro's) are in
:mod:`~tracegraph.distributions.constraints`, transforms in
:mod:`~tracegraph.distributions.transforms`, KL rules in
:mod:`~tracegraph.distributions.kl`; non-reparameterized fakes for tests are in
:mod:`tracegraph.distributions.testing.fakes`.

Plain ``torch.distributions`` objects are accepted wherever a distribution is;
library code converts them with :func:`as_tracegraph_distribution` (a view that
shares the parameters) or uses :func:`draw`, :func:`score_parts`,
:func:`has_rsample`, :func:`event_dim`, :func:`expand_by`, :func:`to_event` and
:func:`mask` (see :mod:`tracegraph.distributions.generic`).

>>> import torch
>>> import tracegraph.distributions as dist
>>> d = dist.Normal(torch.zeros(2, 3), 1.0).to_event(1)
>>> d.batch_shape, d.event_shape, d.log_prob(torch.zeros(2, 3)).shape
(torch.Size([2]), torch.Size([3]), torch.Size([2]))
"""

from tracegraph.distributions import constraints, kl, random_variable, transforms
from tracegraph.distributions import distribution as _distribution
from tracegraph.distributions import torch as _torch_wrappers
from tracegraph.distributions.delta import Delta
from tracegraph.distributions.empirical import Empirical
from tracegraph.distributions.generic import (
    as_tracegraph_distribution,
    draw,
    event_dim,
    expand_by,
    has_rsample,
    mask,
    score_parts,
    to_event,
)
from tracegraph.distributions.score_parts import ScoreParts
from tracegraph.distributions.torch import *  # noqa: F403
from tracegraph.distributions.torch_distribution import (
    ExpandedDistribution,
    Independent,
    MaskedDistribution,
    TorchDistribution,
    TorchDistributionMixin,
)
from tracegraph.distributions.transform_module import ComposeTransformModule, TransformModule
from tracegraph.distributions.unit import Unit
from tracegraph.distributions.validation import (
    enable_validation,
    is_validation_enabled,
    validation_enabled,
)

# Pyro's abstract Distribution, not torch's (which the star import brought in).
Distribution = _distribution.Distribution  # type: ignore[misc, assignment]

del random_variable  # imported for Distribution.rv

__all__ = [
    # torch distributions and Pyro's API on them (issue 10: compat-dist)
    "ComposeTransformModule",
    "Delta",
    "Distribution",
    "Empirical",
    "ExpandedDistribution",
    "Independent",
    "MaskedDistribution",
    "TorchDistribution",
    "TorchDistributionMixin",
    "TransformModule",
    "constraints",
    "enable_validation",
    "is_validation_enabled",
    "kl",
    "transforms",
    "validation_enabled",
    # Pyro-specific distributions
    "Unit",
    # tracegraph's helpers for any distribution
    "ScoreParts",
    "as_tracegraph_distribution",
    "draw",
    "event_dim",
    "expand_by",
    "has_rsample",
    "mask",
    "score_parts",
    "to_event",
]
__all__ += [name for name in _torch_wrappers.__all__ if name not in __all__]

# -- Pyro's own distributions (not in torch.distributions) --------------------------
from tracegraph.distributions.affine_beta import AffineBeta  # noqa: E402
from tracegraph.distributions.conjugate import (  # noqa: E402
    BetaBinomial,
    DirichletMultinomial,
    GammaPoisson,
)
from tracegraph.distributions.diag_normal_mixture import (  # noqa: E402
    MixtureOfDiagNormals,
    MixtureOfDiagNormalsSharedCovariance,
)
from tracegraph.distributions.extended import ExtendedBetaBinomial, ExtendedBinomial  # noqa: E402
from tracegraph.distributions.folded import FoldedDistribution  # noqa: E402
from tracegraph.distributions.grouped_normal_normal import GroupedNormalNormal  # noqa: E402
from tracegraph.distributions.improper_uniform import ImproperUniform  # noqa: E402
from tracegraph.distributions.laplace import (  # noqa: E402
    AsymmetricLaplace,
    SoftAsymmetricLaplace,
    SoftLaplace,
)
from tracegraph.distributions.lkj import LKJ, LKJCorrCholesky  # noqa: E402
from tracegraph.distributions.log_normal_negative_binomial import (  # noqa: E402
    LogNormalNegativeBinomial,
)
from tracegraph.distributions.logistic import Logistic, SkewLogistic  # noqa: E402
from tracegraph.distributions.masked_mixture import MaskedMixture  # noqa: E402
from tracegraph.distributions.multivariate_studentt import MultivariateStudentT  # noqa: E402
from tracegraph.distributions.nan_masked import (  # noqa: E402
    NanMaskedMultivariateNormal,
    NanMaskedNormal,
)
from tracegraph.distributions.ordered_logistic import OrderedLogistic  # noqa: E402
from tracegraph.distributions.polya_gamma import TruncatedPolyaGamma  # noqa: E402
from tracegraph.distributions.projected_normal import ProjectedNormal, VonMises3D  # noqa: E402
from tracegraph.distributions.rejector import Rejector  # noqa: E402
from tracegraph.distributions.relaxed_straight_through import (  # noqa: E402
    RelaxedBernoulliStraightThrough,
    RelaxedOneHotCategoricalStraightThrough,
)
from tracegraph.distributions.sine_bivariate_von_mises import SineBivariateVonMises  # noqa: E402
from tracegraph.distributions.sine_skewed import SineSkewed  # noqa: E402
from tracegraph.distributions.stable import Stable, StableWithLogProb  # noqa: E402
from tracegraph.distributions.zero_inflated import (  # noqa: E402
    ZeroInflatedDistribution,
    ZeroInflatedNegativeBinomial,
    ZeroInflatedPoisson,
)

__all__ += [
    "AffineBeta",
    "AsymmetricLaplace",
    "BetaBinomial",
    "DirichletMultinomial",
    "ExtendedBetaBinomial",
    "ExtendedBinomial",
    "FoldedDistribution",
    "GammaPoisson",
    "GroupedNormalNormal",
    "ImproperUniform",
    "LKJ",
    "LKJCorrCholesky",
    "LogNormalNegativeBinomial",
    "Logistic",
    "MaskedMixture",
    "MixtureOfDiagNormals",
    "MixtureOfDiagNormalsSharedCovariance",
    "MultivariateStudentT",
    "NanMaskedMultivariateNormal",
    "NanMaskedNormal",
    "OrderedLogistic",
    "ProjectedNormal",
    "Rejector",
    "RelaxedBernoulliStraightThrough",
    "RelaxedOneHotCategoricalStraightThrough",
    "SineBivariateVonMises",
    "SineSkewed",
    "SkewLogistic",
    "SoftAsymmetricLaplace",
    "SoftLaplace",
    "Stable",
    "StableWithLogProb",
    "TruncatedPolyaGamma",
    "VonMises3D",
    "ZeroInflatedDistribution",
    "ZeroInflatedNegativeBinomial",
    "ZeroInflatedPoisson",
]

# As after ``import pyro.distributions``: the testing helpers are reachable as
# attributes (``dist.testing.fakes.NonreparameterizedNormal``).
from tracegraph.distributions import testing as testing  # noqa: E402
