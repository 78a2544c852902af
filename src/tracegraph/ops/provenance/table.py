"""Which torch ops belong to which provenance rule category (data only).

:mod:`tracegraph.ops.provenance.rules` installs :data:`TABLE`; each entry is
``(category, namespace, names)`` with names separated by whitespace.  A name
``"shape.__get__"`` is a property accessor of ``torch.Tensor``.  Names a torch
version lacks are skipped; ``tests/ops`` checks that every name resolves in the
pinned torch.  In-place ops are registered by their trailing underscore (see
:mod:`~tracegraph.ops.provenance.rules`), so they are not listed here.

>>> categories = {category for category, _, _ in TABLE}
>>> "union" in categories and "control_flow" in categories
True
"""

from __future__ import annotations

import inspect
from types import ModuleType
from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["ELEMENTWISE_NAMES", "POSITIONS", "TABLE", "entries", "inplace_positions", "positions"]

T = torch.Tensor

# Elementwise math, comparisons, random draws parameterized by tensors, creation
# "like" an input: in both ``torch`` and ``Tensor``.  Elementwise with
# broadcasting: output element j reads input elements j (right-aligned), so the
# union of the inputs' provenance is also right for plate claims (claims.py).
_ELEMENTWISE = """
abs absolute acos arccos acosh arccosh add addcdiv addcmul angle asin arcsin asinh arcsinh
atan arctan atan2 arctan2 atanh arctanh bitwise_and bitwise_not bitwise_or bitwise_xor
bitwise_left_shift bitwise_right_shift ceil clamp clamp_min clamp_max clip conj_physical
copysign cos cosh deg2rad digamma div divide erf erfc erfinv exp exp2 expm1 fix float_power
floor floor_divide fmax fmin fmod frac frexp gcd lcm heaviside hypot i0 igamma igammac
isfinite isinf isnan isneginf isposinf isreal isclose ldexp lerp lgamma log log10 log1p log2
logaddexp logaddexp2 logical_and logical_not logical_or logical_xor logit maximum minimum
mul multiply mvlgamma nan_to_num neg negative nextafter polygamma pow rad2deg reciprocal
remainder round rsqrt sgn sigmoid sign signbit sin sinc sinh sqrt square sub subtract tan
tanh true_divide trunc xlogy eq ne not_equal lt less le less_equal gt greater ge
greater_equal relu hardshrink masked_fill bernoulli
poisson binomial normal rand_like randn_like randint_like zeros_like ones_like
empty_like full_like clone new_zeros new_ones new_empty new_full
_standard_gamma _standard_gamma_grad rrelu celu selu threshold dropout alpha_dropout
feature_dropout feature_alpha_dropout full tril triu type
"""
# Not elementwise although every output may depend on every input: union of
# provenance, plate claims mixed (rules.py refines some with position mappers).
_MIXING_ELEMENTS = """
softmax log_softmax multinomial masked_scatter prelu _sample_dirichlet _dirichlet_grad
_is_all_true _is_any_true tensor as_tensor asarray new_tensor new
"""
# Reductions, scans, sorting, linear algebra, gather/scatter, joins.
_REDUCTIONS = """
sum nansum mean nanmean prod amax amin aminmax max min argmax argmin all any logsumexp
std var std_mean var_mean median nanmedian mode norm count_nonzero kthvalue topk sort
argsort msort quantile nanquantile dist renorm cumsum cumprod cummax cummin logcumsumexp
matmul mm bmm mv dot vdot inner outer ger addmm addmv addbmm baddbmm addr einsum tensordot
kron cross trace tril triu det logdet slogdet inverse pinverse cholesky cholesky_solve
cholesky_inverse triangular_solve qr svd chain_matmul matrix_power matrix_exp lu_solve
lu_unpack cdist cartesian_prod cov corrcoef diag diag_embed diagflat block_diag gather
scatter scatter_add scatter_reduce index_select index_add index_copy index_fill index_put
index_reduce take take_along_dim put searchsorted bucketize histc histogram flip fliplr
flipud roll rot90 repeat tile cat concat concatenate stack hstack vstack dstack
column_stack row_stack combinations diff trapezoid trapz cumulative_trapezoid
select_scatter slice_scatter diagonal_scatter narrow_copy nonzero_static sum_to_size
"""
# May return a view of (or the very same object as) an input; their dims move
# (plate claims mixed unless rules.py gives a position mapper).
_VIEWS = """
view view_as reshape reshape_as expand expand_as broadcast_to transpose
swapaxes swapdims t permute movedim moveaxis select narrow squeeze unsqueeze flatten
unflatten unbind split split_with_sizes tensor_split chunk hsplit vsplit dsplit diagonal
as_strided unfold view_as_real view_as_complex adjoint
atleast_1d atleast_2d atleast_3d meshgrid
"""
# Views and conversions that keep every element where it was (same shape, or
# broadcasting right-aligned): plate claims pass.
_SAME_VIEWS = "broadcast_tensors contiguous conj resolve_conj resolve_neg positive real imag"
# Tensor-only conversions: they return ``self`` when nothing changes.
_CONVERSIONS = "to type_as float double half bfloat16 int long short bool byte char cpu cuda"
_DYNAMIC_SHAPE = """
nonzero argwhere masked_select unique unique_consecutive bincount repeat_interleave
"""
# Outputs whose size comes from tensor *values* when a tracked tensor is passed.
_CREATION_FROM_VALUES = (
    "arange range linspace logspace zeros ones empty rand randn randint randperm eye"
)
_CONTROL_FLOW = "equal allclose is_nonzero"
_METADATA = """
dim ndimension is_floating_point is_complex is_signed is_conj is_neg is_inference
is_contiguous is_pinned is_shared is_set_to get_device data_ptr storage_offset
element_size dim_order register_hook register_post_accumulate_grad_hook retain_grad
backward result_type can_cast promote_types __dir__ __dlpack_device__
__sizeof__ __hash__
"""
_SHAPE_METADATA = "size numel nelement stride __len__ is_same_size"

