"""Transforms: every ``torch.distributions`` transform, plus Pyro's parameter-free ones.

Added to torch's: :class:`CholeskyTransform`, :class:`CorrLCholeskyTransform`,
:class:`CorrMatrixCholeskyTransform`, :class:`DiscreteCosineTransform`,
:class:`ELUTransform`, :class:`HaarTransform`, :class:`LeakyReLUTransform`,
:class:`LowerCholeskyAffine`, :class:`Normalize`, :class:`OrderedTransform`,
:class:`Permute`, :class:`PositivePowerTransform`,
:class:`SimplexToOrderedTransform`, :class:`SoftplusLowerCholeskyTransform`,
:class:`SoftplusTransform`, :class:`UnitLowerCholeskyTransform`, the helpers
:func:`elu`, :func:`leaky_relu`, :func:`permute`, :func:`iterated`, and the
``biject_to``/``transform_to`` registrations of Pyro's constraints
(:mod:`~tracegraph.distributions.transforms.registry`).  Pyro's learnable
normalizing flows (``AffineAutoregressive``, ``Spline``, ``Planar``, ...) need
``pyro.nn`` and are not here.

>>> import torch
>>> from tracegraph.distributions.transforms import OrderedTransform, ExpTransform
>>> isinstance(ExpTransform(), torch.distributions.transforms.Transform)
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch.distributions.transforms import (
    AbsTransform,
    AffineTransform,
    CatTransform,
    ComposeTransform,
    CorrCholeskyTransform,
    CumulativeDistributionTransform,
    ExpTransform,
    IndependentTransform,
    LowerCholeskyTransform,
    PositiveDefiniteTransform,
    PowerTransform,
    ReshapeTransform,
    SigmoidTransform,
    SoftmaxTransform,
    StackTransform,
    StickBreakingTransform,
    TanhTransform,
    Transform,
    identity_transform,
)

from tracegraph.distributions.transform_module import ComposeTransformModule, TransformModule
from tracegraph.distributions.transforms import registry as _registry
from tracegraph.distributions.transforms.affine import LowerCholeskyAffine
from tracegraph.distributions.transforms.basic import (
    ELUTransform,
    LeakyReLUTransform,
    elu,
    leaky_relu,
)
from tracegraph.distributions.transforms.cholesky import (
    CholeskyTransform,
    CorrLCholeskyTransform,
    CorrMatrixCholeskyTransform,
    UnitLowerCholeskyTransform,
)
from tracegraph.distributions.transforms.normalize import Normalize
from tracegraph.distributions.transforms.ordered import (
    OrderedTransform,
    SimplexToOrderedTransform,
)
from tracegraph.distributions.transforms.permute import Permute, permute
from tracegraph.distributions.transforms.power import PositivePowerTransform
from tracegraph.distributions.transforms.softplus import (
    SoftplusLowerCholeskyTransform,
    SoftplusTransform,
)
from tracegraph.distributions.transforms.spectral import DiscreteCosineTransform, HaarTransform

del _registry  # imported for its registrations


def iterated(repeats: int, base_fn: Callable[..., Transform], *args: Any, **kwargs: Any) -> Any:
    """Compose ``repeats`` transforms made by ``base_fn(*args, **kwargs)``.

    :param repeats: how many.
    :param base_fn: makes one transform.
    :returns: a :class:`~tracegraph.distributions.transform_module.ComposeTransformModule`
        (so that learnable parts register their parameters).

    >>> iterated(2, ELUTransform).parts
    [ELUTransform(), ELUTransform()]
    """
    return ComposeTransformModule([base_fn(*args, **kwargs) for _ in range(repeats)])


__all__ = [
    "AbsTransform",
    "AffineTransform",
    "CatTransform",
    "CholeskyTransform",
    "ComposeTransform",
    "ComposeTransformModule",
    "CorrCholeskyTransform",
    "CorrLCholeskyTransform",
    "CorrMatrixCholeskyTransform",
    "CumulativeDistributionTransform",
    "DiscreteCosineTransform",
    "ELUTransform",
    "ExpTransform",
    "HaarTransform",
    "IndependentTransform",
    "LeakyReLUTransform",
    "LowerCholeskyAffine",
    "LowerCholeskyTransform",
    "Normalize",
    "OrderedTransform",
    "Permute",
    "PositiveDefiniteTransform",
    "PositivePowerTransform",
    "PowerTransform",
    "ReshapeTransform",
    "SigmoidTransform",
    "SimplexToOrderedTransform",
    "SoftmaxTransform",
    "SoftplusLowerCholeskyTransform",
    "SoftplusTransform",
    "StackTransform",
    "StickBreakingTransform",
    "TanhTransform",
    "Transform",
    "TransformModule",
    "UnitLowerCholeskyTransform",
    "elu",
    "identity_transform",
    "iterated",
    "leaky_relu",
    "permute",
]
