"""Plate claims (``tracegraph.ops.provenance.claims``): an op never claims that an
output element lines up with a plate index it does not.

The property test runs random sequences of ops (elementwise, reductions, scans,
sorts, views that move dims, joins, indexing, matmul) on a tensor ``z`` that is
aligned with plate ``p`` along dim -1 and plate ``q`` along dim -2.  Whenever the
result claims to be aligned with ``z`` along a plate at some dim, the Jacobian
(autograd, float64, distinct random values so ties cannot hide a dependence... or
create one) must agree: output element ``o`` may depend on ``z[i0, i1]`` only if
``o``'s index along the claimed dim is ``z``'s index along that plate.  The
direction checked is the one soundness needs: a claim must be true; a true
alignment that is reported as mixed only costs variance.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracegraph.ops.provenance import (
    Claim,
    ProvenanceTensor,
    aligned_dim,
    aligned_run,
    detach_provenance,
    get_provenance,
    raw_provenance,
    track_provenance,
)

SETTINGS = settings(
    derandomize=True,
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PLATES = {"p": (-1, 3), "q": (-2, 2)}  # plate -> (dim of z, size)


def claimed(shape: tuple[int, ...] = (2, 3)) -> tuple[torch.Tensor, Any]:
    """A leaf ``x`` and a tracked alias of it carrying ``z``'s own claims."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=gen, dtype=torch.float64).requires_grad_()
    z = track_provenance(x, {"z"})
    z._provenance = frozenset({"z", Claim("z", "p", -1), Claim("z", "q", -2)})
    return x, z


def _dim(t: torch.Tensor, k: int) -> int:
    return k % t.dim() - t.dim() if t.dim() else 0


def _const(shape: tuple[int, ...]) -> torch.Tensor:
    gen = torch.Generator().manual_seed(len(shape) + sum(shape))
    return torch.randn(shape, generator=gen, dtype=torch.float64)