_DUNDER_UNION = """
__abs__ __add__ __and__ __div__ __eq__ __floordiv__ __ge__ __gt__ __invert__ __le__
__lshift__ __lt__ __mod__ __mul__ __ne__ __neg__ __or__ __pos__ __pow__
__radd__ __rand__ __rdiv__ __rfloordiv__ __rlshift__ __rmod__ __rmul__
__ror__ __rpow__ __rrshift__ __rshift__ __rsub__ __rtruediv__ __rxor__ __sub__
__truediv__ __xor__
"""
_DUNDER_MIXING = "__matmul__ __rmatmul__ __reversed__ __array_wrap__"
_DUNDER_MUTATION = """
__iadd__ __iand__ __idiv__ __ifloordiv__ __ilshift__ __imod__ __imul__ __ior__ __ipow__
__irshift__ __isub__ __itruediv__ __ixor__ __setitem__ __setstate__ __delitem__
data.__set__ real.__set__ imag.__set__
"""
_TENSOR_CONTROL_FLOW = """
__bool__ __nonzero__ __int__ __long__ __float__ __complex__ __index__ __contains__
__array__ __dlpack__ item tolist numpy storage untyped_storage _typed_storage
__cuda_array_interface__.__get__
"""
_GETTERS_METADATA = """
dtype device layout ndim is_cpu is_cuda is_ipu is_maia is_meta is_mkldnn is_mps is_mtia
is_nested is_quantized is_sparse is_sparse_csr is_vulkan is_xla is_xpu itemsize name
output_nr requires_grad retains_grad _version _cdata _has_symbolic_sizes_strides
_python_dispatch volatile grad_dtype _backward_hooks _post_accumulate_grad_hooks
"""
_SETTERS_METADATA = "requires_grad name _backward_hooks grad_dtype"
_GETTERS_PLAIN = "grad grad_fn is_leaf _base _grad _grad_fn"

