"""SVI as in the introductory tutorials.

Coin fairness, a VAE, mixtures and HMMs with score-function gradients, KL
annealing, MAP, custom objectives, particles, double precision (see
``zoo_tutorials.py``).
"""

from __future__ import annotations

from typing import Any

import torch
from differential import Lib
from zoo_documented import example
from zoo_tutorials import (
    _FLIPS,
    _MIXTURE,
    _PIXELS,
    _auto,
)


@example
def held_out_coin_fairness_with_beta_guide(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    constraints = dist.constraints

    def model(data: torch.Tensor) -> None:
        fairness = pyro.sample("latent_fairness", dist.Beta(10.0, 10.0))
        for i in range(len(data)):
            pyro.sample(f"obs_{i}", dist.Bernoulli(fairness), obs=data[i])

    def guide(data: torch.Tensor) -> None:
        alpha_q = pyro.param("alpha_q", torch.tensor(15.0), constraint=constraints.positive)
        beta_q = pyro.param("beta_q", torch.tensor(15.0), constraint=constraints.positive)
        pyro.sample("latent_fairness", dist.Beta(alpha_q, beta_q))

    adam = pyro.optim.Adam({"lr": 0.0005, "betas": (0.90, 0.999)})
    svi = pyro.infer.SVI(model, guide, adam, loss=pyro.infer.Trace_ELBO())
    losses = [svi.step(_FLIPS) for _ in range(20)]
    alpha_q, beta_q = pyro.param("alpha_q").item(), pyro.param("beta_q").item()
    mean = alpha_q / (alpha_q + beta_q)
    predictive = pyro.infer.Predictive(model, guide=guide, num_samples=5)
    return losses, alpha_q, beta_q, mean, predictive(_FLIPS)


@example
def held_out_svi_evaluate_loss_and_interval_param(lib: Lib) -> Any:
    # A param constrained to an interval, the guide read with svi.evaluate_loss
    # and an ELBO's own loss / loss_and_grads.
    pyro, dist = lib.pyro, lib.dist
    constraints = dist.constraints

    def model(data: torch.Tensor) -> None:
        p = pyro.sample("p", dist.Uniform(0.0, 1.0))
        with pyro.plate("flips", len(data)):
            pyro.sample("obs", dist.Bernoulli(p), obs=data)

    def guide(data: torch.Tensor) -> None:
        centre = pyro.param("centre", torch.tensor(0.5), constraint=constraints.unit_interval)
        width = pyro.param("width", torch.tensor(0.1), constraint=constraints.interval(0.01, 0.3))
        low = (centre - width).clamp(min=1e-3)
        pyro.sample("p", dist.Uniform(low, (centre + width).clamp(max=1 - 1e-3)))

    elbo = pyro.infer.Trace_ELBO()
    svi = pyro.infer.SVI(model, guide, pyro.optim.SGD({"lr": 0.001}), loss=elbo)
    losses = [svi.step(_FLIPS) for _ in range(5)]
    evaluated = svi.evaluate_loss(_FLIPS)
    plain = elbo.loss(model, guide, _FLIPS)
    with_grads = elbo.loss_and_grads(model, guide, _FLIPS)
    unconstrained = pyro.get_param_store().get_param("width").unconstrained()
    return losses, evaluated, plain, with_grads, pyro.param("centre"), unconstrained


class _Encoder(torch.nn.Module):
    def __init__(self, pixels: int, hidden: int, latent: int) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(pixels, hidden)
        self.loc = torch.nn.Linear(hidden, latent)
        self.scale = torch.nn.Linear(hidden, latent)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.nn.functional.softplus(self.fc(x))
        return self.loc(h), torch.exp(self.scale(h))


class _Decoder(torch.nn.Module):
    def __init__(self, latent: int, hidden: int, pixels: int) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(latent, hidden)
        self.out = torch.nn.Linear(hidden, pixels)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.out(torch.nn.functional.softplus(self.fc(z))))