# Each op takes the tensor and an int choosing dims/arguments; None: not applicable.
OPS: dict[str, Callable[[torch.Tensor, int], Any]] = {
    "exp": lambda t, k: t.tanh().exp(),
    "affine": lambda t, k: 2.0 * t + _const(t.shape[-1:]),
    "self_product": lambda t, k: t * t.flip(_dim(t, k)) if t.dim() else None,
    "sum": lambda t, k: t.sum(_dim(t, k)) if t.dim() else None,
    "sum_keepdim": lambda t, k: t.sum(_dim(t, k), keepdim=True) if t.dim() else None,
    "sum_all": lambda t, k: t.sum(),
    "mean_broadcast": lambda t, k: t - t.mean(_dim(t, k), keepdim=True) if t.dim() else None,
    "max": lambda t, k: t.max(_dim(t, k)).values if t.dim() else None,
    "logsumexp": lambda t, k: t.logsumexp(_dim(t, k)) if t.dim() else None,
    "cumsum": lambda t, k: t.cumsum(_dim(t, k)) if t.dim() else None,
    "flip": lambda t, k: t.flip(_dim(t, k)) if t.dim() else None,
    "roll": lambda t, k: t.roll(1, _dim(t, k)) if t.dim() else None,
    "roll_flat": lambda t, k: t.roll(1),
    "sort": lambda t, k: t.sort(_dim(t, k)).values if t.dim() else None,
    "softmax": lambda t, k: t.softmax(_dim(t, k)) if t.dim() else None,
    "unsqueeze": lambda t, k: t.unsqueeze(k % (t.dim() + 1)),
    "squeeze": lambda t, k: t.squeeze(),
    "transpose": lambda t, k: t.transpose(_dim(t, k), _dim(t, k + 1)) if t.dim() else None,
    "t": lambda t, k: t.t() if t.dim() <= 2 else None,
    "mT": lambda t, k: t.mT if t.dim() >= 2 else None,
    "permute": lambda t, k: (
        t.permute(*[(i + k) % t.dim() for i in range(t.dim())]) if t.dim() else None
    ),
    "movedim": lambda t, k: t.movedim(0, -1) if t.dim() else None,
    "flatten": lambda t, k: t.reshape(-1),
    "view_back": lambda t, k: t.reshape(-1).reshape(t.shape),
    "reshape_split": lambda t, k: t.reshape(t.shape[:-1] + (1, t.shape[-1])) if t.dim() else None,
    "expand": lambda t, k: t.expand((2,) + tuple(t.shape)),
    "cat": lambda t, k: torch.cat([t, t], _dim(t, k)) if t.dim() else None,
    "cat_other": lambda t, k: torch.cat([t, 2 * t], _dim(t, k)) if t.dim() else None,
    "stack": lambda t, k: torch.stack([t, t.exp()], k % (t.dim() + 1)),
    "int_index": lambda t, k: t[k % t.shape[0]] if t.dim() and t.shape[0] else None,
    "slice": lambda t, k: t[..., 1:] if t.dim() and t.shape[-1] > 1 else None,
    "full_slice": lambda t, k: t[:, ...] if t.dim() else None,
    "none_index": lambda t, k: t[None, ..., None],
    "select": lambda t, k: t.select(_dim(t, k), 0) if t.dim() else None,
    "unbind": lambda t, k: t.unbind(_dim(t, k))[0] if t.dim() else None,
    "narrow_full": lambda t, k: t.narrow(_dim(t, k), 0, t.shape[_dim(t, k)]) if t.dim() else None,
    "chunk": lambda t, k: t.chunk(2, _dim(t, k))[0] if t.dim() else None,
    "index_select": lambda t, k: (
        t.index_select(_dim(t, k), torch.arange(t.shape[_dim(t, k)]).flip(0)) if t.dim() else None
    ),
    "gather": lambda t, k: (
        t.gather(_dim(t, k), torch.zeros(t.shape, dtype=torch.long)) if t.dim() else None
    ),
    "advanced": lambda t, k: t[..., torch.arange(t.shape[-1]).roll(1)] if t.dim() else None,
    "advanced_front": lambda t, k: t[torch.zeros(2, dtype=torch.long)] if t.dim() else None,
    "matmul_right": lambda t, k: t @ _const((t.shape[-1], t.shape[-1])) if t.dim() else None,
    "matmul_left": lambda t, k: _const((2, t.shape[-2])) @ t if t.dim() >= 2 else None,
    "matmul_vec": lambda t, k: t @ _const(t.shape[-1:]) if t.dim() else None,
    "linear": lambda t, k: F.linear(t, _const((2, t.shape[-1]))) if t.dim() else None,
    "one_hot_weights": lambda t, k: F.one_hot((t > 0).long(), 2).double() @ _const((2,)) + t,
    "where": lambda t, k: torch.where(t > 0, t, t.flip(_dim(t, k))) if t.dim() else None,
    "einsum_unlisted": lambda t, k: torch.einsum("...->...", t),
    "setitem_copy": lambda t, k: _written(t, k),
}


def _written(t: torch.Tensor, k: int) -> torch.Tensor | None:
    # A plain buffer written with t: in place along the same dims, or shifted.
    buf = torch.zeros(t.shape, dtype=t.dtype)
    if k % 2 or not t.dim():
        buf[...] = t
    else:
        buf[1:] = t[:-1]
    return buf


def _check(x: torch.Tensor, out: Any) -> None:
    if not isinstance(out, torch.Tensor) or "z" not in get_provenance(out):
        return
    plain = detach_provenance(out)
    prov = raw_provenance(out)
    claims = {f: aligned_dim(prov, "z", f) for f in PLATES}
    if all(d is None for d in claims.values()) or not plain.requires_grad:
        return
    flat = plain.reshape(-1)
    for o in range(flat.numel()):
        (grad,) = torch.autograd.grad(flat[o], x, retain_graph=True, allow_unused=True)
        if grad is None:
            continue
        index = torch.unravel_index(torch.tensor(o), plain.shape)
        for f, d in claims.items():
            if d is None:
                continue
            z_dim, _ = PLATES[f]
            own = int(index[d])
            reads = grad.ne(0).nonzero()
            along = {int(r[z_dim]) for r in reads}
            assert along <= {own}, (
                f"claimed aligned with plate {f} at dim {d}, but output element "
                f"{tuple(int(i) for i in index)} reads z at {sorted(along)} along {f}"
            )


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from(sorted(OPS)), st.integers(0, 5)), min_size=1, max_size=4))
def test_claims_never_overclaim(program: list[tuple[str, int]]) -> None:
    x, z = claimed()
    t: Any = z
    with aligned_run():
        for name, k in program:
            if t.numel() == 0 or t.numel() > 200:
                return
            nxt = OPS[name](t, k)
            if nxt is None:
                continue
            t = nxt
            _check(x, t)


