"""Orthonormal spectral transforms along one dim: the DCT-II and the Haar wavelet
transform.  Both are rotations, so their Jacobian determinant is 1.

>>> import torch
>>> x = torch.randn(5)
>>> torch.allclose(idct(dct(x)), x, atol=1e-6)
True
>>> torch.allclose(inverse_haar_transform(haar_transform(x)), x, atol=1e-6)
True
"""

from __future__ import annotations

import math

import torch
from torch.distributions import constraints
from torch.distributions.transforms import Transform

__all__ = [
    "DiscreteCosineTransform",
    "HaarTransform",
    "dct",
    "haar_transform",
    "idct",
    "inverse_haar_transform",
]


def _twiddle(n: int, x: torch.Tensor) -> torch.Tensor:
    # exp(-i pi k / (2n)) scaled so that the DCT is orthonormal.
    k = torch.arange(n, dtype=x.dtype, device=x.device)
    scale = torch.full((n,), math.sqrt(2.0 / n), dtype=x.dtype, device=x.device)
    scale[0] = math.sqrt(1.0 / n)
    return torch.polar(scale, -math.pi * k / (2 * n))


def dct(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """The orthonormal DCT-II of ``x`` along ``dim`` (``scipy.fft.dct(norm="ortho")``).

    Computed with one FFT of the even entries followed by the reversed odd ones.

    >>> import torch
    >>> dct(torch.ones(4))
    tensor([2., 0., 0., 0.])
    """
    if dim != -1:
        return dct(x.transpose(dim, -1)).transpose(dim, -1)
    n = x.size(-1)
    reordered = torch.cat([x[..., ::2], x[..., 1::2].flip(-1)], dim=-1)
    spectrum = torch.fft.fft(reordered, dim=-1)
    return (spectrum * _twiddle(n, x)).real


def idct(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """The inverse of :func:`dct` (the orthonormal DCT-III) along ``dim``.

    >>> import torch
    >>> idct(torch.tensor([2.0, 0.0, 0.0, 0.0]))
    tensor([1., 1., 1., 1.])
    """
    if dim != -1:
        return idct(x.transpose(dim, -1)).transpose(dim, -1)
    n = x.size(-1)
    full = _full_spectrum(x, n)
    reordered = torch.fft.ifft(full, dim=-1).real
    out = torch.empty_like(x)
    half = (n + 1) // 2
    out[..., ::2] = reordered[..., :half]
    out[..., 1::2] = reordered[..., half:].flip(-1)
    return out


def _full_spectrum(x: torch.Tensor, n: int) -> torch.Tensor:
    # The FFT V_k of the reordered sequence is w_k^-1 (X_k - i X_(n-k)), with
    # X the DCT, X_n = 0 and w_k the twiddle factor (for a real sequence,
    # V_(n-k) = conj(V_k) ties the real part at n - k to the imaginary at k).
    twiddle = _twiddle(n, x)
    shifted = torch.cat([torch.zeros_like(x[..., :1]), x[..., 1:].flip(-1)], dim=-1)
    return (x - 1j * shifted) / twiddle


def haar_transform(x: torch.Tensor) -> torch.Tensor:
    """The orthonormal Haar transform along the last dim.

    Pairs are replaced by their scaled sums (recursed on) and differences.
    A length that is not a power of two gives a block-structured transform: at
    each level an odd last entry is carried along unchanged, at the end.

    >>> import torch
    >>> haar_transform(torch.tensor([1.0, 2.0, 3.0, 4.0]))
    tensor([ 5.0000, -2.0000, -0.7071, -0.7071])
    """
    n = x.size(-1)
    if n < 2:
        return x
    m = n // 2
    even, odd = x[..., 0 : 2 * m : 2], x[..., 1 : 2 * m : 2]
    coarse = (even + odd) * math.sqrt(0.5)
    detail = (even - odd) * math.sqrt(0.5)
    return torch.cat([haar_transform(coarse), detail, x[..., 2 * m :]], dim=-1)


def inverse_haar_transform(x: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`haar_transform` along the last dim.

    >>> import torch
    >>> inverse_haar_transform(torch.tensor([5.0, -2.0, -0.70710678, -0.70710678]))
    tensor([1.0000, 2.0000, 3.0000, 4.0000])
    """
    n = x.size(-1)
    if n < 2:
        return x
    m = n // 2
    coarse = inverse_haar_transform(x[..., :m])
    detail = x[..., m : 2 * m]
    even = (coarse + detail) * math.sqrt(0.5)
    odd = (coarse - detail) * math.sqrt(0.5)
    paired = torch.stack([even, odd], dim=-1).reshape(x.shape[:-1] + (2 * m,))
    return torch.cat([paired, x[..., 2 * m :]], dim=-1)


class _SpectralTransform(Transform):
    bijective = True

    def __init__(self, dim: int = -1, cache_size: int = 0) -> None:
        if not (isinstance(dim, int) and dim < 0):
            raise AssertionError(
                f"{type(self).__name__}: dim must be a negative int (counted from the "
                f"right), got {dim!r}"
            )
        self._ndims = -dim
        super().__init__(cache_size=cache_size)

    @constraints.dependent_property(is_discrete=False)
    def domain(self) -> constraints.Constraint:
        return constraints.independent(constraints.real, self._ndims)

    @constraints.dependent_property(is_discrete=False)
    def codomain(self) -> constraints.Constraint:
        return constraints.independent(constraints.real, self._ndims)

    def _moved(self, x: torch.Tensor) -> torch.Tensor:
        return x if self._ndims == 1 else x.transpose(-self._ndims, -1)

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x.new_zeros(x.shape[: x.dim() - self._ndims])

    def forward_shape(self, shape: torch.Size | tuple[int, ...]) -> torch.Size:
        if len(shape) < self._ndims:
            raise ValueError("Too few dimensions in input")
        return torch.Size(shape)

    def inverse_shape(self, shape: torch.Size | tuple[int, ...]) -> torch.Size:
        if len(shape) < self._ndims:
            raise ValueError("Too few dimensions in input")
        return torch.Size(shape)


class DiscreteCosineTransform(_SpectralTransform):
    """The orthonormal DCT-II along ``dim``, with optional smoothing.

    The output frequencies are multiplied by weights ``(k + 1/2) ** smooth``
    normalised to a geometric mean of 1 (so the Jacobian stays 1): ``smooth = 0``
    maps white noise to white noise, ``1`` Brownian noise to white noise, ``-1``
    violet noise to white noise.

    :param dim: the (negative) dim to transform; the event has ``-dim`` dims.
    :param smooth: the smoothing exponent (any real).
    :param cache_size: as for every torch transform.
    :raises AssertionError: for a ``dim`` that is not negative (as in Pyro).

    >>> import torch
    >>> DiscreteCosineTransform()(torch.ones(4))
    tensor([2., 0., 0., 0.])
    """

    def __init__(self, dim: int = -1, smooth: float = 0.0, cache_size: int = 0) -> None:
        self.smooth = float(smooth)
        super().__init__(dim, cache_size)

    def __hash__(self) -> int:
        return hash((type(self), self._ndims, self.smooth))

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is type(self)
            and self._ndims == other._ndims  # type: ignore[attr-defined]
            and self.smooth == other.smooth  # type: ignore[attr-defined]
        )

    def _weight(self, y: torch.Tensor) -> torch.Tensor:
        n = y.size(-self._ndims)
        log_freq = torch.arange(0.5, n, dtype=y.dtype, device=y.device).log()
        weight = (self.smooth * (log_freq - log_freq.mean())).exp()
        return weight.reshape((n,) + (1,) * (self._ndims - 1))

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        y = self._moved(dct(self._moved(x)))
        if self.smooth:
            y = y * self._weight(y)
        return y

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        if self.smooth:
            y = y / self._weight(y)
        return self._moved(idct(self._moved(y)))

    def with_cache(self, cache_size: int = 1) -> DiscreteCosineTransform:
        if self._cache_size == cache_size:
            return self
        return DiscreteCosineTransform(-self._ndims, self.smooth, cache_size=cache_size)


class HaarTransform(_SpectralTransform):
    """The orthonormal Haar transform along ``dim`` (see :func:`haar_transform`).

    :param dim: the (negative) dim to transform; the event has ``-dim`` dims.
    :param flip: reverse the time axis first.
    :param cache_size: as for every torch transform.
    :raises AssertionError: for a ``dim`` that is not negative (as in Pyro).

    >>> import torch
    >>> HaarTransform()(torch.tensor([1.0, 1.0]))
    tensor([1.4142, 0.0000])
    """

    def __init__(self, dim: int = -1, flip: bool = False, cache_size: int = 0) -> None:
        self.flip = flip
        super().__init__(dim, cache_size)

    def __hash__(self) -> int:
        return hash((type(self), self._ndims, self.flip))

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is type(self)
            and self._ndims == other._ndims  # type: ignore[attr-defined]
            and self.flip == other.flip  # type: ignore[attr-defined]
        )

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        x = self._moved(x)
        if self.flip:
            x = x.flip(-1)
        return self._moved(haar_transform(x))

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        x = inverse_haar_transform(self._moved(y))
        if self.flip:
            x = x.flip(-1)
        return self._moved(x)

    def with_cache(self, cache_size: int = 1) -> HaarTransform:
        if self._cache_size == cache_size:
            return self
        return HaarTransform(-self._ndims, self.flip, cache_size=cache_size)
