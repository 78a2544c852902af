"""The demo's built-in model: a small two-layer sigmoid belief net.

Each data point is a binary vector ``x`` of 12 pixels, explained by two layers of
binary latent units: 3 top units ``z_top`` and 4 middle units ``z_mid``::

    z_top ~ Bernoulli(1/2)                       (3 units)
    z_mid ~ Bernoulli(sigmoid(z_top @ W1 + b1))  (4 units)
    x     ~ Bernoulli(sigmoid(z_mid @ W2 + b2))  (12 pixels, observed)

The weights are fixed (drawn once from a fixed seed), so the model has no
learnable parameters and its exact log evidence ``log p(x)`` can be computed by
enumerating all ``2**7`` latent configurations: the best ELBO any guide can
reach.  The guide is amortized and mean-field: each layer's Bernoulli logits are
a linear function of ``x``.  Its sites are discrete, so every gradient of the
ELBO needs the score-function estimator -- which is where Rao-Blackwellization
and baselines matter.

>>> data = make_data(5, seed=0)
>>> data.shape
torch.Size([5, 12])
>>> round(log_evidence(data), 2) < 0
True
"""

from __future__ import annotations

import itertools

import torch

import tracegraph
import tracegraph.distributions as dist

__all__ = ["NUM_MID", "NUM_PIXELS", "NUM_TOP", "guide", "log_evidence", "make_data", "model"]

NUM_TOP = 3
NUM_MID = 4
NUM_PIXELS = 12


def _weights() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    # A private generator: building the model never touches the global random state.
    g = torch.Generator().manual_seed(20240601)
    w1 = 2.0 * torch.randn(NUM_TOP, NUM_MID, generator=g)
    b1 = torch.randn(NUM_MID, generator=g)
    w2 = 3.0 * torch.randn(NUM_MID, NUM_PIXELS, generator=g)
    b2 = torch.randn(NUM_PIXELS, generator=g)
    return w1, b1, w2, b2


W1, B1, W2, B2 = _weights()


def model(x: torch.Tensor) -> torch.Tensor:
    """The sigmoid belief net, observing the rows of ``x`` (shape ``(N, 12)``).

    >>> trace = tracegraph.poutine.trace(model).get_trace(torch.zeros(2, NUM_PIXELS))
    >>> trace.stochastic_nodes, trace.observation_nodes
    (['data', 'z_top', 'z_mid'], ['x'])
    """
    with tracegraph.plate("data", x.shape[0]):
        top_logits = torch.zeros(x.shape[0], NUM_TOP)
        z_top = tracegraph.sample("z_top", dist.Bernoulli(logits=top_logits).to_event(1))
        z_mid = tracegraph.sample("z_mid", dist.Bernoulli(logits=z_top @ W1 + B1).to_event(1))
        return tracegraph.sample("x", dist.Bernoulli(logits=z_mid @ W2 + B2).to_event(1), obs=x)


def guide(x: torch.Tensor) -> None:
    """The amortized mean-field guide ``q(z_top | x) q(z_mid | x)``.

    >>> tracegraph.clear_param_store()
    >>> trace = tracegraph.poutine.trace(guide).get_trace(torch.zeros(2, NUM_PIXELS))
    >>> trace.param_nodes
    ['top_weight', 'top_bias', 'mid_weight', 'mid_bias']
    """
    top_weight = tracegraph.param("top_weight", torch.zeros(NUM_PIXELS, NUM_TOP))
    top_bias = tracegraph.param("top_bias", torch.zeros(NUM_TOP))
    mid_weight = tracegraph.param("mid_weight", torch.zeros(NUM_PIXELS, NUM_MID))
    mid_bias = tracegraph.param("mid_bias", torch.zeros(NUM_MID))
    with tracegraph.plate("data", x.shape[0]):
        tracegraph.sample("z_top", dist.Bernoulli(logits=x @ top_weight + top_bias).to_event(1))
        tracegraph.sample("z_mid", dist.Bernoulli(logits=x @ mid_weight + mid_bias).to_event(1))


def make_data(num_points: int, seed: int) -> torch.Tensor:
    """Draw ``num_points`` data points from the model with a private generator.

    :param num_points: how many rows.
    :param seed: the generator's seed.
    :returns: a float tensor of 0s and 1s, shape ``(num_points, 12)``.

    >>> bool((make_data(3, seed=1) == make_data(3, seed=1)).all())
    True
    """
    g = torch.Generator().manual_seed(seed)
    z_top = torch.bernoulli(torch.full((num_points, NUM_TOP), 0.5), generator=g)
    z_mid = torch.bernoulli(torch.sigmoid(z_top @ W1 + B1), generator=g)
    return torch.bernoulli(torch.sigmoid(z_mid @ W2 + B2), generator=g)


def log_evidence(x: torch.Tensor) -> float:
    """The exact ``log p(x)``, summed over the rows of ``x``, by enumerating every
    assignment of the 7 latent units.

    :param x: data of shape ``(N, 12)``.
    :returns: the log evidence.

    >>> x = make_data(4, seed=0)
    >>> abs(log_evidence(x) - sum(log_evidence(x[i : i + 1]) for i in range(4))) < 1e-4
    True
    """
    units = torch.tensor(list(itertools.product((0.0, 1.0), repeat=NUM_TOP + NUM_MID)))
    z_top, z_mid = units[:, :NUM_TOP], units[:, NUM_TOP:]
    log_top = dist.Bernoulli(logits=torch.zeros(NUM_TOP)).log_prob(z_top).sum(-1)
    log_mid = dist.Bernoulli(logits=z_top @ W1 + B1).log_prob(z_mid).sum(-1)
    # (configurations, points): every data point under every configuration.
    pixel_logits = (z_mid @ W2 + B2).unsqueeze(1)
    log_x = dist.Bernoulli(logits=pixel_logits).log_prob(x.unsqueeze(0)).sum(-1)
    joint = (log_top + log_mid).unsqueeze(1) + log_x
    return float(torch.logsumexp(joint, dim=0).sum())
