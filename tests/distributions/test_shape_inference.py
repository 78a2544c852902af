import pytest
import torch

import tracegraph.distributions as dist

I3 = torch.eye(3)

# (class, argument shapes, an instance built from arguments of those shapes)
CASES = [
    (
        "Normal",
        {"loc": (2, 3), "scale": (3,)},
        lambda: dist.Normal(torch.zeros(2, 3), torch.ones(3)),
    ),
    ("Categorical", {"probs": (3, 4)}, lambda: dist.Categorical(torch.ones(3, 4))),
    ("Bernoulli", {"logits": (3, 1)}, lambda: dist.Bernoulli(logits=torch.zeros(3, 1))),
    ("Dirichlet", {"concentration": (5, 3)}, lambda: dist.Dirichlet(torch.ones(5, 3))),
    (
        "MultivariateNormal",
        {"loc": (2, 3), "covariance_matrix": (3, 3)},
        lambda: dist.MultivariateNormal(torch.zeros(2, 3), I3),
    ),
    (
        "MultivariateNormal",
        {"loc": (3,), "scale_tril": (4, 1, 3, 3)},
        lambda: dist.MultivariateNormal(torch.zeros(3), scale_tril=I3.expand(4, 1, 3, 3)),
    ),
    (
        "LowRankMultivariateNormal",
        {"loc": (5, 3), "cov_factor": (3, 2), "cov_diag": (1, 3)},
        lambda: dist.LowRankMultivariateNormal(
            torch.zeros(5, 3), torch.ones(3, 2), torch.ones(1, 3)
        ),
    ),
    (
        "Multinomial",
        {"total_count": (), "probs": (4, 3)},
        lambda: dist.Multinomial(5, torch.ones(4, 3)),
    ),
    (
        "OneHotCategorical",
        {"logits": (2, 3)},
        lambda: dist.OneHotCategorical(logits=torch.zeros(2, 3)),
    ),
    (
        "Uniform",
        {"low": (2, 1), "high": (3,)},
        lambda: dist.Uniform(torch.zeros(2, 1), torch.ones(3)),
    ),
]


@pytest.mark.parametrize("cls, shapes, make", CASES, ids=[c[0] for c in CASES])
def test_infer_shapes_agrees_with_a_real_instance(cls, shapes, make):
    batch, event = getattr(dist, cls).infer_shapes(**shapes)
    d = make()
    assert torch.Size(batch) == d.batch_shape and torch.Size(event) == d.event_shape


def test_infer_shapes_without_a_static_rule_raises_not_implemented():
    for cls, shapes in [
        (dist.Wishart, {"df": (2,)}),
        (dist.Independent, {}),
        (dist.MixtureSameFamily, {}),
    ]:
        with pytest.raises(NotImplementedError):
            cls.infer_shapes(**shapes)


def test_infer_shapes_unbroadcastable_shapes_raise_value_error():
    with pytest.raises(ValueError, match="shape mismatch"):
        dist.Normal.infer_shapes(loc=(2,), scale=(3,))
