"""Relaxed Bernoulli and one-hot Categorical with straight-through gradients.

``rsample`` returns a *discrete* value (rounded, or the one-hot of the
argmax) whose gradient is that of the relaxed (Gumbel-softmax) draw it came
from (Maddison, Mnih & Teh 2017; Jang, Gu & Poole 2017).  ``log_prob`` of such
a value scores the relaxed draw, which the value carries along; any other value
is scored as it is.

>>> import torch
>>> d = RelaxedBernoulliStraightThrough(torch.tensor(0.5), probs=torch.tensor([0.3, 0.8]))
>>> x = d.rsample()
>>> bool(((x == 0) | (x == 1)).all())
True
"""

from __future__ import annotations

import torch

from tracegraph.distributions import torch as _torch_wrappers
from tracegraph.distributions.torch_distribution import Shape

__all__ = ["RelaxedBernoulliStraightThrough", "RelaxedOneHotCategoricalStraightThrough"]


def _straight_through(hard: torch.Tensor, soft: torch.Tensor) -> torch.Tensor:
    # The value of ``hard`` (exactly: soft - soft is zero) with ``soft``'s gradient;
    # the relaxed draw rides along for log_prob.
    value = hard.detach() + (soft - soft.detach())
    value._unquantize = soft  # type: ignore[attr-defined]
    return value


def _relaxed(value: torch.Tensor) -> torch.Tensor:
    return getattr(value, "_unquantize", value)  # type: ignore[no-any-return]


class RelaxedBernoulliStraightThrough(_torch_wrappers.RelaxedBernoulli):  # type: ignore[misc, name-defined]
    """``RelaxedBernoulli`` whose reparameterized samples are rounded to 0 or 1.

    Constructor arguments are ``RelaxedBernoulli``'s: ``temperature, probs=None,
    logits=None, validate_args=None``.

    >>> p = torch.tensor([0.3, 0.8], requires_grad=True)
    >>> d = RelaxedBernoulliStraightThrough(torch.tensor(0.5), probs=p)
    >>> x = d.rsample()
    >>> x.sum().backward()
    >>> p.grad is not None
    True
    """

    def rsample(self, sample_shape: Shape = torch.Size()) -> torch.Tensor:
        """A relaxed draw rounded to ``{0, 1}``, differentiated as the relaxed draw.

        >>> d = RelaxedBernoulliStraightThrough(torch.tensor(0.5), probs=torch.tensor(0.5))
        >>> d.rsample((3,)).shape
        torch.Size([3])
        """
        soft = super().rsample(sample_shape)
        return _straight_through(soft.round(), soft)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """``RelaxedBernoulli.log_prob`` of the relaxed draw behind ``value``.

        >>> d = RelaxedBernoulliStraightThrough(torch.tensor(0.5), probs=torch.tensor(0.3))
        >>> d.log_prob(torch.tensor(0.2))
        tensor(-0.2528)
        """
        return super().log_prob(_relaxed(value))


class RelaxedOneHotCategoricalStraightThrough(_torch_wrappers.RelaxedOneHotCategorical):  # type: ignore[misc, name-defined]
    """``RelaxedOneHotCategorical`` whose reparameterized samples are one-hot.

    Constructor arguments are ``RelaxedOneHotCategorical``'s: ``temperature,
    probs=None, logits=None, validate_args=None``.

    >>> d = RelaxedOneHotCategoricalStraightThrough(torch.tensor(0.5), logits=torch.zeros(3))
    >>> d.rsample().sum()
    tensor(1.)
    """

    def rsample(self, sample_shape: Shape = torch.Size()) -> torch.Tensor:
        """The one-hot of a relaxed draw's argmax, differentiated as the relaxed draw.

        >>> d = RelaxedOneHotCategoricalStraightThrough(torch.tensor(0.5), logits=torch.zeros(3))
        >>> d.rsample((2,)).shape
        torch.Size([2, 3])
        """
        soft = super().rsample(sample_shape)
        hard = torch.zeros_like(soft).scatter_(-1, soft.argmax(-1, keepdim=True), 1.0)
        return _straight_through(hard, soft)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """``RelaxedOneHotCategorical.log_prob`` of the relaxed draw behind ``value``.

        >>> d = RelaxedOneHotCategoricalStraightThrough(torch.tensor(0.5), logits=torch.zeros(3))
        >>> d.log_prob(torch.tensor([0.2, 0.3, 0.5]))
        tensor(-0.5344)
        """
        return super().log_prob(_relaxed(value))
