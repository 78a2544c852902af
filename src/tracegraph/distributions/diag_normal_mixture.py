"""Mixtures of diagonal-covariance Normals with reparameterized samples.

A draw picks a component, then a Normal vector, as usual; what is new is its
gradient.  Every parameter (means, scales *and* mixture logits) gets a pathwise
derivative by implicit reparameterization (Figurnov, Mohamed & Mnih 2018,
"Implicit Reparameterization Gradients"): the standardizing map of a
D-dimensional mixture is its Rosenblatt transform, the vector of conditional
CDFs ``G_d(z) = P(Z_d <= z_d | z_1 .. z_{d-1})``, each a closed-form mixture of
Normal CDFs.  Holding ``G(z, theta)`` fixed gives
``dz/dtheta = -(dG/dz)^{-1} dG/dtheta`` with a lower-triangular ``dG/dz``.
The estimator is unbiased for every D (Pyro's own pathwise estimator,
Jankowiak & Karaletsos 2018, excludes D = 1; this one does not), but its
per-draw values differ from Pyro's.

>>> import torch
>>> d = MixtureOfDiagNormals(torch.zeros(2, 3), torch.ones(2, 3), torch.zeros(2))
>>> d.batch_shape, d.event_shape
(torch.Size([]), torch.Size([3]))
"""

from __future__ import annotations

from typing import Any

import torch
from torch.distributions import Categorical, constraints

from tracegraph.distributions.argument_errors import ShapeAssertionError
from tracegraph.distributions.expansion import finish_expand
from tracegraph.distributions.torch_distribution import Shape, TorchDistribution

__all__ = ["MixtureOfDiagNormals", "MixtureOfDiagNormalsSharedCovariance"]

_HALF_LOG_TWO_PI = 0.9189385332046727


def _component_log_densities(
    z: torch.Tensor, locs: torch.Tensor, scales: torch.Tensor
) -> torch.Tensor:
    # log N(z_d; mu_kd, sigma_kd) per component and coordinate: shape (..., K, D).
    u = (z.unsqueeze(-2) - locs) / scales
    return -0.5 * u.pow(2) - scales.log() - _HALF_LOG_TWO_PI


def _implicit_rsample(
    z: torch.Tensor, locs: torch.Tensor, scales: torch.Tensor, logits: torch.Tensor
) -> torch.Tensor:
    """Return ``z`` unchanged in value, with the implicit pathwise gradient."""
    z = z.detach()
    log_n = _component_log_densities(z, locs, scales)  # (..., K, D)
    # Weight of component k in the conditional law of coordinate d given z_<d.
    before = log_n.cumsum(-1) - log_n
    log_w = torch.log_softmax(logits.unsqueeze(-1) + before, dim=-2)
    w = log_w.exp()
    u = (z.unsqueeze(-2) - locs) / scales
    cdf = torch.special.ndtr(u)
    conditional_cdf = (w * cdf).sum(-2)  # G(z, theta): (..., D)
    with torch.no_grad():
        jacobian = _rosenblatt_jacobian(z, locs, scales, w, u, cdf)
    # Value: z - J^{-1} (G - G) = z exactly; gradient: -J^{-1} dG/dtheta.
    moved = (conditional_cdf - conditional_cdf.detach()).unsqueeze(-1)
    shift = torch.linalg.solve_triangular(jacobian, moved, upper=False).squeeze(-1)
    return z - shift


def _rosenblatt_jacobian(
    z: torch.Tensor,
    locs: torch.Tensor,
    scales: torch.Tensor,
    w: torch.Tensor,
    u: torch.Tensor,
    cdf: torch.Tensor,
) -> torch.Tensor:
    # dG_d/dz_d is the conditional density; dG_d/dz_j (j < d) moves the weights:
    # d log w_kd / dz_j = s_kj - sum_m w_md s_mj, with s_kj = -(z_j - mu_kj) / sigma_kj**2.
    density = torch.exp(-0.5 * u.pow(2) - _HALF_LOG_TWO_PI) / scales  # (..., K, D)
    diagonal = (w * density).sum(-2)
    score = -u / scales  # s_kj: (..., K, D)
    mean_score = torch.einsum("...kd,...kj->...dj", w, score)  # (..., D_d, D_j)
    centred = score.unsqueeze(-2) - mean_score.unsqueeze(-3)  # (..., K, D_d, D_j)
    off = ((w * cdf).unsqueeze(-1) * centred).sum(-3)  # (..., D_d, D_j)
    dim = z.size(-1)
    strictly_lower = torch.ones(dim, dim, dtype=torch.bool, device=z.device).tril(-1)
    jacobian = torch.where(strictly_lower, off, off.new_zeros(()))
    tiny = torch.finfo(z.dtype).tiny
    return jacobian + torch.diag_embed(diagonal.clamp(min=tiny))


