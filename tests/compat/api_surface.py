"""The Pyro 1.9.2 API surface tracegraph mirrors, and how to compare one module.

For every in-scope Pyro module (issue 10) the public names are its ``__all__`` or,
without one, every name bound in it that is not a module and not a standard-library
helper it imported (``typing.Optional``, ``functools.partial``, a ``logging.Logger``).
Each must exist at the same path under ``tracegraph`` with a compatible signature;
a class's public members are compared the same way.  Names left out on purpose are
listed in :data:`OUT_OF_SCOPE` with their reason.

Run ``python tests/compat/api_surface.py`` for a report of what is missing.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

#: The Pyro modules in scope, in the order of issue 10.
MODULES = [
    "pyro",
    "pyro.util",
    "pyro.primitives",
    "pyro.poutine",
    "pyro.poutine.runtime",
    "pyro.poutine.messenger",
    "pyro.poutine.handlers",
    "pyro.poutine.util",
    "pyro.poutine.trace_struct",
    "pyro.poutine.trace_messenger",
    "pyro.poutine.plate_messenger",
    "pyro.infer",
    "pyro.infer.elbo",
    "pyro.infer.trace_elbo",
    "pyro.infer.trace_mean_field_elbo",
    "pyro.infer.tracegraph_elbo",
    "pyro.infer.renyi_elbo",
    "pyro.infer.svi",
    "pyro.infer.importance",
    "pyro.infer.predictive",
    "pyro.infer.inspect",
    "pyro.infer.util",
    "pyro.infer.abstract_infer",
    "pyro.ops.provenance",
    "pyro.params",
    "pyro.params.param_store",
    "pyro.optim",
    "pyro.optim.optim",
    "pyro.distributions",
    "pyro.distributions.transforms",
    "pyro.distributions.constraints",
    "pyro.distributions.util",
    "pyro.distributions.testing.fakes",
    "pyro.distributions.torch_distribution",
    # Issue 14: pyro.nn and the autoguides.
    "pyro.nn",
    "pyro.nn.module",
    "pyro.nn.dense_nn",
    "pyro.poutine.guide",
    "pyro.infer.autoguide",
    "pyro.infer.autoguide.initialization",
    "pyro.infer.autoguide.guides",
    "pyro.infer.autoguide.effect",
    "pyro.infer.autoguide.utils",
]

# Reasons shared by many entries.
ENUM = "enumeration is out of scope (issue 10): no TraceEnum_ELBO, config_enumerate, Vindex"
MCMC = "MCMC/HMC/NUTS, SMC, SVGD, CSIS are out of scope (issue 10)"
REPARAM = "poutine.reparam and pyro.infer.reparam are out of scope (issue 10)"
DEPRECATED = "deprecated alias, out of scope (issue 10)"
HOROVOD = "Horovod is out of scope (issue 10); issue 15 builds torch.distributed instead"
AUTOGUIDE_FLOWS = (
    "a normalizing-flow guide or its autoregressive network: Pyro's learnable flows are out "
    "of scope (issue 10), and issue 14 lists no flow guide"
)
AUTOGUIDE_NOT_LISTED = (
    "not among the autoguides issue 14 lists (AutoDelta, AutoNormal, the AutoContinuous "
    "family, AutoLaplaceApproximation, the AutoMessengers, AutoGuideList, AutoCallable)"
)
RENYI = "multi-sample objectives have their own issue (13)"
FLOWS = "Pyro's learnable normalizing flows are not torch distributions (issue 10's scope)"
PYRO_DIST = "a Pyro-specific distribution outside torch.distributions (issue 10's scope)"
HMM = (
    "a Pyro-specific structured distribution for HMM/enumeration inference (parallel-scan "
    "marginalization), outside issue 10's scope"
)
COALESCENT = "a phylogenetic coalescent likelihood from Pyro's epidemiology tools, outside issue 10"
MATCHING = (
    "a combinatorial distribution over graphs or matchings (for enumeration and MCMC), "
    "outside issue 10's scope"
)
GRADIENT_RESEARCH = (
    "a Normal variant whose point is a research gradient estimator (Pyro-specific, not a torch "
    "distribution), outside issue 10's scope"
)
JIT = "torch.jit tracing helper of Pyro's own JIT, which tracegraph does not use"
PRIVATE_HELPER = "an implementation helper Pyro imports into this module, not its API"

# Pyro's learnable normalizing flows and conditional transforms (pyro.distributions.transforms).
_FLOW_NAMES = [
    "AffineAutoregressive",
    "AffineCoupling",
    "BatchNorm",
    "BlockAutoregressive",
    "ConditionalAffineAutoregressive",
    "ConditionalAffineCoupling",
    "ConditionalGeneralizedChannelPermute",
    "ConditionalHouseholder",
    "ConditionalMatrixExponential",
    "ConditionalNeuralAutoregressive",
    "ConditionalPlanar",
    "ConditionalRadial",
    "ConditionalSpline",
    "ConditionalSplineAutoregressive",
    "GeneralizedChannelPermute",
    "Householder",
    "MatrixExponential",
    "NeuralAutoregressive",
    "Planar",
    "Polynomial",
    "Radial",
    "Spline",
    "SplineAutoregressive",
    "SplineCoupling",
    "Sylvester",
    "affine_autoregressive",
    "affine_coupling",
    "batchnorm",
    "block_autoregressive",
    "conditional_affine_autoregressive",
    "conditional_affine_coupling",
    "conditional_generalized_channel_permute",
    "conditional_householder",
    "conditional_matrix_exponential",
    "conditional_neural_autoregressive",
    "conditional_planar",
    "conditional_radial",
    "conditional_spline",
    "conditional_spline_autoregressive",
    "generalized_channel_permute",
    "householder",
    "matrix_exponential",
    "neural_autoregressive",
    "planar",
    "polynomial",
    "radial",
    "spline",
    "spline_autoregressive",
    "spline_coupling",
    "sylvester",
]
FLOWS_NN = (
    "a learnable normalizing flow: needs pyro.nn (issue 14), outside issue 10's scope"
)

#: ``{pyro module: {name or Class.member: reason}}``.
OUT_OF_SCOPE: dict[str, dict[str, str]] = {
    "pyro": {
        "iarange": DEPRECATED,
        "irange": DEPRECATED,
        "random_module": DEPRECATED,
    },
    "pyro.util": {
        "check_traceenum_requirements": ENUM,
        "save_visualization": DEPRECATED + " (Pyro: 'DEPRECATED Use render_model instead')",
    },
    "pyro.primitives": {
        "iarange": DEPRECATED,
        "irange": DEPRECATED,
        "random_module": DEPRECATED,
    },
    "pyro.poutine": {
        "collapse": ENUM,
        "enum": ENUM,
        "reparam": REPARAM,
    },
    "pyro.poutine.handlers": {
        "CollapseMessenger": ENUM,
        "EnumMessenger": ENUM,
        "ReparamHandler": REPARAM,
        "ReparamMessenger": REPARAM,
        "collapse": ENUM,
        "enum": ENUM,
        "reparam": REPARAM,
    },
    "pyro.distributions": {
        "AVFMultivariateNormal": GRADIENT_RESEARCH,
        "CoalescentRateLikelihood": COALESCENT,
        "CoalescentTimes": COALESCENT,
        "CoalescentTimesWithRate": COALESCENT,
        "ConditionalDistribution": FLOWS_NN,
        "ConditionalTransform": FLOWS_NN,
        "ConditionalTransformModule": FLOWS_NN,
        "ConditionalTransformedDistribution": FLOWS_NN,
        "DiscreteHMM": HMM,
        "GammaGaussianHMM": HMM,
        "GaussianHMM": HMM,
        "GaussianMRF": HMM,
        "GaussianScaleMixture": GRADIENT_RESEARCH,
        "IndependentHMM": HMM,
        "LinearHMM": HMM,
        "OMTMultivariateNormal": GRADIENT_RESEARCH,
        "OneOneMatching": MATCHING,
        "OneTwoMatching": MATCHING,
        "SpanningTree": MATCHING,
    },
    "pyro.distributions.transforms": {name: FLOWS_NN for name in _FLOW_NAMES},
    "pyro.optim": {"HorovodOptimizer": HOROVOD},
    "pyro.infer": {
        "config_enumerate": ENUM,
        "infer_discrete": ENUM,
        "JitTraceEnum_ELBO": ENUM,
        "TraceEnum_ELBO": ENUM,
        "TraceTMC_ELBO": ENUM,
        "CSIS": MCMC,
        "HMC": MCMC,
        "MCMC": MCMC,
        "NUTS": MCMC,
        "RandomWalkKernel": MCMC,
        "SMCFilter": MCMC,
        "SVGD": MCMC,
        "IMQSteinKernel": MCMC,
        "RBFSteinKernel": MCMC,
        "EnergyDistance": "a scoring-rule objective outside the ELBO family (issue 10's scope)",
        "Trace_MMD": "a kernel objective outside the ELBO family (issue 10's scope)",
        "ReweightedWakeSleep": RENYI,
        "TraceTailAdaptive_ELBO": RENYI,
    },
    "pyro.infer.util": {
        "shared_intermediates": ENUM + " (opt_einsum's contraction cache)",
        "count_cached_ops": ENUM + " (opt_einsum's contraction cache)",
        "require_backward": ENUM + " (the einsum adjoint of infer_discrete)",
        "MarginalRing": ENUM + " (the tensor ring of TraceEnum_ELBO)",
        "Dice": ENUM + " (DiCE contracted over plate ordinals, used by TraceEnum_ELBO "
        "and TraceTMC_ELBO; tracegraph's per-site factor is compute_site_dice_factor)",
    },
    "pyro.nn": {
        "AutoRegressiveNN": AUTOGUIDE_FLOWS,
        "ConditionalAutoRegressiveNN": AUTOGUIDE_FLOWS,
        "MaskedLinear": AUTOGUIDE_FLOWS,
    },
    "pyro.infer.autoguide": {
        "AutoDiscreteParallel": ENUM
        + " (its sites are marked for parallel enumeration; tracegraph's AutoDiscrete "
        "samples discrete sites instead)",
        "AutoGaussian": AUTOGUIDE_NOT_LISTED + "; it runs on Pyro's funsor/Gaussian-tensor "
        "machinery, which issue 10 leaves out",
        "AutoIAFNormal": AUTOGUIDE_FLOWS,
        "AutoNormalizingFlow": AUTOGUIDE_FLOWS,
        "AutoStructured": AUTOGUIDE_NOT_LISTED,
    },
    "pyro.infer.autoguide.guides": {
        "AutoDiscreteParallel": ENUM + " (its sites are marked for parallel enumeration)",
        "AutoIAFNormal": AUTOGUIDE_FLOWS,
        "AutoNormalizingFlow": AUTOGUIDE_FLOWS,
        "affine_autoregressive": AUTOGUIDE_FLOWS,
        "config_enumerate": ENUM,
    },
}


@dataclass
class Problem:
    """One way tracegraph's module differs from Pyro's."""

    name: str
    what: str

    def __str__(self) -> str:
        return f"{self.name}: {self.what}"


_STDLIB = frozenset(sys.stdlib_module_names) | {"typing_extensions"}


def _defining_module(obj: Any) -> str:
    mod = getattr(obj, "__module__", None)
    if not isinstance(mod, str):
        mod = type(obj).__module__
    return mod or ""


def public_names(module: Any) -> list[str]:
    """The public names of a Pyro module (see the module docstring)."""
    names = getattr(module, "__all__", None)
    if names is not None:
        return list(names)
    out = []
    for name, obj in vars(module).items():
        if name.startswith("_") or inspect.ismodule(obj):
            continue
        if _defining_module(obj).split(".")[0] in _STDLIB:
            continue
        out.append(name)
    return out


def tracegraph_path(pyro_path: str) -> str:
    return "tracegraph" + pyro_path[len("pyro") :]


def _simple(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str, tuple))


def signature_problems(name: str, theirs: Any, ours: Any) -> list[Problem]:
    """Differences between two callables' signatures that a caller would notice.

    Every parameter of Pyro's must be accepted by ours the same way (same name,
    kind and position; equal simple defaults); ours may add parameters only with
    defaults.  Either side's ``*args``/``**kwargs`` absorb what they can.
    """
    try:
        sig_t = inspect.signature(theirs)
    except (TypeError, ValueError):
        return []
    try:
        sig_o = inspect.signature(ours)
    except (TypeError, ValueError):
        return [Problem(name, "ours has no inspectable signature")]
    P = inspect.Parameter
    pt, po = list(sig_t.parameters.values()), list(sig_o.parameters.values())
    o_by_name = {p.name: p for p in po}
    o_var_pos = any(p.kind is P.VAR_POSITIONAL for p in po)
    o_var_kw = any(p.kind is P.VAR_KEYWORD for p in po)
    problems: list[Problem] = []
    positional_t = [p for p in pt if p.kind in (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD)]
    positional_o = [p for p in po if p.kind in (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD)]
    for i, p in enumerate(positional_t):
        if i < len(positional_o):
            q = positional_o[i]
            if q.name != p.name and p.kind is not P.POSITIONAL_ONLY:
                problems.append(
                    Problem(name, f"positional parameter {i} is {q.name!r}, Pyro's is {p.name!r}")
                )
                continue
        elif not o_var_pos:
            problems.append(Problem(name, f"missing positional parameter {p.name!r}"))
            continue
        else:
            q = None
        if q is not None and p.default is not P.empty:
            if q.default is P.empty:
                problems.append(Problem(name, f"parameter {p.name!r} needs a default"))
            elif _simple(p.default) and _simple(q.default) and p.default != q.default:
                problems.append(
                    Problem(name, f"{p.name}={q.default!r}, Pyro's default is {p.default!r}")
                )
    for p in pt:
        if p.kind is P.KEYWORD_ONLY:
            q = o_by_name.get(p.name)
            if q is None:
                if not o_var_kw:
                    problems.append(Problem(name, f"missing keyword parameter {p.name!r}"))
            elif q.kind not in (P.KEYWORD_ONLY, P.POSITIONAL_OR_KEYWORD):
                problems.append(Problem(name, f"{p.name!r} is not accepted by keyword"))
            elif p.default is not P.empty and q.default is P.empty:
                problems.append(Problem(name, f"keyword {p.name!r} needs a default"))
            elif _simple(p.default) and _simple(q.default) and p.default != q.default:
                problems.append(
                    Problem(name, f"{p.name}={q.default!r}, Pyro's default is {p.default!r}")
                )
        elif p.kind is P.VAR_POSITIONAL and not o_var_pos:
            problems.append(Problem(name, "Pyro's accepts *args, ours does not"))
        elif p.kind is P.VAR_KEYWORD and not o_var_kw:
            problems.append(Problem(name, "Pyro's accepts **kwargs, ours does not"))
    t_names = {p.name for p in pt}
    for q in po:
        if q.name in t_names or q.kind in (P.VAR_POSITIONAL, P.VAR_KEYWORD):
            continue
        if q.default is P.empty:
            problems.append(Problem(name, f"ours requires {q.name!r}, which Pyro's lacks"))
    return problems


def _members(cls: type) -> Iterator[tuple[str, Any]]:
    # Public members defined by Pyro (not inherited from torch or object).
    for name in dir(cls):
        # ``__enter__``/``__exit__`` follow the context-manager protocol, whatever
        # their parameters are named.
        if name.startswith("_") and name not in ("__call__", "__init__"):
            continue
        try:
            obj = inspect.getattr_static(cls, name)
        except AttributeError:
            continue
        owner = next((c for c in cls.__mro__ if name in vars(c)), None)
        if owner is None or not owner.__module__.startswith("pyro"):
            continue
        yield name, obj


def compare_module(pyro_path: str) -> list[Problem]:
    """Every way ``tracegraph``'s module at Pyro's path differs from Pyro's."""
    theirs = importlib.import_module(pyro_path)
    skip = OUT_OF_SCOPE.get(pyro_path, {})
    try:
        ours = importlib.import_module(tracegraph_path(pyro_path))
    except ImportError as e:
        return [Problem(pyro_path, f"module missing ({e})")]
    problems: list[Problem] = []
    for name in public_names(theirs):
        if name in skip:
            continue
        t_obj = getattr(theirs, name)
        if not hasattr(ours, name):
            problems.append(Problem(name, "missing"))
            continue
        o_obj = getattr(ours, name)
        if _defining_module(t_obj).startswith("torch") and not inspect.isclass(t_obj):
            # A torch object Pyro re-exports (a constraint, a function): ours must
            # behave the same, simplest by being it or of its type.
            if o_obj is not t_obj and type(o_obj) is not type(t_obj) and not callable(o_obj):
                problems.append(Problem(name, f"ours is {o_obj!r}, Pyro's is {t_obj!r}"))
            continue
        if inspect.isclass(t_obj):
            if not inspect.isclass(o_obj):
                problems.append(Problem(name, "Pyro's is a class, ours is not"))
                continue
            problems += signature_problems(name, t_obj, o_obj)
            for member, t_m in _members(t_obj):
                qual = f"{name}.{member}"
                if qual in skip:
                    continue
                if not hasattr(o_obj, member):
                    problems.append(Problem(qual, "missing"))
                    continue
                o_m = inspect.getattr_static(o_obj, member, None)
                t_f = getattr(t_m, "__func__", t_m)
                o_f = getattr(o_m, "__func__", o_m)
                # An abstract method's signature is a contract for implementers;
                # callers meet the concrete (torch) method, so only its presence counts.
                abstract = getattr(t_f, "__isabstractmethod__", False)
                if callable(t_f) and callable(o_f) and not inspect.isclass(t_f) and not abstract:
                    problems += signature_problems(qual, t_f, o_f)
        elif callable(t_obj):
            if not callable(o_obj):
                problems.append(Problem(name, "Pyro's is callable, ours is not"))
            else:
                problems += signature_problems(name, t_obj, o_obj)
    return problems


def main() -> None:
    total = 0
    for path in sys.argv[1:] or MODULES:
        problems = compare_module(path)
        total += len(problems)
        print(f"== {path}: {len(problems)} problem(s)")
        for p in problems:
            print(f"   {p}")
    print(f"{total} problem(s)")


if __name__ == "__main__":
    main()
