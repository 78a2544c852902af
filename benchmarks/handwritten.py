"""The benchmark models' SVI steps written by hand in plain PyTorch: the floor.

No probabilistic-programming library: each step samples the guide with
``torch.distributions``, computes the log-densities, and builds the same
estimator as ``TraceGraph_ELBO``'s ``loss_and_grads`` by hand -- the ELBO plus,
for every non-reparameterized guide site, its log-density times its detached
*downstream cost* (the cost terms that depend on it, summed over the plates along
which the plate rule does not let it stay per element) -- then calls
``backward``.  The dependency structure is written out per model (it is what
tracegraph's provenance finds; ``tests/benchmarks/test_handwritten.py`` checks
that loss and gradients equal tracegraph's on the same draws).

Each step draws from torch's generator in the order the guide does, so with the
same seed it draws the same values: one vectorized ``torch.bernoulli`` consumes
the generator exactly as one scalar draw per site does, which lets the chain and
the independent sites draw all their latents at once.

Params are kept as tracegraph's param store keeps them: unconstrained leaves
(``transform_to(constraint).inv(init)``), the constraint applied in the step.

>>> import torch
>>> from bench_models import make_models
>>> import tracegraph, tracegraph.distributions as dist
>>> _, _, args = make_models(tracegraph, dist)["mixture"]
>>> step = HANDWRITTEN["mixture"](*args)
>>> loss = step.loss_and_grads()
>>> sorted(step.params), step.params["gmm_probs"].grad.shape
(['gmm_loc', 'gmm_probs'], torch.Size([20, 3]))
"""

from __future__ import annotations

import torch
from bench_models import sbn_weights
from torch.distributions import (
    Bernoulli,
    Beta,
    Categorical,
    Normal,
    constraints,
    transform_to,
)
from torch.nn.functional import one_hot

__all__ = ["HANDWRITTEN", "Handwritten"]


def _leaf(
    init: torch.Tensor, constraint: constraints.Constraint = constraints.real
) -> torch.Tensor:
    # An unconstrained leaf, as the param store holds it.
    return transform_to(constraint).inv(init).detach().requires_grad_()


