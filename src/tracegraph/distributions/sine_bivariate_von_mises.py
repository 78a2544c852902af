"""``SineBivariateVonMises``: two dependent angles on the torus (the "sine model").

The density is ``exp(k1 cos(x1 - m1) + k2 cos(x2 - m2) + rho sin(x1 - m1)
sin(x2 - m2)) / C`` with ``C = (2 pi)**2 sum_i binom(2i, i) (rho**2 / (4 k1 k2))**i
I_i(k1) I_i(k2)`` (Singh, Hnizdo & Demchuk 2002; Mardia, Taylor & Subramaniam
2007).  The Bessel functions come from a backward (Miller) recurrence of their
ratios, in float64, with as many series terms as the parameters need.

>>> import torch
>>> d = SineBivariateVonMises(torch.tensor(0.0), torch.tensor(0.0), torch.tensor(2.0),
...                           torch.tensor(3.0), correlation=torch.tensor(1.0))
>>> d.norm_const
tensor(6.1325)
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch
from torch.distributions import VonMises, constraints
from torch.distributions.utils import broadcast_all, lazy_property

from tracegraph.distributions.argument_errors import ArgumentAssertionError
from tracegraph.distributions.expansion import finish_expand
from tracegraph.distributions.torch_distribution import Shape, TorchDistribution
from tracegraph.errors import SiteError, TracegraphWarning

__all__ = ["SineBivariateVonMises", "log_bessel_i_orders", "wrap_angle"]

Param = torch.Tensor | float


def wrap_angle(x: torch.Tensor) -> torch.Tensor:
    """Map angles to ``[-pi, pi)``.

    >>> wrap_angle(torch.tensor([4.0, -4.0]))
    tensor([-2.2832,  2.2832])
    """
    return torch.remainder(x + math.pi, 2 * math.pi) - math.pi


def log_bessel_i_orders(x: torch.Tensor, num_orders: int) -> torch.Tensor:
    """``log I_n(x)`` for ``n = 0 .. num_orders - 1`` in a new rightmost dim.

    The ratios ``I_n / I_{n-1} = 1 / (2n/x + I_{n+1} / I_n)`` are run backwards
    from an order ``M`` far enough out that the truncation error,
    about ``exp(-(M**2 - n**2) / x)``, is below float64 rounding.

    :param x: positive arguments (computed in float64, returned in ``x``'s dtype).
    :param num_orders: how many orders, from 0.
    :returns: a tensor of shape ``x.shape + (num_orders,)``.

    >>> log_bessel_i_orders(torch.tensor(1.0, dtype=torch.float64), 3).exp()
    tensor([1.2661, 0.5652, 0.1357], dtype=torch.float64)
    """
    xd = x.double().clamp(min=torch.finfo(torch.float64).tiny)
    x_max = float(xd.max()) if xd.numel() else 1.0
    start = int(math.sqrt(num_orders**2 + 40 * x_max)) + 20
    ratio = torch.zeros_like(xd)
    log_ratios = []
    for n in range(start, 0, -1):
        ratio = 1 / (2 * n / xd + ratio)
        if n < num_orders:
            log_ratios.append(ratio.log())
    log_i0 = torch.log(torch.special.i0e(xd)) + xd
    if num_orders == 1:
        return log_i0.unsqueeze(-1).to(x.dtype)
    ascending = torch.stack(log_ratios[::-1], dim=-1)  # log(I_n / I_{n-1}), n = 1 .. N-1
    orders = torch.cat([log_i0.unsqueeze(-1), log_i0.unsqueeze(-1) + ascending.cumsum(-1)], -1)
    return orders.to(x.dtype)


def _num_series_terms(k1: torch.Tensor, k2: torch.Tensor, rho: torch.Tensor) -> int:
    # Term i behaves like exp(i log r - i**2 / (2 kh)), r = rho**2 / (k1 k2),
    # 1 / kh = 1 / k1 + 1 / k2: it peaks at i = kh log r (when r > 1) and has
    # fallen below exp(-40) of the peak sqrt(80 kh) orders later.
    kh = (k1 * k2 / (k1 + k2)).double()
    log_r = torch.log((rho.double().pow(2) / (k1 * k2).double()).clamp(min=1e-300))
    needed = kh * log_r.clamp(min=0) + torch.sqrt(80 * kh) + 10
    return int(needed.max().ceil()) if needed.numel() else 10


class SineBivariateVonMises(TorchDistribution):
    """A unimodal (for ``rho**2 < k1 k2``) distribution of two angles on the torus.

    Give exactly one of ``correlation`` (``rho``) and ``weighted_correlation``
    (``rho / sqrt(k1 k2)``, which keeps the distribution unimodal when in
    ``[-1, 1]``).  Values are ``(phi, psi)`` pairs in the rightmost dim.

    :param phi_loc: the location of the first angle.
    :param psi_loc: the location of the second angle.
    :param phi_concentration: the concentration ``k1`` of the first, positive.
    :param psi_concentration: the concentration ``k2`` of the second, positive.
    :param correlation: ``rho``.
    :param weighted_correlation: ``rho / sqrt(k1 k2)``.
    :param validate_args: torch's per-instance validation switch.
    :raises ArgumentAssertionError: unless exactly one correlation argument is given.

    A ``TracegraphWarning`` says so when ``rho**2 > k1 k2`` (bimodal; sampling
    gets slow).

    >>> d = SineBivariateVonMises(0.0, 0.0, 2.0, 3.0, weighted_correlation=0.5)
    >>> d.correlation, d.sample((4,)).shape
    (tensor(1.2247), torch.Size([4, 2]))
    """

    arg_constraints = {
        "phi_loc": constraints.real,
        "psi_loc": constraints.real,
        "phi_concentration": constraints.positive,
        "psi_concentration": constraints.positive,
        "correlation": constraints.real,
    }
    support = constraints.independent(constraints.real, 1)
    max_sample_iter = 1000

    def __init__(
        self,
        phi_loc: Param,
        psi_loc: Param,
        phi_concentration: Param,
        psi_concentration: Param,
        correlation: Param | None = None,
        weighted_correlation: Param | None = None,
        validate_args: bool | None = None,
    ):
        if (correlation is None) == (weighted_correlation is None):
            raise ArgumentAssertionError(
                "give exactly one of correlation and weighted_correlation; got "
                f"correlation={correlation!r}, weighted_correlation={weighted_correlation!r}"
            )
        if weighted_correlation is not None:
            k1, k2, w = broadcast_all(phi_concentration, psi_concentration, weighted_correlation)
            correlation = w * (k1 * k2).sqrt()
        assert correlation is not None
        (
            self.phi_loc,
            self.psi_loc,
            self.phi_concentration,
            self.psi_concentration,
            self.correlation,
        ) = broadcast_all(phi_loc, psi_loc, phi_concentration, psi_concentration, correlation)
        product = self.phi_concentration * self.psi_concentration
        if (self.correlation.pow(2) > product).any():
            warnings.warn(
                "SineBivariateVonMises bimodal due to concentration-correlation relation, "
                "sampling will likely fail.",
                TracegraphWarning,
                stacklevel=2,
            )
        super().__init__(self.phi_loc.shape, (2,), validate_args=validate_args)

    @classmethod
    def infer_shapes(cls, **arg_shapes: tuple[int, ...]) -> tuple[torch.Size, torch.Size]:
        """``(batch_shape, event_shape)`` from the parameters' shapes.

        >>> SineBivariateVonMises.infer_shapes(phi_loc=(2,), psi_loc=(), phi_concentration=(3, 1),
        ...                                    psi_concentration=(), correlation=())
        (torch.Size([3, 2]), torch.Size([2]))
        """
        return torch.broadcast_shapes(*arg_shapes.values()), torch.Size([2])

    @lazy_property
    def norm_const(self) -> torch.Tensor:
        """``log C``, the log-normalizer (see the module docstring)."""
        k1, k2, rho = self.phi_concentration, self.psi_concentration, self.correlation
        num_terms = _num_series_terms(k1, k2, rho)
        i = torch.arange(num_terms, dtype=torch.float64, device=k1.device)
        log_ratio = torch.log(rho.double().pow(2) / (4 * k1.double() * k2.double()))
        # i * log(ratio) with 0 * log(0) = 0 (rho = 0 leaves only the first term).
        powers = torch.where(i == 0, i, i * log_ratio.unsqueeze(-1))
        terms = (
            self._lbinoms(num_terms)
            + powers
            + log_bessel_i_orders(k1.double(), num_terms)
            + log_bessel_i_orders(k2.double(), num_terms)
        )
        result = 2 * math.log(2 * math.pi) + torch.logsumexp(terms, dim=-1)
        return result.to(k1.dtype)

    @staticmethod
    def _lbinoms(n: int) -> torch.Tensor:
        # log binom(2i, i) for i = 0 .. n - 1, in float64.
        i = torch.arange(n, dtype=torch.float64)
        return torch.lgamma(2 * i + 1) - 2 * torch.lgamma(i + 1)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """The sine-model log-density of ``(phi, psi)`` pairs.

        >>> d = SineBivariateVonMises(0.5, -1.0, 2.0, 3.0, correlation=1.0)
        >>> d.log_prob(torch.tensor([0.3, -0.8]))
        tensor(-1.2716)
        """
        if self._validate_args:
            self._validate_sample(value)
        phi = value[..., 0] - self.phi_loc
        psi = value[..., 1] - self.psi_loc
        energy = (
            self.phi_concentration * phi.cos()
            + self.psi_concentration * psi.cos()
            + self.correlation * phi.sin() * psi.sin()
        )
        return energy - self.norm_const

    @property
    def mean(self) -> torch.Tensor:
        """``(phi_loc, psi_loc)`` (the mode, for the unimodal case)."""
        return torch.stack([self.phi_loc, self.psi_loc], dim=-1)

    def expand(self, batch_shape: Shape, _instance: Any = None) -> Any:
        """Broadcast the parameters to ``batch_shape``.

        >>> SineBivariateVonMises(0.0, 0.0, 1.0, 1.0, 0.5).expand((3,)).batch_shape
        torch.Size([3])
        """
        batch_shape = torch.Size(batch_shape)
        new = self._get_checked_instance(SineBivariateVonMises, _instance)
        for name in ("phi_loc", "psi_loc", "phi_concentration", "psi_concentration", "correlation"):
            setattr(new, name, getattr(self, name).expand(batch_shape))
        if "norm_const" in self.__dict__:
            new.norm_const = self.norm_const.expand(batch_shape)
        return finish_expand(self, new, batch_shape)

    def sample(self, sample_shape: Shape = torch.Size()) -> torch.Tensor:
        """Exact draws: ``phi`` from its marginal by rejection, then ``psi | phi``.

        The marginal of ``d = phi - phi_loc`` is proportional to
        ``exp(k1 cos d) I_0(sqrt(k2**2 + rho**2 sin(d)**2))``; the proposal is a von
        Mises with concentration ``max(k1 - rho**2 / k2, 0)`` (the marginal's
        curvature at its centre), and the bound on the log ratio is the maximum of
        a function concave in ``cos d`` (found by golden-section search).  Given
        ``phi``, ``psi`` is von Mises with location ``psi_loc + atan2(rho sin d, k2)``
        and concentration ``sqrt(k2**2 + rho**2 sin(d)**2)``.  Angles are wrapped
        to ``[-pi, pi)``.

        :raises SiteError: if some draw is still rejected after ``max_sample_iter`` rounds.
        """
        shape = torch.Size(sample_shape) + self.batch_shape
        with torch.no_grad():
            k1, k2, rho = (
                t.double().expand(shape)
                for t in (self.phi_concentration, self.psi_concentration, self.correlation)
            )
            delta = self._sample_marginal_offset(k1, k2, rho)
            sin_delta = delta.sin()
            psi_conc = torch.sqrt(k2.pow(2) + rho.pow(2) * sin_delta.pow(2))
            psi_shift = torch.atan2(rho * sin_delta, k2)
            psi_offset = VonMises(psi_shift, psi_conc, validate_args=False).sample()
            dtype = self.phi_loc.dtype
            phi = wrap_angle(self.phi_loc + delta.to(dtype))
            psi = wrap_angle(self.psi_loc + psi_offset.to(dtype))
            return torch.stack([phi, psi], dim=-1)

    def _sample_marginal_offset(
        self, k1: torch.Tensor, k2: torch.Tensor, rho: torch.Tensor
    ) -> torch.Tensor:
        proposal_conc = (k1 - rho.pow(2) / k2).clamp(min=1e-6)

        def log_ratio(u: torch.Tensor) -> torch.Tensor:
            z = torch.sqrt(k2.pow(2) + rho.pow(2) * (1 - u.pow(2)).clamp(min=0))
            return (k1 - proposal_conc) * u + z + torch.log(torch.special.i0e(z))

        bound = _concave_max(log_ratio, k1) + 1e-9
        proposal = VonMises(torch.zeros_like(k1), proposal_conc, validate_args=False)
        result = torch.zeros_like(k1)
        done = torch.zeros_like(k1, dtype=torch.bool)
        for _ in range(self.max_sample_iter):
            delta = proposal.sample()
            accept = torch.rand_like(k1).log() < log_ratio(delta.cos()) - bound
            take = accept & ~done
            result = torch.where(take, delta, result)
            done = done | accept
            if bool(done.all()):
                return result
        raise SiteError(
            f"SineBivariateVonMises.sample: some draws were still rejected after "
            f"max_sample_iter={self.max_sample_iter} rounds; hint: the distribution is "
            "probably bimodal (correlation**2 > phi_concentration * psi_concentration)"
        )


def _concave_max(f: Any, like: torch.Tensor, iterations: int = 80) -> torch.Tensor:
    # Maximum over u in [-1, 1] of a function concave in u, by golden-section search.
    golden = (math.sqrt(5) - 1) / 2
    lo = torch.full_like(like, -1.0)
    hi = torch.full_like(like, 1.0)
    for _ in range(iterations):
        a = hi - golden * (hi - lo)
        b = lo + golden * (hi - lo)
        left_higher = f(a) > f(b)
        hi = torch.where(left_higher, b, hi)
        lo = torch.where(left_higher, lo, a)
    ends = torch.maximum(f(-torch.ones_like(like)), f(torch.ones_like(like)))
    return torch.maximum(torch.maximum(f(lo), f(hi)), ends)
