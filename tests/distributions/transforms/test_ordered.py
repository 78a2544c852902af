import torch

from tracegraph.distributions import constraints
from tracegraph.distributions.transforms import OrderedTransform, SimplexToOrderedTransform


def test_ordered_transform_jacobian_matches_autograd(numeric_log_abs_det):
    x = torch.tensor([0.3, -1.0, 2.0, 0.5], dtype=torch.float64)
    t = OrderedTransform()
    assert constraints.ordered_vector.check(t(x)) and torch.allclose(t.inv(t(x)), x)
    assert abs(t.log_abs_det_jacobian(x, t(x)).item() - numeric_log_abs_det(t, x)) < 1e-9


def test_simplex_to_ordered_jacobian_on_the_free_coordinates_ignores_the_anchor():
    p = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)
    for anchor in (0.0, 0.7):
        t = SimplexToOrderedTransform(torch.tensor(anchor, dtype=torch.float64))
        y = t(p)
        assert constraints.ordered_vector.check(y) and torch.allclose(t.inv(y), p)

        def free(v, t=t):  # the first K - 1 probabilities determine the last
            return t(torch.cat([v, 1 - v.sum(-1, keepdim=True)]))

        jac = torch.autograd.functional.jacobian(free, p[:-1])
        expected = torch.linalg.slogdet(jac).logabsdet
        assert torch.allclose(t.log_abs_det_jacobian(p, y), expected)
    assert t.forward_shape((2, 4)) == (2, 3) and t.inverse_shape((2, 3)) == (2, 4)
    assert SimplexToOrderedTransform() == SimplexToOrderedTransform(torch.tensor(0.0))
