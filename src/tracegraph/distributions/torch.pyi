"""Type-checker view of :mod:`tracegraph.distributions.torch`, whose classes are generated.

``tests/distributions/test_torch.py`` checks that this stub and the generated module
define the same names.
"""

import torch

from tracegraph.distributions.independent import Independent as Independent
from tracegraph.distributions.mixin import TorchDistributionMixin
from tracegraph.distributions.torch_overrides import Beta as Beta
from tracegraph.distributions.torch_overrides import Binomial as Binomial
from tracegraph.distributions.torch_overrides import Dirichlet as Dirichlet
from tracegraph.distributions.torch_overrides import Gamma as Gamma
from tracegraph.distributions.torch_overrides import Geometric as Geometric
from tracegraph.distributions.torch_overrides import LogNormal as LogNormal
from tracegraph.distributions.torch_overrides import (
    LowRankMultivariateNormal as LowRankMultivariateNormal,
)
from tracegraph.distributions.torch_overrides import Multinomial as Multinomial
from tracegraph.distributions.torch_overrides import MultivariateNormal as MultivariateNormal
from tracegraph.distributions.torch_overrides import OneHotCategorical as OneHotCategorical
from tracegraph.distributions.torch_overrides import Poisson as Poisson
from tracegraph.distributions.torch_overrides import Uniform as Uniform

Distribution = torch.distributions.Distribution
biject_to = torch.distributions.biject_to
kl_divergence = torch.distributions.kl_divergence
register_kl = torch.distributions.register_kl
transform_to = torch.distributions.transform_to
AbsTransform = torch.distributions.AbsTransform
AffineTransform = torch.distributions.AffineTransform
CatTransform = torch.distributions.CatTransform
ComposeTransform = torch.distributions.ComposeTransform
CorrCholeskyTransform = torch.distributions.CorrCholeskyTransform
CumulativeDistributionTransform = torch.distributions.CumulativeDistributionTransform
ExpTransform = torch.distributions.ExpTransform
IndependentTransform = torch.distributions.IndependentTransform
LowerCholeskyTransform = torch.distributions.LowerCholeskyTransform
PositiveDefiniteTransform = torch.distributions.PositiveDefiniteTransform
PowerTransform = torch.distributions.PowerTransform
ReshapeTransform = torch.distributions.ReshapeTransform
SigmoidTransform = torch.distributions.SigmoidTransform
SoftplusTransform = torch.distributions.SoftplusTransform
TanhTransform = torch.distributions.TanhTransform
SoftmaxTransform = torch.distributions.SoftmaxTransform
StackTransform = torch.distributions.StackTransform
StickBreakingTransform = torch.distributions.StickBreakingTransform
Transform = torch.distributions.Transform
identity_transform = torch.distributions.identity_transform

class ExponentialFamily(TorchDistributionMixin, torch.distributions.ExponentialFamily): ...
class Bernoulli(TorchDistributionMixin, torch.distributions.Bernoulli): ...
class Categorical(TorchDistributionMixin, torch.distributions.Categorical): ...
class Cauchy(TorchDistributionMixin, torch.distributions.Cauchy): ...
class Chi2(TorchDistributionMixin, torch.distributions.Chi2): ...
class ContinuousBernoulli(TorchDistributionMixin, torch.distributions.ContinuousBernoulli): ...
class Exponential(TorchDistributionMixin, torch.distributions.Exponential): ...
class FisherSnedecor(TorchDistributionMixin, torch.distributions.FisherSnedecor): ...
class GeneralizedPareto(TorchDistributionMixin, torch.distributions.GeneralizedPareto): ...
class Gumbel(TorchDistributionMixin, torch.distributions.Gumbel): ...
class HalfCauchy(TorchDistributionMixin, torch.distributions.HalfCauchy): ...
class HalfNormal(TorchDistributionMixin, torch.distributions.HalfNormal): ...
class InverseGamma(TorchDistributionMixin, torch.distributions.InverseGamma): ...
class Kumaraswamy(TorchDistributionMixin, torch.distributions.Kumaraswamy): ...
class LKJCholesky(TorchDistributionMixin, torch.distributions.LKJCholesky): ...
class Laplace(TorchDistributionMixin, torch.distributions.Laplace): ...
class LogisticNormal(TorchDistributionMixin, torch.distributions.LogisticNormal): ...
class MixtureSameFamily(TorchDistributionMixin, torch.distributions.MixtureSameFamily): ...
class NegativeBinomial(TorchDistributionMixin, torch.distributions.NegativeBinomial): ...
class Normal(TorchDistributionMixin, torch.distributions.Normal): ...
class OneHotCategoricalStraightThrough(
    TorchDistributionMixin, torch.distributions.OneHotCategoricalStraightThrough
): ...
class Pareto(TorchDistributionMixin, torch.distributions.Pareto): ...
class RelaxedBernoulli(TorchDistributionMixin, torch.distributions.RelaxedBernoulli): ...
class RelaxedOneHotCategorical(
    TorchDistributionMixin, torch.distributions.RelaxedOneHotCategorical
): ...
class StudentT(TorchDistributionMixin, torch.distributions.StudentT): ...
class VonMises(TorchDistributionMixin, torch.distributions.VonMises): ...
class Weibull(TorchDistributionMixin, torch.distributions.Weibull): ...
class Wishart(TorchDistributionMixin, torch.distributions.Wishart): ...  # type: ignore[misc]
class TransformedDistribution(
    TorchDistributionMixin, torch.distributions.TransformedDistribution
): ...

def as_tracegraph_distribution(fn: torch.distributions.Distribution) -> TorchDistributionMixin: ...

__all__ = [
    "Bernoulli",
    "Beta",
    "Binomial",
    "Categorical",
    "Cauchy",
    "Chi2",
    "ContinuousBernoulli",
    "Dirichlet",
    "Distribution",
    "Exponential",
    "ExponentialFamily",
    "FisherSnedecor",
    "Gamma",
    "GeneralizedPareto",
    "Geometric",
    "Gumbel",
    "HalfCauchy",
    "HalfNormal",
    "Independent",
    "InverseGamma",
    "Kumaraswamy",
    "LKJCholesky",
    "Laplace",
    "LogNormal",
    "LogisticNormal",
    "LowRankMultivariateNormal",
    "MixtureSameFamily",
    "Multinomial",
    "MultivariateNormal",
    "NegativeBinomial",
    "Normal",
    "OneHotCategorical",
    "OneHotCategoricalStraightThrough",
    "Pareto",
    "RelaxedBernoulli",
    "RelaxedOneHotCategorical",
    "StudentT",
    "Poisson",
    "Uniform",
    "VonMises",
    "Weibull",
    "Wishart",
    "TransformedDistribution",
    "biject_to",
    "kl_divergence",
    "register_kl",
    "transform_to",
    "AbsTransform",
    "AffineTransform",
    "CatTransform",
    "ComposeTransform",
    "CorrCholeskyTransform",
    "CumulativeDistributionTransform",
    "ExpTransform",
    "IndependentTransform",
    "LowerCholeskyTransform",
    "PositiveDefiniteTransform",
    "PowerTransform",
    "ReshapeTransform",
    "SigmoidTransform",
    "SoftplusTransform",
    "TanhTransform",
    "SoftmaxTransform",
    "StackTransform",
    "StickBreakingTransform",
    "Transform",
    "identity_transform",
]
