"""``GroupedNormalNormal``: grouped Normal observations with each group's Normal
mean integrated out (a conjugate likelihood; Murphy 2007, "Conjugate Bayesian
analysis of the Gaussian distribution").

>>> import torch
>>> d = GroupedNormalNormal(torch.zeros(2), torch.ones(2), torch.ones(3), torch.tensor([0, 1, 1]))
>>> d.log_prob(torch.zeros(3))
tensor(-3.6527)
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.distributions import constraints

from tracegraph.distributions import torch as _torch_wrappers
from tracegraph.distributions.expansion import finish_expand
from tracegraph.distributions.torch_distribution import Shape, TorchDistribution
from tracegraph.errors import ShapeError, SiteError

__all__ = ["GroupedNormalNormal"]


class GroupedNormalNormal(TorchDistribution):
    """The marginal likelihood of data in groups: datum ``i`` is
    ``Normal(mu[g_i], obs_scale[i])`` with ``mu[g] ~ Normal(prior_loc[g], prior_scale[g])``.

    ``log_prob`` takes the whole data vector (the same shape as ``group_idx``)
    and returns one number, computed per group in closed form (matrix
    determinant lemma and Woodbury identity).  It has no sampler.

    :param prior_loc: the prior means, shape ``(num_groups,)``.
    :param prior_scale: the prior scales, positive, shape ``(num_groups,)``.
    :param obs_scale: the observation noise scales, positive; broadcasts to
        ``group_idx``'s shape.
    :param group_idx: a 1-dimensional integer tensor: the group of each datum.
    :param validate_args: torch's per-instance validation switch.
    :raises SiteError: if ``group_idx`` is not 1-dimensional integers in range, or
        the prior parameters do not broadcast to one 1-dimensional shape.

    >>> d = GroupedNormalNormal(torch.zeros(2), torch.ones(2), torch.tensor(0.5),
    ...                         torch.tensor([0, 0, 1]))
    >>> d.get_posterior(torch.tensor([1.0, 1.0, -1.0])).loc
    tensor([ 0.8889, -0.8000])
    """

    arg_constraints = {
        "prior_loc": constraints.real,
        "prior_scale": constraints.positive,
        "obs_scale": constraints.positive,
    }
    support = constraints.real

    def __init__(
        self,
        prior_loc: torch.Tensor,
        prior_scale: torch.Tensor,
        obs_scale: torch.Tensor | float,
        group_idx: torch.Tensor,
        validate_args: bool | None = None,
    ):
        if (
            not isinstance(group_idx, torch.Tensor)
            or group_idx.dim() != 1
            or (group_idx.is_floating_point() or group_idx.is_complex())
        ):
            raise SiteError("group_idx must be a 1-dimensional tensor of indices.")
        prior_loc, prior_scale = torch.broadcast_tensors(
            torch.as_tensor(prior_loc), torch.as_tensor(prior_scale)
        )
        if prior_loc.dim() > 1:
            raise SiteError(
                "prior_loc and prior_scale must be broadcastable to 1D tensors of the same "
                f"shape; got shape {tuple(prior_loc.shape)}"
            )
        prior_loc, prior_scale = prior_loc.reshape(-1), prior_scale.reshape(-1)
        num_groups = prior_loc.size(0)
        if group_idx.numel() and (group_idx.min() < 0 or group_idx.max() >= num_groups):
            raise SiteError(
                "Each index in group_idx must be an integer in the inclusive range "
                f"[0, prior_loc.size(0) - 1] = [0, {num_groups - 1}]."
            )
        obs_scale = torch.as_tensor(obs_scale, dtype=prior_loc.dtype, device=prior_loc.device)
        try:
            obs_scale = obs_scale.expand(group_idx.shape)
        except RuntimeError as error:
            raise ShapeError(
                f"obs_scale of shape {tuple(obs_scale.shape)} does not broadcast to "
                f"group_idx's shape {tuple(group_idx.shape)}"
            ) from error
        self.prior_loc = prior_loc
        self.prior_scale = prior_scale
        self.obs_scale = obs_scale
        self.group_idx = group_idx
        self.num_groups = num_groups
        self.num_data_per_batch = torch.bincount(group_idx, minlength=num_groups).to(
            prior_loc.dtype
        )
        super().__init__(torch.Size(), validate_args=validate_args)

    def expand(self, batch_shape: Shape, _instance: Any = None) -> Any:
        """Only the empty batch shape is possible (all data form one event).

        :raises NotImplementedError: for any other batch shape (as in Pyro).
        """
        batch_shape = torch.Size(batch_shape)
        if batch_shape != self.batch_shape:
            raise NotImplementedError(
                f"GroupedNormalNormal cannot be expanded to batch_shape {tuple(batch_shape)}: "
                "its log_prob scores all data at once"
            )
        new = self._get_checked_instance(GroupedNormalNormal, _instance)
        new.__dict__.update(
            {k: v for k, v in self.__dict__.items() if k not in ("_batch_shape", "_event_shape")}
        )
        return finish_expand(self, new, batch_shape)

    def sample(self, sample_shape: Shape = ()) -> torch.Tensor:
        """Not implemented (as in Pyro).

        :raises NotImplementedError: always.
        """
        raise NotImplementedError("GroupedNormalNormal.sample() is not implemented")

    def _group_sums(self, value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        # Per group: sum of precisions, sum of precision-weighted values, and the
        # precision-weighted residuals of each datum from its group's prior mean.
        precision = self.obs_scale.pow(-2)
        residual = value - self.prior_loc[self.group_idx]
        zeros = precision.new_zeros(self.num_groups)
        sum_precision = zeros.index_add(0, self.group_idx, precision)
        sum_weighted = zeros.index_add(0, self.group_idx, precision * residual)
        return precision, residual, torch.stack([sum_precision, sum_weighted])

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """The log marginal likelihood of all data (a scalar).

        :raises ShapeError: unless ``value`` has ``group_idx``'s shape.
        """
        if value.shape != self.group_idx.shape:
            raise ShapeError(
                "GroupedNormalNormal.log_prob only supports values that have the same shape "
                f"as group_idx; got {tuple(value.shape)}, expected {tuple(self.group_idx.shape)}"
            )
        if self._validate_args:
            self._validate_sample(value)
        precision, residual, (sum_precision, sum_weighted) = self._group_sums(value)
        prior_precision = self.prior_scale.pow(-2)
        quadratic = (precision * residual.pow(2)).sum() - (
            sum_weighted.pow(2) / (prior_precision + sum_precision)
        ).sum()
        log_det = (
            2 * self.obs_scale.log().sum() + torch.log1p(sum_precision / prior_precision).sum()
        )
        n = value.numel()
        return -0.5 * (quadratic + log_det + n * math.log(2 * math.pi))

    def get_posterior(self, value: torch.Tensor) -> Any:
        """The Normal posterior of each group's latent mean given the data ``value``.

        :returns: a ``Normal`` with batch shape ``(num_groups,)``.
        """
        _, _, (sum_precision, sum_weighted) = self._group_sums(value)
        prior_precision = self.prior_scale.pow(-2)
        precision = prior_precision + sum_precision
        loc = self.prior_loc + sum_weighted / precision
        return _torch_wrappers.Normal(loc, precision.rsqrt())