_SPECIAL = """
airy_ai bessel_j0 bessel_j1 bessel_y0 bessel_y1 digamma entr erf erfc erfcx erfinv exp2
expit expm1 gammainc gammaincc gammaln i0 i0e i1 i1e log1p log_ndtr logit
modified_bessel_i0 modified_bessel_i1 modified_bessel_k0 modified_bessel_k1
multigammaln ndtr ndtri polygamma psi round scaled_modified_bessel_k0
scaled_modified_bessel_k1 sinc spherical_bessel_j0 xlog1py xlogy zeta
"""
_SPECIAL_MIXING = "log_softmax logsumexp softmax"
_LINALG = """
cholesky cholesky_ex cond cross det diagonal eig eigh eigvals eigvalsh householder_product
inv inv_ex ldl_factor ldl_factor_ex ldl_solve lstsq lu lu_factor lu_factor_ex lu_solve
matmul matrix_exp matrix_norm matrix_power matrix_rank multi_dot norm pinv qr slogdet
solve solve_ex solve_triangular svd svdvals tensorinv tensorsolve vander vecdot
vector_norm
"""
# nn.functional ops that act elementwise (those with an ``inplace`` flag are
# registered by rules.py with their flag).
_FUNCTIONAL_ELEMENTWISE = """
gelu logsigmoid sigmoid softplus softsign tanh tanhshrink hardshrink softshrink
"""
_FUNCTIONAL = """
adaptive_avg_pool1d adaptive_avg_pool2d adaptive_avg_pool3d adaptive_max_pool1d
adaptive_max_pool1d_with_indices adaptive_max_pool2d adaptive_max_pool2d_with_indices
adaptive_max_pool3d adaptive_max_pool3d_with_indices affine_grid avg_pool1d avg_pool2d
avg_pool3d batch_norm bilinear binary_cross_entropy binary_cross_entropy_with_logits
channel_shuffle conv1d conv2d conv3d conv_tbc conv_transpose1d conv_transpose2d
conv_transpose3d cosine_embedding_loss cosine_similarity cross_entropy ctc_loss embedding
embedding_bag fold gaussian_nll_loss glu grid_sample group_norm gumbel_softmax
hinge_embedding_loss huber_loss instance_norm interpolate kl_div l1_loss
layer_norm linear local_response_norm log_softmax lp_pool1d lp_pool2d
lp_pool3d margin_ranking_loss max_pool1d max_pool1d_with_indices max_pool2d
max_pool2d_with_indices max_pool3d max_pool3d_with_indices max_unpool1d max_unpool2d
max_unpool3d mse_loss multi_margin_loss multilabel_margin_loss multilabel_soft_margin_loss
nll_loss normalize pad pairwise_distance pdist pixel_shuffle pixel_unshuffle
poisson_nll_loss prelu rms_norm scaled_dot_product_attention smooth_l1_loss
soft_margin_loss softmax softmin triplet_margin_loss triplet_margin_with_distance_loss
unfold upsample upsample_bilinear upsample_nearest
"""