@example
def held_out_vae_minibatch_with_registered_modules(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    torch.manual_seed(5)
    encoder, decoder = _Encoder(6, 8, 2), _Decoder(2, 8, 6)
    size = len(_PIXELS)

    def model(x: torch.Tensor) -> torch.Tensor:
        pyro.module("decoder", decoder)
        with pyro.plate("data", size, subsample_size=8) as idx:
            batch = x[idx]
            z_loc = torch.zeros(len(idx), 2)
            z = pyro.sample("latent", dist.Normal(z_loc, torch.ones_like(z_loc)).to_event(1))
            probs = decoder(z)
            pyro.sample("obs", dist.Bernoulli(probs).to_event(1), obs=batch)
        return probs

    def guide(x: torch.Tensor) -> None:
        pyro.module("encoder", encoder)
        with pyro.plate("data", size, subsample_size=8) as idx:
            z_loc, z_scale = encoder(x[idx])
            pyro.sample("latent", dist.Normal(z_loc, z_scale).to_event(1))

    optim = pyro.optim.Adam({"lr": 0.01})
    svi = pyro.infer.SVI(model, guide, optim, loss=pyro.infer.Trace_ELBO())
    losses = [svi.step(_PIXELS) for _ in range(10)]
    names = sorted(pyro.get_param_store().keys())
    guide_tr = pyro.poutine.trace(guide).get_trace(_PIXELS)
    model_tr = pyro.poutine.trace(pyro.poutine.replay(model, trace=guide_tr)).get_trace(_PIXELS)
    return losses, names, guide_tr, model_tr


class _BaselineNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.unsqueeze(-1)).squeeze(-1)


