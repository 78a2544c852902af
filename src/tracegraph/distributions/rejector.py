"""``Rejector``: a distribution defined by rejection sampling from a proposal.

Its log-density is the proposal's plus the log acceptance probability minus
the log total acceptance rate.  Gradients follow Naesseth, Ruiz, Linderman &
Blei (2017), "Reparameterization Gradients through Acceptance-Rejection
Sampling Algorithms": the accepted proposal is reparameterized, and the
acceptance step adds a score-function term (see :meth:`Rejector.score_parts`).

>>> import torch
>>> import tracegraph.distributions as dist
>>> d = Rejector(dist.Exponential(torch.tensor(1.0)), lambda x: -x, torch.tensor(0.5).log())
>>> d.log_prob(torch.tensor(1.0))  # Exponential(2): log 2 - 2
tensor(-1.3069)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from tracegraph.distributions.torch_distribution import (
    Shape,
    TorchDistribution,
    TorchDistributionMixin,
)
from tracegraph.distributions.util import ScoreParts

__all__ = ["Rejector"]


class Rejector(TorchDistribution):
    """Draws from ``propose`` accepted with probability ``exp(log_prob_accept(x))``.

    :param propose: the proposal distribution; it is called as ``propose()`` or
        ``propose(sample_shape)`` (a plain torch distribution is sampled with
        ``rsample`` when it has one).
    :param log_prob_accept: maps a batch of proposals to their log acceptance
        probabilities.
    :param log_scale: the log of the total acceptance probability (the
        normalizer).
    :param batch_shape: defaults to the proposal's.
    :param event_shape: defaults to the proposal's.

    >>> import tracegraph.distributions as dist
    >>> d = Rejector(dist.Exponential(torch.tensor([1.0, 1.0])), lambda x: -x,
    ...              torch.tensor(0.5).log())
    >>> d.rsample((3,)).shape
    torch.Size([3, 2])
    """

    arg_constraints: dict[str, Any] = {}

    def __init__(
        self,
        propose: torch.distributions.Distribution,
        log_prob_accept: Callable[[torch.Tensor], torch.Tensor],
        log_scale: torch.Tensor | float,
        *,
        batch_shape: Shape | None = None,
        event_shape: Shape | None = None,
    ):
        self.propose = propose
        self.log_prob_accept = log_prob_accept
        self._log_scale = log_scale
        if batch_shape is None:
            batch_shape = propose.batch_shape
        if event_shape is None:
            event_shape = propose.event_shape
        super().__init__(torch.Size(batch_shape), torch.Size(event_shape))
        # (value, result) of the last call, so log_prob and score_parts of one
        # value compute each term once.
        self._log_prob_accept_cache: tuple[Any, Any] = (None, None)
        self._propose_log_prob_cache: tuple[Any, Any] = (None, None)

    def _native_has_rsample(self) -> bool:
        return True

    @property
    def support(self) -> Any:
        """The proposal's support."""
        return self.propose.support

    def _log_prob_accept(self, x: torch.Tensor) -> torch.Tensor:
        if x is not self._log_prob_accept_cache[0]:
            self._log_prob_accept_cache = (x, self.log_prob_accept(x) - self._log_scale)
        return self._log_prob_accept_cache[1]  # type: ignore[no-any-return]

    def _propose_log_prob(self, x: torch.Tensor) -> torch.Tensor:
        if x is not self._propose_log_prob_cache[0]:
            self._propose_log_prob_cache = (x, self.propose.log_prob(x))
        return self._propose_log_prob_cache[1]  # type: ignore[no-any-return]

    def _draw_proposal(self, sample_shape: torch.Size) -> torch.Tensor:
        propose = self.propose
        if isinstance(propose, TorchDistributionMixin) or not isinstance(
            propose, torch.distributions.Distribution
        ):
            return propose(sample_shape) if sample_shape else propose()  # type: ignore[operator, no-any-return]
        if propose.has_rsample:
            return propose.rsample(sample_shape)
        return propose.sample(sample_shape)

    def rsample(
        self, sample_shape: Shape = torch.Size(), *, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Propose until every batch element has an accepted draw.

        :param sample_shape: leading dims of independent draws.
        :param generator: the generator for the accept/reject uniforms (the
            proposal uses its own).

        >>> import tracegraph.distributions as dist
        >>> d = Rejector(dist.Uniform(0.0, 1.0), lambda x: (x < 0.5).float().log(), 0.5)
        >>> bool((d.rsample((100,)) < 0.5).all())
        True
        """
        shape = torch.Size(sample_shape)
        x = self._draw_proposal(shape)
        done = self._accept(x, generator)
        while not bool(done.all()):
            proposal = self._draw_proposal(shape)
            accepted = self._accept(proposal, generator) & ~done
            if accepted.any():
                event = accepted.reshape(accepted.shape + (1,) * self.event_dim)
                x = torch.where(event, proposal, x)
                done = done | accepted
        return x

    def _accept(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        log_prob = self.log_prob_accept(x)
        uniform = torch.rand(
            log_prob.shape, dtype=log_prob.dtype, device=log_prob.device, generator=generator
        )
        return uniform.log() < log_prob.detach()

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """``propose.log_prob(x) + log_prob_accept(x) - log_scale``."""
        return self._propose_log_prob(x) + self._log_prob_accept(x)

    def score_parts(self, x: torch.Tensor) -> ScoreParts:  # type: ignore[override]
        """The ELBO terms: reparameterized proposal, score-function acceptance.

        ``(log_prob, log_prob_accept(x) - log_scale, log_prob)``.

        >>> import tracegraph.distributions as dist
        >>> d = Rejector(dist.Exponential(torch.tensor(1.0)), lambda x: -x, 0.5)
        >>> d.score_parts(torch.tensor(0.3)).score_function
        tensor(-0.8000)
        """
        log_prob = self.log_prob(x)
        return ScoreParts(
            log_prob=log_prob, score_function=self._log_prob_accept(x), entropy_term=log_prob
        )