TABLE: list[tuple[str, Any, str]] = [
    ("union", torch, _ELEMENTWISE),
    ("union", T, _ELEMENTWISE + _DUNDER_UNION),
    ("mixing", torch, _MIXING_ELEMENTS + _REDUCTIONS),
    ("mixing", T, _MIXING_ELEMENTS + _REDUCTIONS + _DUNDER_MIXING),
    ("view", torch, _VIEWS),
    ("view", T, _VIEWS + " T.__get__ mT.__get__ H.__get__ mH.__get__"),
    ("same_view", torch, _SAME_VIEWS),
    ("same_view", T, _SAME_VIEWS + " " + _CONVERSIONS + " real.__get__ imag.__get__"),
    ("alias", T, "detach data.__get__"),
    ("alias", torch, "detach"),
    ("dynamic_shape", torch, _DYNAMIC_SHAPE + _CREATION_FROM_VALUES),
    ("dynamic_shape", T, _DYNAMIC_SHAPE),
    ("mutation", T, _DUNDER_MUTATION),
    ("control_flow", torch, _CONTROL_FLOW),
    ("control_flow", T, _CONTROL_FLOW + _TENSOR_CONTROL_FLOW),
    ("metadata", torch, _METADATA + " is_tensor _C._get_tracing_state"),
    ("metadata", T, _METADATA),
    ("metadata", T, " ".join(f"{name}.__get__" for name in _GETTERS_METADATA.split())),
    ("metadata", T, " ".join(f"{name}.__set__" for name in _SETTERS_METADATA.split())),
    ("metadata", torch.autograd, "backward"),
    ("mixing", torch.autograd, "grad"),
    ("shape_metadata", torch, _SHAPE_METADATA),
    ("shape_metadata", T, _SHAPE_METADATA + " shape.__get__ nbytes.__get__"),
    ("plain_metadata", T, " ".join(f"{name}.__get__" for name in _GETTERS_PLAIN.split())),
    ("plain_metadata", T, "grad.__set__ _grad.__set__ _is_view"),
    ("display", T, "__repr__ __str__ __format__"),
    ("union", torch.special, _SPECIAL),
    ("mixing", torch.special, _SPECIAL_MIXING),
    ("mixing", torch.linalg, _LINALG),
    ("union", F, _FUNCTIONAL_ELEMENTWISE),
    ("mixing", F, _FUNCTIONAL),
]

#: Position mappers (``tracegraph.ops.provenance.positions``) refining the plate
#: claims of ops whose dims move: ``(mapper name, namespace, names)``; the
#: mappers are named in ``rules.py``.  An op listed here keeps its category's
#: provenance rule above.
POSITIONS: list[tuple[str, Any, str]] = [
    (
        "dim",
        torch,
        """sum nansum mean nanmean prod amax amin max min argmax argmin all any logsumexp std
        var std_mean var_mean median nanmedian count_nonzero cumsum cumprod cummax cummin
        logcumsumexp softmax log_softmax select""",
    ),
    (
        "dim",
        T,
        """sum nansum mean nanmean prod amax amin max min argmax argmin all any logsumexp std
        var median nanmedian count_nonzero cumsum cumprod cummax cummin logcumsumexp softmax
        log_softmax select""",
    ),
    ("dim_kw", torch, "aminmax"),
    ("dim_kw", T, "aminmax"),
    ("dim_last", torch, "sort argsort mode"),
    ("dim_last", T, "sort argsort mode"),
    ("dim_first", torch, "unbind"),
    ("dim_first", T, "unbind"),
    ("dim_at_2", torch, "norm quantile nanquantile"),
    ("dim_at_2", T, "norm quantile nanquantile"),
    ("dim_last_at_2", torch, "kthvalue topk diff"),
    ("dim_last_at_2", T, "kthvalue topk diff"),
    ("flip", torch, "flip"),
    ("flip", T, "flip"),
    ("roll", torch, "roll"),
    ("roll", T, "roll"),
    ("first", torch, "flipud msort"),
    ("first", T, "flipud msort"),
    ("second", torch, "fliplr"),
    ("second", T, "fliplr"),
    ("matmul", torch, "matmul mm bmm mv"),
    ("matmul", T, "matmul mm bmm mv __matmul__"),
    ("matmul", torch.linalg, "matmul"),
    ("rmatmul", T, "__rmatmul__"),
    (
        "reshape",
        torch,
        "reshape flatten unflatten squeeze unsqueeze atleast_1d atleast_2d atleast_3d",
    ),
    ("reshape", T, "view view_as reshape reshape_as flatten unflatten squeeze unsqueeze"),
    (
        "same",
        torch,
        "broadcast_to narrow split split_with_sizes tensor_split chunk hsplit vsplit dsplit",
    ),
    (
        "same",
        T,
        """expand expand_as broadcast_to narrow split split_with_sizes tensor_split chunk hsplit
        vsplit dsplit""",
    ),
    ("permute", torch, "permute"),
    ("permute", T, "permute"),
    ("transpose", torch, "transpose swapaxes swapdims"),
    ("transpose", T, "transpose swapaxes swapdims"),
    ("movedim", torch, "movedim moveaxis"),
    ("movedim", T, "movedim moveaxis"),
    ("reverse", torch, "t"),
    ("reverse", T, "t T.__get__ H.__get__"),
    ("swap_last", torch, "adjoint"),
    ("swap_last", T, "adjoint mT.__get__ mH.__get__"),
    ("cat", torch, "cat concat concatenate"),
    ("stack", torch, "stack"),
    ("gather", torch, "gather"),
    ("gather", T, "gather"),
    ("take_along_dim", torch, "take_along_dim"),
    ("take_along_dim", T, "take_along_dim"),
    ("index_select", torch, "index_select"),
    ("index_select", T, "index_select"),
    ("linear", F, "linear"),
    ("dim", F, "softmax log_softmax softmin glu"),
    ("dim", torch.special, "softmax log_softmax logsumexp"),
    ("gumbel_softmax", F, "gumbel_softmax"),
    ("normalize", F, "normalize"),
    (
        "loss",
        F,
        """binary_cross_entropy binary_cross_entropy_with_logits mse_loss l1_loss
        smooth_l1_loss huber_loss soft_margin_loss poisson_nll_loss kl_div""",
    ),
]