@example
def held_out_gmm_tracegraph_with_nn_baseline(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    constraints = dist.constraints
    torch.manual_seed(2)
    net = _BaselineNet()

    def model(data: torch.Tensor) -> None:
        weights = pyro.sample("weights", dist.Dirichlet(torch.ones(2)))
        locs = pyro.sample("locs", dist.Normal(0.0, 5.0).expand([2]).to_event(1))
        with pyro.plate("points", len(data)):
            assignment = pyro.sample("assignment", dist.Categorical(weights))
            pyro.sample("obs", dist.Normal(locs[assignment], 0.5), obs=data)

    def guide(data: torch.Tensor) -> None:
        conc = pyro.param("conc", torch.ones(2), constraint=constraints.positive)
        pyro.sample("weights", dist.Dirichlet(conc))
        loc_q = pyro.param("loc_q", torch.tensor([-1.0, 1.0]))
        pyro.sample("locs", dist.Normal(loc_q, 0.2).to_event(1))
        probs = pyro.param(
            "probs_q", torch.full((len(data), 2), 0.5), constraint=constraints.simplex
        )
        baseline = {"nn_baseline": net, "nn_baseline_input": data}
        with pyro.plate("points", len(data)):
            pyro.sample("assignment", dist.Categorical(probs), infer={"baseline": baseline})

    svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": 0.05}), pyro.infer.TraceGraph_ELBO())
    losses = [svi.step(_MIXTURE) for _ in range(8)]
    return losses, sorted(pyro.get_param_store().keys()), pyro.param("loc_q")


@example
def held_out_hmm_discrete_states_tracegraph(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    constraints = dist.constraints
    readings = torch.tensor([0.1, 0.2, 1.9, 2.1, 0.0, 2.2])

    def model(readings: torch.Tensor) -> None:
        stay = pyro.sample("stay", dist.Beta(4.0, 1.0))
        state = 0
        for t in pyro.markov(range(len(readings))):
            probs = torch.stack([stay, 1 - stay]) if state == 0 else torch.stack([1 - stay, stay])
            state = int(pyro.sample(f"state_{t}", dist.Categorical(probs)))
            pyro.sample(f"y_{t}", dist.Normal(2.0 * state, 0.5), obs=readings[t])

    def guide(readings: torch.Tensor) -> None:
        a = pyro.param("stay_a", torch.tensor(4.0), constraint=constraints.positive)
        pyro.sample("stay", dist.Beta(a, 1.0))
        logits = pyro.param("state_logits", torch.zeros(len(readings), 2))
        for t in pyro.markov(range(len(readings))):
            pyro.sample(
                f"state_{t}",
                dist.Categorical(logits=logits[t]),
                infer={"baseline": {"use_decaying_avg_baseline": True}},
            )

    svi = pyro.infer.SVI(model, guide, pyro.optim.SGD({"lr": 0.01}), pyro.infer.TraceGraph_ELBO())
    losses = [svi.step(readings) for _ in range(6)]
    return losses, pyro.param("state_logits"), pyro.param("stay_a")


@example
def held_out_sigmoid_belief_net_tracegraph(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    torch.manual_seed(14)
    decoder = torch.nn.Linear(3, 6)
    encoder = torch.nn.Linear(6, 3)

    def model(x: torch.Tensor) -> None:
        pyro.module("decoder", decoder)
        with pyro.plate("data", len(x)):
            h = pyro.sample("h", dist.Bernoulli(torch.full((len(x), 3), 0.5)).to_event(1))
            pyro.sample("x", dist.Bernoulli(logits=decoder(h)).to_event(1), obs=x)

    def guide(x: torch.Tensor) -> None:
        pyro.module("encoder", encoder)
        with pyro.plate("data", len(x)):
            pyro.sample("h", dist.Bernoulli(logits=encoder(x)).to_event(1))

    svi = pyro.infer.SVI(model, guide, pyro.optim.SGD({"lr": 0.01}), pyro.infer.TraceGraph_ELBO())
    losses = [svi.step(_PIXELS[:8]) for _ in range(4)]
    return losses, sorted(pyro.get_param_store().keys()), pyro.param("encoder$$$bias")


@example
def held_out_vectorized_particles_trace_elbo(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist

    def model(data: torch.Tensor) -> None:
        loc = pyro.sample("loc", dist.Normal(0.0, 3.0))
        with pyro.plate("data", len(data)):
            pyro.sample("obs", dist.Normal(loc, 1.0), obs=data)

    def guide(data: torch.Tensor) -> None:
        q_loc = pyro.param("q_loc", torch.tensor(0.0))
        q_scale = pyro.param("q_scale", torch.tensor(1.0), constraint=dist.constraints.positive)
        pyro.sample("loc", dist.Normal(q_loc, q_scale))

    data = torch.tensor([1.0, 1.4, 0.7, 1.9])
    out = {}
    for name in ("Trace_ELBO", "TraceGraph_ELBO", "TraceMeanField_ELBO"):
        pyro.clear_param_store()
        pyro.set_rng_seed(0)
        elbo = getattr(pyro.infer, name)(
            num_particles=10, vectorize_particles=True, max_plate_nesting=1
        )
        svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": 0.1}), elbo)
        out[name] = ([svi.step(data) for _ in range(5)], pyro.param("q_loc"))
    return out


@example
def held_out_kl_annealing_with_scale_and_mean_field(lib: Lib) -> Any:
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    data = torch.tensor([0.9, 1.3, 0.4, 1.1])

    def model(data: torch.Tensor, annealing: float = 1.0) -> None:
        with poutine.scale(scale=annealing):
            z = pyro.sample("z", dist.Normal(0.0, 1.0))
        with pyro.plate("data", len(data)):
            pyro.sample("obs", dist.Normal(z, 1.0), obs=data)

    def guide(data: torch.Tensor, annealing: float = 1.0) -> None:
        loc = pyro.param("loc", torch.tensor(0.0))
        scale = pyro.param("scale", torch.tensor(1.0), constraint=dist.constraints.positive)
        with poutine.scale(scale=annealing):
            pyro.sample("z", dist.Normal(loc, scale))

    svi = pyro.infer.SVI(
        model, guide, pyro.optim.Adam({"lr": 0.1}), pyro.infer.TraceMeanField_ELBO()
    )
    losses = [svi.step(data, annealing=min(1.0, 0.2 + 0.2 * t)) for t in range(6)]
    return losses, pyro.param("loc"), pyro.param("scale")


@example
def held_out_map_with_delta_guide_and_callable_param_init(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    counts = torch.tensor([3.0, 5.0, 2.0, 4.0, 6.0])

    def model(counts: torch.Tensor) -> None:
        rate = pyro.sample("rate", dist.Gamma(2.0, 0.5))
        with pyro.plate("days", len(counts)):
            pyro.sample("count", dist.Poisson(rate), obs=counts)

    def guide(counts: torch.Tensor) -> None:
        rate_map = pyro.param(
            "rate_map", lambda: counts.mean().clone(), constraint=dist.constraints.positive
        )
        pyro.sample("rate", dist.Delta(rate_map))

    svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": 0.1}), pyro.infer.Trace_ELBO())
    losses = [svi.step(counts) for _ in range(10)]
    return losses, pyro.param("rate_map"), pyro.poutine.trace(guide).get_trace(counts)


@example
def held_out_svi_tracegraph_with_poutine_scale_minibatch(lib: Lib) -> Any:
    # Manual minibatch scaling as in older tutorials: poutine.scale around the
    # likelihood instead of a subsampled plate.
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    data = (torch.arange(16.0) % 3 == 0).float()

    def model(batch: torch.Tensor) -> None:
        p = pyro.sample("p", dist.Beta(2.0, 2.0))
        with poutine.scale(scale=len(data) / len(batch)):
            with pyro.plate("batch", len(batch)):
                pyro.sample("obs", dist.Bernoulli(p), obs=batch)

    def guide(batch: torch.Tensor) -> None:
        a = pyro.param("a", torch.tensor(2.0), constraint=dist.constraints.positive)
        b = pyro.param("b", torch.tensor(2.0), constraint=dist.constraints.positive)
        pyro.sample("p", dist.Beta(a, b))

    svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": 0.05}), pyro.infer.TraceGraph_ELBO())
    losses = [svi.step(data[4 * (t % 4) : 4 * (t % 4) + 4]) for t in range(8)]
    return losses, pyro.param("a"), pyro.param("b")


@example
def held_out_custom_objective_differentiable_loss(lib: Lib) -> Any:
    # The custom-objectives pattern: capture the params with a param-only trace,
    # optimize their unconstrained tensors with a torch optimizer.
    pyro, dist, poutine = lib.pyro, lib.dist, lib.poutine
    data = torch.tensor([0.6, 1.4, 1.1, 0.2])

    def model(data: torch.Tensor) -> None:
        mu = pyro.sample("mu", dist.Normal(0.0, 2.0))
        with pyro.plate("data", len(data)):
            pyro.sample("obs", dist.Normal(mu, 1.0), obs=data)

    def guide(data: torch.Tensor) -> None:
        loc = pyro.param("loc", torch.tensor(0.0))
        scale = pyro.param("scale", torch.tensor(0.5), constraint=dist.constraints.positive)
        pyro.sample("mu", dist.Normal(loc, scale))

    loss_fn = pyro.infer.Trace_ELBO().differentiable_loss
    with poutine.trace(param_only=True) as param_capture:
        loss = loss_fn(model, guide, data)
    params = [site["value"].unconstrained() for site in param_capture.trace.nodes.values()]
    optimizer = torch.optim.Adam(params, lr=0.05)
    losses = []
    for _ in range(6):
        loss = loss_fn(model, guide, data)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    return (
        losses,
        list(param_capture.trace.nodes),
        loss.requires_grad,
        pyro.param("loc"),
        pyro.param("scale"),
    )


@example
def held_out_double_precision_svi_and_autoguide(lib: Lib) -> Any:
    pyro, dist, auto = lib.pyro, lib.dist, _auto(lib)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        x = torch.linspace(0.0, 1.0, 5)
        y = 2.0 * x + 0.1

        def model(x: torch.Tensor, y: torch.Tensor) -> None:
            slope = pyro.sample("slope", dist.Normal(0.0, 1.0))
            noise = pyro.param("noise", torch.tensor(0.5), constraint=dist.constraints.positive)
            with pyro.plate("data", len(x)):
                pyro.sample("y", dist.Normal(slope * x, noise), obs=y)

        guide = auto.AutoNormal(model)
        svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": 0.05}), pyro.infer.Trace_ELBO())
        losses = [svi.step(x, y) for _ in range(5)]
        return losses, dict(pyro.get_param_store().items()), guide.median()
    finally:
        torch.set_default_dtype(previous)


@example
def held_out_guide_site_missing_from_model_warns(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist

    def model() -> None:
        pyro.sample("z", dist.Normal(0.0, 1.0))

    def guide() -> None:
        pyro.sample("z", dist.Normal(0.0, 1.0))
        pyro.sample("extra", dist.Normal(0.0, 1.0))

    svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": 0.1}), pyro.infer.Trace_ELBO())
    return svi.step()


@example
def held_out_constrained_params_matrix_and_ordered(lib: Lib) -> Any:
    pyro, dist = lib.pyro, lib.dist
    constraints = dist.constraints
    params = {
        "chol": (torch.eye(3) + 0.1, constraints.lower_cholesky),
        "corr": (torch.eye(3), constraints.corr_cholesky),
        "cuts": (torch.tensor([-1.0, 0.5, 2.0]), constraints.ordered_vector),
        "probs": (torch.tensor([[1.0, 2.0, 1.0], [3.0, 1.0, 1.0]]), constraints.simplex),
        "cov": (torch.eye(2) * 2.0, constraints.positive_definite),
        "rate": (torch.tensor([0.2, 5.0]), constraints.greater_than(0.1)),
        "p": (torch.tensor(0.3), constraints.unit_interval),
    }
    out = {}
    for name, (init, constraint) in params.items():
        value = pyro.param(name, init, constraint=constraint)
        out[name] = (value, pyro.param(name).unconstrained())
    return out, list(pyro.get_param_store().keys())
