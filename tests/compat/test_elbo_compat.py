"""The ELBOs against Pyro's on the same programs and draws: the same loss and the
same gradients where both estimators are defined the same way (reparameterized
models; Pyro refuses non-reparameterized sites in TraceMeanField_ELBO)."""

from __future__ import annotations

import pytest
import torch

import tracegraph
import tracegraph.distributions as tg_dist
import tracegraph.infer as tg_infer

pyro = pytest.importorskip("pyro")
import pyro.distributions as pyro_dist  # noqa: E402
import pyro.infer as pyro_infer  # noqa: E402

# Pyro's Jit ELBOs trace with torch.jit.trace, which torch 2.13 deprecates.
pytestmark = [
    pytest.mark.filterwarnings("ignore:`torch.jit.trace` is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning"),
]


def programs(lib, dist):
    constraints = dist.constraints
    data = torch.tensor([0.5, -1.0, 2.0, 0.3])

    def model_global():
        z = lib.sample("z", dist.Normal(0.0, 1.0))
        with lib.plate("data", 4):
            lib.sample("x", dist.Normal(z, 1.0), obs=data)

    def guide_global():
        loc = lib.param("loc", torch.tensor(0.2))
        scale = lib.param("scale", torch.tensor(0.8), constraint=constraints.positive)
        lib.sample("z", dist.Normal(loc, scale))

    def model_local():
        with lib.plate("data", 4):
            z = lib.sample("z", dist.Normal(0.0, 1.0))
            lib.sample("x", dist.Normal(z, 1.0), obs=data)

    def guide_local():
        loc = lib.param("loc", torch.zeros(4))
        with lib.plate("data", 4):
            lib.sample("z", dist.Normal(loc, 1.0))

    def model_event():
        z = lib.sample("z", dist.Normal(torch.zeros(2), 1.0).to_event(1))
        lib.sample("x", dist.Normal(z.sum(), 1.0), obs=torch.tensor(1.0))

    def guide_event():
        loc = lib.param("loc", torch.tensor([0.1, -0.2]))
        lib.sample("z", dist.Normal(loc, 1.0).to_event(1))

    def model_subsample():
        z = lib.sample("z", dist.Normal(0.0, 1.0))
        with lib.plate("data", 4, subsample=torch.tensor([0, 2])) as idx:
            lib.sample("x", dist.Normal(z, 1.0), obs=data[idx])

    return {
        "global": (model_global, guide_global),
        "local": (model_local, guide_local),
        "event": (model_event, guide_event),
        "subsample": (model_subsample, guide_global),
    }


ELBOS = ["Trace_ELBO", "TraceMeanField_ELBO", "JitTrace_ELBO", "JitTraceMeanField_ELBO"]


def _run(lib, dist, infer, name, program, elbo_name):
    lib.clear_param_store()
    lib.set_rng_seed(0)
    model, guide = programs(lib, dist)[program]
    elbo = getattr(infer, elbo_name)()
    out = []
    for _ in range(2):
        loss = elbo.loss_and_grads(model, guide)
        store = lib.get_param_store()
        grads = {k: store[k].unconstrained().grad.clone() for k in sorted(store.keys())}
        for k in store.keys():
            store[k].unconstrained().grad = None
        out.append((loss, grads))
    return out


@pytest.mark.parametrize("elbo_name", ELBOS)
@pytest.mark.parametrize("program", ["global", "local", "event", "subsample"])
def test_elbo_loss_and_grads_match_pyro(program, elbo_name):
    ours = _run(tracegraph, tg_dist, tg_infer, "tracegraph", program, elbo_name)
    pyro.enable_validation(True)
    # Pyro's Jit ELBOs draw differently (tracing runs the program again): ours
    # draw as the eager ones do, so they are held to Pyro's eager results.
    theirs = _run(pyro, pyro_dist, pyro_infer, "pyro", program, elbo_name.replace("Jit", ""))
    for (lo, go), (lt, gt) in zip(ours, theirs):
        assert lo == pytest.approx(lt, rel=1e-5, abs=1e-6)
        assert go.keys() == gt.keys()
        for k in go:
            torch.testing.assert_close(go[k], gt[k], rtol=1e-5, atol=1e-6)
