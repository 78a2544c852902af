import pytest
import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph.infer import Predictive


def model(data=None):
    z = tracegraph.sample("z", dist.Normal(0.0, 1.0))
    with tracegraph.plate("data", 4):
        tracegraph.sample("x", dist.Normal(z, 0.01), obs=data)
    return z * 2


def guide(data=None):
    loc = tracegraph.param("loc", torch.tensor(3.0))
    tracegraph.sample("z", dist.Normal(loc, 1e-3))


def test_predictive_from_samples_uses_given_latents():
    z = torch.tensor([1.0, -2.0])
    out = Predictive(model, posterior_samples={"z": z})()
    assert set(out) == {"x"}
    assert out["x"].shape == (2, 4)
    assert torch.allclose(out["x"].mean(-1), z, atol=0.05)


def test_predictive_from_guide_and_return_sites():
    out = Predictive(model, guide=guide, num_samples=3, return_sites=["z", "_RETURN"])()
    assert out["z"].shape == (3,)
    assert torch.allclose(out["_RETURN"], 2 * out["z"])
    assert torch.allclose(out["z"], torch.full((3,), 3.0), atol=0.01)


def test_predictive_inconsistent_sizes_raise():
    with pytest.raises(ValueError, match="leading sizes"):
        Predictive(model, posterior_samples={"z": torch.zeros(2), "w": torch.zeros(3)})
    with pytest.raises(ValueError, match="disagrees"):
        Predictive(model, posterior_samples={"z": torch.zeros(2)}, num_samples=5)


def test_predictive_unknown_return_site_raises():
    with pytest.raises(KeyError, match="nope"):
        Predictive(model, posterior_samples={"z": torch.zeros(1)}, return_sites=["nope"])()
