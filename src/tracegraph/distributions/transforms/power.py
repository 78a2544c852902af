"""``PositivePowerTransform``: a signed power with a positive exponent.

>>> import torch
>>> PositivePowerTransform(torch.tensor(2.0))(torch.tensor([-3.0, 2.0]))
tensor([-9.,  4.])
"""

from __future__ import annotations

from typing import Any

import torch
from torch.distributions import constraints
from torch.distributions.transforms import Transform

from tracegraph.distributions.validation import is_validation_enabled

__all__ = ["PositivePowerTransform"]


class PositivePowerTransform(Transform):
    """``y = sign(x) |x|^exponent`` with ``exponent > 0``, on the whole real line
    (unlike ``PowerTransform``, which needs positive values).  The Jacobian is
    typically 0 or infinite at the origin.

    :param exponent: a positive number or tensor (broadcasts with the values).
    :param cache_size: as for every torch transform.
    :param validate_args: check ``exponent > 0`` (default: the global switch).
    :raises ValueError: for a non-positive exponent while validating.

    >>> import torch
    >>> t = PositivePowerTransform(torch.tensor(3.0))
    >>> t.inv(torch.tensor(-8.0))
    tensor(-2.)
    """

    domain = constraints.real
    codomain = constraints.real
    bijective = True
    sign = +1

    def __init__(
        self, exponent: Any, *, cache_size: int = 0, validate_args: bool | None = None
    ) -> None:
        super().__init__(cache_size=cache_size)
        if isinstance(exponent, int):
            exponent = float(exponent)
        exponent = torch.as_tensor(exponent)
        self.exponent = exponent
        if validate_args is None:
            validate_args = is_validation_enabled()
        if validate_args and not exponent.gt(0).all():
            raise ValueError(f"Expected exponent > 0 but got:{exponent}")

    def with_cache(self, cache_size: int = 1) -> PositivePowerTransform:
        if self._cache_size == cache_size:
            return self
        return PositivePowerTransform(self.exponent, cache_size=cache_size)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PositivePowerTransform):
            return False
        return bool(self.exponent.eq(other.exponent).all().item())

    def __hash__(self) -> int:
        return hash(type(self))

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        return x.abs().pow(self.exponent) * x.sign()

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        return y.abs().pow(self.exponent.reciprocal()) * y.sign()

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.abs(self.exponent * y / x).log()

    def forward_shape(self, shape: torch.Size | tuple[int, ...]) -> torch.Size:
        return torch.Size(torch.broadcast_shapes(shape, getattr(self.exponent, "shape", ())))

    def inverse_shape(self, shape: torch.Size | tuple[int, ...]) -> torch.Size:
        return torch.Size(torch.broadcast_shapes(shape, getattr(self.exponent, "shape", ())))