@pytest.mark.parametrize("name", sorted(OPS))
def test_every_op_keeps_a_true_claim_or_mixes(name: str) -> None:
    x, z = claimed()
    with aligned_run():
        out = OPS[name](z, 1)
        if out is not None:
            _check(x, out)


@pytest.mark.parametrize(
    "op, expected",
    [
        (lambda z: z + 1, {"p": -1, "q": -2}),
        (lambda z: z.sum(-1), {"p": None, "q": -1}),
        (lambda z: z.sum(-2, keepdim=True), {"p": -1, "q": None}),
        (lambda z: z.roll(1, -1), {"p": None, "q": -2}),
        (lambda z: z.T, {"p": -2, "q": -1}),
        (lambda z: z @ torch.ones(3, 4, dtype=torch.float64), {"p": None, "q": -2}),
        (lambda z: torch.ones(4, 2, dtype=torch.float64) @ z, {"p": -1, "q": None}),
        (lambda z: z.unsqueeze(-1), {"p": -2, "q": -3}),
        (lambda z: z[0], {"p": -1, "q": None}),
        (lambda z: z[:, 0], {"p": None, "q": -1}),
        (lambda z: torch.cat([z, z], -1), {"p": None, "q": -2}),
        (lambda z: torch.stack([z, z], 0), {"p": -1, "q": -2}),
        (lambda z: z.cumsum(-2), {"p": -1, "q": None}),
        (lambda z: z.reshape(6), {"p": None, "q": None}),
        (lambda z: z.expand(4, 2, 3), {"p": -1, "q": -2}),
        (lambda z: torch.einsum("ij->ij", z), {"p": None, "q": None}),
    ],
)
def test_known_ops_map_claims_exactly(op: Callable[[Any], Any], expected: dict[str, Any]) -> None:
    # The precision side: ops with a mapper keep what is still aligned.
    _, z = claimed()
    with aligned_run():
        out = op(z)
    assert {f: aligned_dim(raw_provenance(out), "z", f) for f in PLATES} == expected


def test_claims_hidden_from_get_provenance_and_display() -> None:
    _, z = claimed()
    with aligned_run():
        out = z.sum(-1)
    assert get_provenance(out) == {"z"}
    assert "Claim" not in repr(out)
    assert any(isinstance(e, Claim) for e in raw_provenance(out))


def test_hand_tagged_values_inside_aligned_run_are_mixed() -> None:
    # Provenance attached without positions must not look aligned after a union.
    _, z = claimed()
    with aligned_run():
        other = track_provenance(torch.ones(3, dtype=torch.float64), {"z"})
        out = z + other
    assert aligned_dim(raw_provenance(out), "z", "p") is None


def test_view_taken_before_write_of_claimed_values_is_mixed() -> None:
    # v reads t shifted by one; writing z into t must not make v look aligned.
    _, z = claimed()
    with aligned_run():
        t = torch.zeros(2, 4, dtype=torch.float64)
        t = ProvenanceTensor(t, {"w"})
        v = t[:, 1:]
        t[:, :3] = z
        assert aligned_dim(raw_provenance(t), "z", "p") is None  # a partial write
        t2 = torch.zeros(2, 3, dtype=torch.float64)
        t2 = ProvenanceTensor(t2, {"w"})
        shifted = t2[:, 1:]
        t2[...] = z  # aligned in t2 itself ...
        assert aligned_dim(raw_provenance(t2), "z", "p") == -1
        assert aligned_dim(raw_provenance(shifted), "z", "p") is None  # ... not in its view
    assert "z" in get_provenance(v)


def test_control_flow_scopes_hold_no_claims() -> None:
    from tracegraph.ops.provenance import control_flow_scope

    _, z = claimed()
    with aligned_run(), control_flow_scope() as scope:
        z.tolist()
    assert scope.provenance == {"z"}