class Handwritten:
    """One model's step: ``params`` (unconstrained leaves by param name) and
    :meth:`loss_and_grads` (returns ``-ELBO``, accumulates gradients into the
    leaves, as ``TraceGraph_ELBO.loss_and_grads`` does)."""

    params: dict[str, torch.Tensor]

    def loss_and_grads(self) -> float:
        elbo, surrogate = self.objective()
        (-surrogate).backward()
        return -elbo.item()

    def objective(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(ELBO, surrogate)`` of one draw (the surrogate's gradient is the
        estimator's)."""
        raise NotImplementedError

    def zero_grad(self) -> None:
        for p in self.params.values():
            p.grad = None


class BetaBernoulli(Handwritten):
    """Beta(10, 10) prior on a coin's weight, Bernoulli flips, Beta guide: every
    latent reparameterized, so the surrogate is the ELBO."""

    def __init__(self, data: torch.Tensor) -> None:
        self.data = data
        self.params = {
            "bb_alpha": _leaf(torch.tensor(15.0), constraints.positive),
            "bb_beta": _leaf(torch.tensor(15.0), constraints.positive),
        }

    def objective(self) -> tuple[torch.Tensor, torch.Tensor]:
        q = Beta(self.params["bb_alpha"].exp(), self.params["bb_beta"].exp())
        f = q.rsample()
        prior = Beta(torch.tensor(10.0), torch.tensor(10.0))
        elbo = prior.log_prob(f) + Bernoulli(f).log_prob(self.data).sum() - q.log_prob(f)
        return elbo, elbo


def _score_term(log_q: torch.Tensor, down: torch.Tensor) -> torch.Tensor:
    # The score times its detached downstream cost; the second part (value 0)
    # cancels the ELBO's zero-mean pathwise gradient of -log q at the draw, which
    # Pyro's estimators and tracegraph's loss_and_grads leave out.
    return (log_q * down.detach()).sum() + (log_q - log_q.detach()).sum()


class Mixture(Handwritten):
    """Gaussian mixture: reparameterized locations, a Categorical assignment per
    point whose score multiplies that point's costs only."""

    K = 3

    def __init__(self, data: torch.Tensor) -> None:
        self.data = data
        m = len(data)
        self.params = {
            "gmm_loc": _leaf(torch.tensor([-2.0, 0.0, 2.0])),
            "gmm_probs": _leaf(torch.full((m, self.K), 1.0 / self.K), constraints.simplex),
        }

    def objective(self) -> tuple[torch.Tensor, torch.Tensor]:
        probs = transform_to(constraints.simplex)(self.params["gmm_probs"])
        q_locs = Normal(self.params["gmm_loc"], 0.5)
        q_assign = Categorical(probs)
        locs = q_locs.rsample()
        assign = q_assign.sample()
        log_q_assign = q_assign.log_prob(assign)
        prior = Normal(torch.zeros(self.K), 5.0)
        global_cost = prior.log_prob(locs).sum() - q_locs.log_prob(locs).sum()
        loc_z = (locs * one_hot(assign, self.K)).sum(-1)
        local_cost = (
            Categorical(torch.full((self.K,), 1.0 / self.K)).log_prob(assign)
            + Normal(loc_z, 1.0).log_prob(self.data)
            - log_q_assign
        )
        elbo = global_cost + local_cost.sum()
        # Each assignment's downstream cost: its own point's terms.
        return elbo, elbo + _score_term(log_q_assign, local_cost)


class SigmoidBeliefNet(Handwritten):
    """Two-layer sigmoid belief net, guide bottom-up (z1 from x, z2 from z1)."""

    def __init__(self, data: torch.Tensor, params: dict[str, torch.Tensor]) -> None:
        self.data = data
        self.params = {name: _leaf(value) for name, value in params.items()}

    def objective(self) -> tuple[torch.Tensor, torch.Tensor]:
        p = self.params
        q1 = Bernoulli(logits=self.data @ p["sbn_V1"])
        z1 = q1.sample()
        q2 = Bernoulli(logits=z1 @ p["sbn_V2"])
        z2 = q2.sample()
        log_q1, log_q2 = q1.log_prob(z1), q2.log_prob(z2)
        log_p2 = Bernoulli(torch.full(z2.shape, 0.5)).log_prob(z2)
        log_p1 = Bernoulli(logits=z2 @ p["sbn_W2"]).log_prob(z1)
        log_px = Bernoulli(logits=z1 @ p["sbn_W1"]).log_prob(self.data)
        z2_cost = log_p2 - log_q2
        elbo = z2_cost.sum() + log_p1.sum() + log_px.sum() - log_q1.sum()
        # z1[n, j] reaches z2[n, :] (a matmul over units), hence every cost of
        # datapoint n but its own -log q1[n, j]; z2[n, k] reaches its own z2
        # costs and, through the model's z2 @ W2, every log p(z1[n, :]).
        per_point = (z2_cost.sum(-1) + log_p1.sum(-1) + log_px.sum(-1)).unsqueeze(-1)
        down1 = per_point - log_q1
        down2 = z2_cost + log_p1.sum(-1, keepdim=True)
        surrogate = elbo + _score_term(log_q1, down1) + _score_term(log_q2, down2)
        return elbo, surrogate


class Chain(Handwritten):
    """Markov chain of binary latents, mean-field guide (all drawn at once)."""

    def __init__(self, data: torch.Tensor) -> None:
        self.data = data
        self.params = {"chain_q": _leaf(torch.full(data.shape, 0.5), constraints.unit_interval)}

    def objective(self) -> tuple[torch.Tensor, torch.Tensor]:
        q = Bernoulli(torch.sigmoid(self.params["chain_q"]))
        z = q.sample()
        log_q = q.log_prob(z)
        previous = torch.cat([z.new_zeros(1), z[:-1]])
        log_pz = Bernoulli(0.2 + 0.6 * previous).log_prob(z)
        log_px = Bernoulli(0.1 + 0.8 * z).log_prob(self.data)
        local = log_pz + log_px - log_q
        elbo = local.sum()
        # z_t's downstream cost: its own terms and the next step's prior.
        down = local + torch.cat([log_pz[1:], log_pz.new_zeros(1)])
        return elbo, elbo + _score_term(log_q, down)


class Independent(Handwritten):
    """Independent binary latents, each with its own Gaussian observation."""

    def __init__(self, data: torch.Tensor) -> None:
        self.data = data
        self.params = {"ind_q": _leaf(torch.full(data.shape, 0.4), constraints.unit_interval)}

    def objective(self) -> tuple[torch.Tensor, torch.Tensor]:
        q = Bernoulli(torch.sigmoid(self.params["ind_q"]))
        z = q.sample()
        log_q = q.log_prob(z)
        local = (
            Bernoulli(torch.full(z.shape, 0.5)).log_prob(z)
            + Normal(2.0 * z - 0.5, 1.0).log_prob(self.data)
            - log_q
        )
        elbo = local.sum()
        return elbo, elbo + _score_term(log_q, local)


class WidePlate(Handwritten):
    """A global reparameterized offset and a binary latent per point of a wide
    plate, amortized guide; each point's score multiplies its own costs."""

    def __init__(self, data: torch.Tensor) -> None:
        self.data = data
        self.params = {
            "wide_loc": _leaf(torch.tensor(0.0)),
            "wide_scale": _leaf(torch.tensor(0.5), constraints.positive),
            "wide_a": _leaf(torch.tensor(1.0)),
            "wide_b": _leaf(torch.tensor(0.0)),
        }

    def objective(self) -> tuple[torch.Tensor, torch.Tensor]:
        p = self.params
        q_shift = Normal(p["wide_loc"], p["wide_scale"].exp())
        shift = q_shift.rsample()
        q_z = Bernoulli(logits=p["wide_a"] * self.data + p["wide_b"])
        z = q_z.sample()
        log_q = q_z.log_prob(z)
        global_cost = Normal(0.0, 1.0).log_prob(shift) - q_shift.log_prob(shift)
        local = (
            Bernoulli(torch.full(z.shape, 0.5)).log_prob(z)
            + Normal(2.0 * z - 1.0 + shift, 1.0).log_prob(self.data)
            - log_q
        )
        elbo = global_cost + local.sum()
        return elbo, elbo + _score_term(log_q, local)


def _sbn(data: torch.Tensor) -> SigmoidBeliefNet:
    return SigmoidBeliefNet(data, sbn_weights())


#: ``{model name: step factory taking the model's args}``.
HANDWRITTEN = {
    "beta_bernoulli": BetaBernoulli,
    "mixture": Mixture,
    "sbn": _sbn,
    "chain20": Chain,
    "indep50": Independent,
    "wide": WidePlate,
}