def _resolve(namespace: ModuleType | type, name: str) -> Any:
    owner, _, attr = name.partition(".")
    if owner == "_C":  # "_C._get_tracing_state" on torch
        return getattr(torch._C, attr, None)
    func = getattr(namespace, owner, None)
    return getattr(func, attr, None) if attr and func is not None else func


def entries() -> list[tuple[str, Any, str, Any]]:
    """Resolve :data:`TABLE` into ``(category, namespace, name, func)`` rows.

    ``func`` is ``None`` for names the installed torch lacks.

    >>> ("union", torch, "add", torch.add) in entries()
    True
    """
    return [
        (category, namespace, name, _resolve(namespace, name))
        for category, namespace, names in TABLE
        for name in names.split()
    ]


#: Names whose in-place form (``name_``) writes elementwise into ``self``.
ELEMENTWISE_NAMES: frozenset[str] = frozenset(
    (_ELEMENTWISE + " copy fill zero uniform exponential geometric log_normal cauchy").split()
)


def positions() -> list[tuple[str, Any, str, Any]]:
    """Resolve :data:`POSITIONS` into ``(mapper name, namespace, name, func)`` rows.

    >>> ("matmul", torch, "matmul", torch.matmul) in positions()
    True
    """
    return [
        (mapper, namespace, name, _resolve(namespace, name))
        for mapper, namespace, names in POSITIONS
        for name in names.split()
    ]


def inplace_positions() -> dict[str, int]:
    """Map ``nn.functional`` ops taking an ``inplace`` flag to its positional index.

    >>> inplace_positions()["relu"]
    1
    """
    positions = {}
    for name in """relu relu6 elu selu celu leaky_relu hardtanh rrelu threshold dropout
    alpha_dropout feature_alpha_dropout dropout1d dropout2d dropout3d hardswish hardsigmoid
    silu mish""".split():
        fn = getattr(F, name, None)
        if fn is None:
            continue
        params = list(inspect.signature(fn).parameters)
        if "inplace" in params:
            positions[name] = params.index("inplace")
    return positions