class MixtureOfDiagNormals(TorchDistribution):
    """A mixture of K Normals in D dimensions, each with its own means and
    diagonal scales, weighted by ``softmax(component_logits)``.

    :param locs: the component means, shape ``batch_shape + (K, D)``.
    :param coord_scale: the component scales, positive, shape ``batch_shape + (K, D)``.
    :param component_logits: the mixture logits, shape ``batch_shape + (K,)``.
    :raises ShapeAssertionError: if the shapes do not fit together.

    >>> d = MixtureOfDiagNormals(torch.tensor([[0.0, 0.0], [3.0, 3.0]]), torch.ones(2, 2),
    ...                          torch.zeros(2))
    >>> d.log_prob(torch.zeros(2))
    tensor(-2.5309)
    """

    arg_constraints = {
        "locs": constraints.real,
        "coord_scale": constraints.positive,
        "component_logits": constraints.real,
    }
    support = constraints.independent(constraints.real, 1)

    def __init__(
        self,
        locs: torch.Tensor,
        coord_scale: torch.Tensor,
        component_logits: torch.Tensor,
    ):
        self._check_shapes(locs, coord_scale, component_logits)
        self.batch_mode = locs.dim() > 2
        self.locs = locs
        self.coord_scale = coord_scale
        self.component_logits = component_logits
        self.dim = locs.size(-1)
        self.categorical = Categorical(logits=component_logits, validate_args=False)
        self.probs = self.categorical.probs
        super().__init__(locs.shape[:-2], locs.shape[-1:])

    def _check_shapes(
        self, locs: torch.Tensor, coord_scale: torch.Tensor, component_logits: torch.Tensor
    ) -> None:
        if locs.dim() < 2 or coord_scale.shape != locs.shape:
            raise ShapeAssertionError(
                f"{type(self).__name__} expects locs and coord_scale of one shape "
                f"batch_shape + (K, D); got {tuple(locs.shape)} and {tuple(coord_scale.shape)}"
            )
        if component_logits.shape != locs.shape[:-1]:
            raise ShapeAssertionError(
                f"{type(self).__name__} expects component_logits of shape batch_shape + (K,) = "
                f"{tuple(locs.shape[:-1])}; got {tuple(component_logits.shape)}"
            )

    def _native_has_rsample(self) -> bool:
        return True

    def _component_scales(self) -> torch.Tensor:
        return self.coord_scale

    def expand(self, batch_shape: Shape, _instance: Any = None) -> Any:
        """Broadcast the parameters to ``batch_shape``.

        >>> d = MixtureOfDiagNormals(torch.zeros(2, 3), torch.ones(2, 3), torch.zeros(2))
        >>> d.expand((4,)).locs.shape
        torch.Size([4, 2, 3])
        """
        batch_shape = torch.Size(batch_shape)
        new = self._get_checked_instance(type(self), _instance)
        new.locs = self.locs.expand(batch_shape + self.locs.shape[-2:])
        scale_event = self.coord_scale.shape[len(self.batch_shape) :]
        new.coord_scale = self.coord_scale.expand(batch_shape + scale_event)
        new.component_logits = self.component_logits.expand(batch_shape + self.locs.shape[-2:-1])
        new.batch_mode = len(batch_shape) > 0
        new.dim = self.dim
        new.categorical = Categorical(logits=new.component_logits, validate_args=False)
        new.probs = new.categorical.probs
        return finish_expand(self, new, batch_shape)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """``logsumexp_k(log w_k + sum_d log N(value_d; locs_kd, scale_kd))``.

        >>> d = MixtureOfDiagNormals(torch.zeros(1, 2), torch.ones(1, 2), torch.zeros(1))
        >>> d.log_prob(torch.zeros(2))
        tensor(-1.8379)
        """
        if self._validate_args:
            self._validate_sample(value)
        log_n = _component_log_densities(value, self.locs, self._component_scales()).sum(-1)
        return torch.logsumexp(torch.log_softmax(self.component_logits, -1) + log_n, -1)

    def rsample(self, sample_shape: Shape = torch.Size()) -> torch.Tensor:
        """Pick a component per draw, draw its Normal vector, and attach the implicit
        pathwise gradient (see the module docstring).

        >>> locs = torch.zeros(2, 3, requires_grad=True)
        >>> d = MixtureOfDiagNormals(locs, torch.ones(2, 3), torch.zeros(2))
        >>> d.rsample((4,)).shape, d.rsample().requires_grad
        (torch.Size([4, 3]), True)
        """
        shape = torch.Size(sample_shape) + self.batch_shape
        locs = self.locs.expand(shape + self.locs.shape[-2:])
        scales = self._component_scales().expand(locs.shape)
        logits = self.component_logits.expand(shape + self.locs.shape[-2:-1])
        with torch.no_grad():
            which = Categorical(logits=logits, validate_args=False).sample()
            index = which[..., None, None].expand(shape + (1, self.dim))
            noise = torch.randn(shape + (self.dim,), dtype=locs.dtype, device=locs.device)
            z = locs.gather(-2, index).squeeze(-2) + scales.gather(-2, index).squeeze(-2) * noise
        return _implicit_rsample(z, locs, scales, logits)


class MixtureOfDiagNormalsSharedCovariance(MixtureOfDiagNormals):
    """A mixture of K Normals in D dimensions with their own means and one shared
    diagonal scale vector, weighted by ``softmax(component_logits)``.

    :param locs: the component means, shape ``batch_shape + (K, D)``.
    :param coord_scale: the shared scales, positive, shape ``batch_shape + (D,)``.
    :param component_logits: the mixture logits, shape ``batch_shape + (K,)``.
    :raises ShapeAssertionError: if the shapes do not fit together.

    >>> d = MixtureOfDiagNormalsSharedCovariance(torch.zeros(2, 3), torch.ones(3), torch.zeros(2))
    >>> d.log_prob(torch.zeros(3))
    tensor(-2.7568)
    """

    def _check_shapes(
        self, locs: torch.Tensor, coord_scale: torch.Tensor, component_logits: torch.Tensor
    ) -> None:
        if locs.dim() < 2 or coord_scale.shape != locs.shape[:-2] + locs.shape[-1:]:
            raise ShapeAssertionError(
                "MixtureOfDiagNormalsSharedCovariance expects locs of shape batch_shape + (K, D) "
                "and coord_scale of shape batch_shape + (D,); got "
                f"{tuple(locs.shape)} and {tuple(coord_scale.shape)}"
            )
        super()._check_shapes(locs, coord_scale.unsqueeze(-2).expand(locs.shape), component_logits)

    def _component_scales(self) -> torch.Tensor:
        return self.coord_scale.unsqueeze(-2)
