"""Differential tests: the same programs through Pyro 1.9.2 and tracegraph.

Each program runs in both libraries from the same seed.  Where both draw the
same random numbers in the same order (tracegraph's inference code makes the
same runs as Pyro's, in the same order), values must coincide to float
rounding; elsewhere return types, shapes and keys are compared.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch

pyro = pytest.importorskip("pyro", reason="differential tests against pyro-ppl==1.9.2")

import pyro.distributions as pdist  # noqa: E402
import pyro.infer as pinfer  # noqa: E402
import pyro.infer.importance as pimportance  # noqa: E402
import pyro.infer.util as putil  # noqa: E402
import pyro.ops.stats as pstats  # noqa: E402
import pyro.optim as poptim  # noqa: E402
import pyro.util as pyro_util  # noqa: E402
from pyro.poutine.util import site_is_subsample as p_site_is_subsample  # noqa: E402

import tracegraph  # noqa: E402
import tracegraph.distributions as tdist  # noqa: E402
import tracegraph.infer as tinfer  # noqa: E402
import tracegraph.infer.importance as timportance  # noqa: E402
import tracegraph.infer.util as tutil  # noqa: E402
import tracegraph.optim as toptim  # noqa: E402
from tracegraph.infer.generalized_pareto import fit_generalized_pareto  # noqa: E402
from tracegraph.infer.validation import check_site_shape  # noqa: E402
from tracegraph.infer.waic import waic  # noqa: E402
from tracegraph.ops.tensor_checks import warn_if_nan  # noqa: E402
from tracegraph.poutine.sites import site_is_subsample  # noqa: E402

LIBS = {
    "pyro": (pyro, pdist, pinfer, pimportance, poptim),
    "tracegraph": (tracegraph, tdist, tinfer, timportance, toptim),
}


@pytest.fixture(autouse=True)
def _pyro_state():
    pyro.clear_param_store()
    pyro.enable_validation(True)
    yield
    pyro.clear_param_store()


def both(program: Callable[..., Any], seed: int = 0) -> tuple[Any, Any]:
    """Run ``program(lib, dist, infer, importance, optim)`` for each library from
    the same seed."""
    out = []
    for name in ("pyro", "tracegraph"):
        lib = LIBS[name][0]
        lib.clear_param_store()
        lib.set_rng_seed(seed)
        with warnings.catch_warnings():
            # Pyro's own deprecation warnings are not under test here.
            warnings.simplefilter("ignore", FutureWarning)
            out.append(program(*LIBS[name]))
    return out[0], out[1]


def assert_same(a: Any, b: Any, exact: bool = True) -> None:
    """Equal structure and values (``exact``: bit for bit, else to float32 rounding)."""
    if isinstance(a, dict):
        assert type(b) is dict or isinstance(b, dict), type(b)
        assert list(a) == list(b)
        for k in a:
            assert_same(a[k], b[k], exact)
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y, exact)
    elif isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.shape == b.shape and a.dtype == b.dtype
        if exact:
            assert torch.equal(a, b), (a, b)
        else:
            assert torch.allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True), (a, b)
    elif isinstance(a, float):
        assert isinstance(b, float) and (a == pytest.approx(b, rel=1e-6) or (a != a and b != b))
    else:
        assert a == b


def sites(trace: Any) -> list[str]:
    # Pyro records an index site for every plate; tracegraph only for subsampled
    # plates (a difference of the poutine layer, not of inference).
    return [
        n for n, s in trace.nodes.items()
        if not (s["type"] == "sample" and (p_site_is_subsample(s) or site_is_subsample(s)))
    ]


# -- programs ------------------------------------------------------------------------


def programs(
    lib: Any, dist: Any, deterministic: bool = True
) -> tuple[Callable[..., Any], Callable[..., Any]]:
    def model(data=None):
        z = lib.sample("z", dist.Normal(0.0, 1.0))
        w = lib.sample("w", dist.Normal(z, 1.0))
        if deterministic:
            lib.deterministic("d", z * 2)
        with lib.plate("data", 3):
            lib.sample("x", dist.Normal(z + w, 1.0), obs=data)
        return z + 1

    def guide(data=None):
        loc = lib.param("loc", torch.tensor(0.3))
        z = lib.sample("z", dist.Normal(loc, 1.0))
        lib.sample("w", dist.Normal(z / 2, 0.8))

    return model, guide


DATA = torch.tensor([0.5, 1.0, 1.5])


# -- Empirical -----------------------------------------------------------------------


def test_empirical_matches():
    samples = torch.randn(2, 6, 3)
    log_w = torch.randn(2, 6)

    def run(lib, dist, *_):
        d = dist.Empirical(samples, log_w)
        draws = d.sample((4,))
        return (d.batch_shape, d.event_shape, d.sample_size, d.mean, d.variance,
                d.log_prob(samples[:, 2]), d.log_prob(torch.zeros(2, 3)), draws,
                d.enumerate_support())

    a, b = both(run)
    assert_same(a, b, exact=False)  # the moments differ in summation order


@pytest.mark.parametrize(
    ("s_shape", "w_shape"), [((3, 2), (2,)), ((3,), (4,)), ((3, 2), (3, 2, 1))]
)
def test_empirical_bad_shapes_raise_value_error_in_both(s_shape, w_shape):
    for dist in (pdist, tdist):
        with pytest.raises(ValueError):
            dist.Empirical(torch.zeros(s_shape), torch.zeros(w_shape))


# -- Importance ----------------------------------------------------------------------


@pytest.mark.parametrize("with_guide", [True, False])
def test_importance_matches(with_guide):
    def run(lib, dist, infer, *_):
        model, guide = programs(lib, dist, deterministic=False)
        imp = infer.Importance(model, guide if with_guide else None, num_samples=6).run(DATA)
        lib.set_rng_seed(1)
        drawn = imp(DATA)
        marginals = imp.marginal(["z", "w"])
        return (
            type(imp.log_weights).__name__, torch.stack(imp.log_weights), imp.get_ESS(),
            imp.get_log_normalizer(), imp.get_normalized_weights(),
            imp.get_normalized_weights(log_scale=True), dict(marginals.support()),
            infer.EmpiricalMarginal(imp, ["z", "w"]).sample((5,)),
            dict(imp.information_criterion(True)), dict(imp.information_criterion()),
            drawn.nodes["z"]["value"], sites(imp.exec_traces[0]), imp.chain_ids,
        )

    a, b = both(run)
    assert_same(a, b, exact=False)


def test_importance_information_criterion_two_observed_sites_raise_in_both():
    # A deterministic site is observed too (as in Pyro): two observed sites.
    for lib, dist, infer, *_ in LIBS.values():
        model, _ = programs(lib, dist)
        with pytest.raises(ValueError):
            infer.Importance(model, num_samples=2).run(DATA).information_criterion()


def test_importance_default_num_samples_warns_in_both():
    for lib, dist, infer, *_ in LIBS.values():
        model, _ = programs(lib, dist)
        with pytest.warns(UserWarning, match="defaulting to 10"):
            imp = infer.Importance(model)
        assert imp.num_samples == 10


def test_importance_zero_samples_raise_runtime_error_in_both():
    for lib, dist, infer, *_ in LIBS.values():
        model, _ = programs(lib, dist)
        with pytest.raises(RuntimeError):
            infer.Importance(model, num_samples=0).run(DATA)


def test_vectorized_importance_weights_match():
    def run(lib, dist, infer, importance, *_):
        model, guide = programs(lib, dist)
        out = []
        for n in (1, 5):
            log_w, mt, gt = importance.vectorized_importance_weights(
                model, guide, DATA, num_samples=n, max_plate_nesting=1
            )
            out.append((log_w, sites(mt), sites(gt), mt.nodes["x"]["log_prob"].shape))
        return out

    a, b = both(run)
    assert_same(a, b, exact=False)
    for importance in (pimportance, timportance):
        model, guide = programs(pyro if importance is pimportance else tracegraph,
                                pdist if importance is pimportance else tdist)
        with pytest.raises(ValueError, match="max_plate_nesting"):
            importance.vectorized_importance_weights(model, guide, DATA, num_samples=2)


@pytest.mark.parametrize(
    "kw",
    [{"num_particles": 500}, {"num_particles": 1000, "max_simultaneous_particles": 100}],
)
def test_psis_diagnostic_matches_on_the_same_draws(kw):
    def run(lib, dist, infer, importance, *_):
        model, guide = programs(lib, dist)
        return importance.psis_diagnostic(model, guide, DATA, **kw)

    a, b = both(run)
    assert isinstance(b, float) and b == pytest.approx(a, abs=1e-9)


def test_psis_diagnostic_matches_on_fixed_weights():
    # A factor per particle (the particle plate is at dim -8) fixes the weights.
    log_w = torch.linspace(-3.0, 3.0, 600) ** 3 / 9

    def run(lib, *_):
        def model():
            lib.factor("w", log_w.reshape((-1,) + (1,) * 7))

        def guide():
            pass

        importance = pimportance if lib is pyro else timportance
        return importance.psis_diagnostic(model, guide, num_particles=600)

    a, b = both(run)
    assert b == pytest.approx(a, abs=1e-9)


def test_psis_diagnostic_too_few_particles_both_warn_inf():
    for lib, dist, _, importance, _ in LIBS.values():
        model, guide = programs(lib, dist)
        with pytest.warns(UserWarning, match="Not enough tail samples"):
            assert importance.psis_diagnostic(model, guide, DATA, num_particles=40) == math.inf


@pytest.mark.parametrize("seed", range(4))
def test_fit_generalized_pareto_matches_on_fixed_inputs(seed):
    torch.manual_seed(seed)
    for x in (torch.distributions.Exponential(1.0).sample((50,)),
              torch.distributions.Pareto(1.0, 1.5).sample((200,)) - 1, torch.rand(20)):
        k, sigma = fit_generalized_pareto(x)
        pk, psigma = pstats.fit_generalized_pareto(x)
        assert k == pytest.approx(pk, abs=1e-12) and sigma == pytest.approx(psigma, abs=1e-12)


@pytest.mark.parametrize("pointwise", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_waic_matches_on_fixed_inputs(pointwise, weighted):
    torch.manual_seed(5)
    loglik = torch.randn(7, 3, 2) * 3
    log_w = torch.randn(7) if weighted else None
    for dim, x in ((0, loglik), (1, loglik.transpose(0, 1)), (-1, loglik.movedim(0, -1))):
        assert_same(pstats.waic(x, log_w, pointwise, dim), waic(x, log_w, pointwise, dim), False)


# -- Predictive ----------------------------------------------------------------------


PREDICTIVE_CASES = [
    {"guide": True, "num_samples": 3},
    {"guide": True, "num_samples": 3, "parallel": True},
    {"posterior_samples": True},
    {"posterior_samples": True, "parallel": True},
    {"num_samples": 2},
    {"num_samples": 2, "parallel": True},
    {"num_samples": 2, "return_sites": ["z", "_RETURN", "d", "nope"]},
    {"num_samples": 2, "return_sites": ("z", "_RETURN"), "parallel": True},
    {"guide": True, "num_samples": 2, "return_sites": {"x", "_RETURN"}},
]


@pytest.mark.parametrize("case", PREDICTIVE_CASES)
@pytest.mark.parametrize("data", [None, DATA])
def test_predictive_matches(case, data):
    def run(lib, dist, infer, *_):
        model, guide = programs(lib, dist)
        kw = dict(case)
        if kw.pop("guide", False):
            kw["guide"] = guide
        if kw.pop("posterior_samples", False):
            kw["posterior_samples"] = {"z": torch.tensor([1.0, 2.0, 3.0])}
        p = infer.Predictive(model, **kw)
        out = p(data)
        lib.set_rng_seed(2)
        as_tuple = p.call(data)
        lib.set_rng_seed(2)
        with pytest.warns(DeprecationWarning, match="forward"):
            samples = p.get_samples(data)
        return out, as_tuple, samples, isinstance(p, torch.nn.Module)

    a, b = both(run)
    assert_same(a, b)


def test_predictive_vectorized_trace_matches():
    def run(lib, dist, infer, *_):
        model, guide = programs(lib, dist)
        tr = infer.Predictive(model, guide=guide, num_samples=3).get_vectorized_trace(DATA)
        names = sites(tr)
        return names, [tr.nodes[n].get("value") for n in names[1:]]

    a, b = both(run)
    assert_same(a, b)


def test_predictive_errors_and_warnings_match():
    for lib, dist, infer, *_ in LIBS.values():
        model, guide = programs(lib, dist)
        with pytest.raises(ValueError):
            infer.Predictive(model)
        with pytest.raises(ValueError):
            infer.Predictive(model, posterior_samples={"z": torch.zeros(2)}, guide=guide)
        with pytest.raises(RuntimeError), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # Pyro warns about the sizes first
            infer.Predictive(model, {"z": torch.zeros(2), "w": torch.zeros(3)})(DATA)
        with pytest.warns(UserWarning, match="Defaulting to 2"):
            assert infer.Predictive(model, {"z": torch.zeros(2)}, num_samples=5).num_samples == 2


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("target", ["none", "conditioned", "model"])
def test_weighed_predictive_matches(parallel, target):
    def run(lib, dist, infer, *_):
        model, guide = programs(lib, dist)

        def conditioned(data=None):
            return model(DATA)

        kw = {"none": {}, "conditioned": {"model_guide": conditioned},
              "model": {"model_guide": model}}[target]
        r = infer.WeighedPredictive(model, guide=guide, num_samples=4, parallel=parallel)(**kw)
        return (type(r).__name__, r.samples, r.log_weights, r.guide_log_prob, r.model_log_prob,
                r.get_ESS())

    a, b = both(run)
    assert_same(a, b, exact=False)


def test_mh_resampler_matches_step_by_step():
    def run(lib, dist, infer, *_):
        model, guide = programs(lib, dist)

        def conditioned(data=None):
            return model(DATA)

        wp = infer.WeighedPredictive(model, guide=guide, num_samples=8, return_sites=["_RETURN"])
        mh = infer.MHResampler(wp, source_samples_slice=slice(None),
                               stored_samples_slice=slice(-2, None))
        outs = []
        for step in range(4):
            lib.set_rng_seed(10 + step)
            out = mh(model_guide=conditioned)
            # Pyro updates its result in place later on: keep what each call returned.
            outs.append((
                {k: v.clone() for k, v in out.samples.items()},
                out.log_weights.clone(),
                mh.transition_count.clone(),
            ))
        stored = mh.get_stored_samples()
        return (outs, mh.get_min_sample_transition_count(), mh.get_total_transition_count(),
                mh.get_source_samples().samples, stored.samples, stored.log_weights)

    a, b = both(run)
    assert_same(a, b, exact=False)


# -- SVI -----------------------------------------------------------------------------


def test_svi_legacy_arguments_match():
    def run(lib, dist, infer, importance, optim):
        model, guide = programs(lib, dist)
        with pytest.warns(FutureWarning) as record:
            svi = infer.SVI(model, guide, optim.Adam({"lr": 0.1}), infer.Trace_ELBO(),
                            num_samples=4, num_steps=5)
        assert len(record) == 2
        with pytest.warns(FutureWarning, match="SVI.run"):
            svi.run(DATA)
        losses = [svi.step(DATA) for _ in range(3)]
        return (
            losses, svi.evaluate_loss(DATA), lib.param("loc").detach(),
            torch.stack([t.nodes["z"]["value"].detach() for t in svi.exec_traces]),
            svi.log_weights, sites(svi.exec_traces[0]), svi.num_chains,
            [p.grad for _, p in lib.get_param_store().named_parameters()],
        )

    a, b = both(run)
    assert_same(a, b, exact=False)


def test_svi_refuses_a_non_pyro_optim_with_value_error_in_both():
    for lib, dist, infer, *_ in LIBS.values():
        model, guide = programs(lib, dist)
        with pytest.raises(ValueError):
            infer.SVI(model, guide, torch.optim.Adam, infer.Trace_ELBO())


# -- TracePredictive -----------------------------------------------------------------


def test_trace_predictive_matches():
    def run(lib, dist, infer, *_):
        def model(data):
            z = lib.sample("z", dist.Normal(0.0, 1.0))
            with lib.plate("data", len(data)):
                loc = lib.sample("loc", dist.Normal(z, 1.0))
                lib.sample("x", dist.Normal(loc, 1.0), obs=data)
            return loc

        posterior = infer.Importance(model, num_samples=5).run(torch.tensor([0.3, 0.8, 1.1]))
        tp = infer.TracePredictive(model, posterior, num_samples=4).run(torch.zeros(5))
        kept = infer.TracePredictive(model, posterior, num_samples=2, keep_sites=["z"])
        kept.run(torch.zeros(2))
        return ([t.nodes["loc"]["value"] for t in tp.exec_traces],
                [sites(t) for t in tp.exec_traces],
                [t.nodes["loc"]["value"].shape for t in kept.exec_traces])

    a, b = both(run)
    # Pyro resizes the posterior's own sites in place, so a trace drawn a second
    # time is resampled from its already resized values; tracegraph leaves the
    # posterior as it is (docs/pyro-differences.md).  The first draw coincides.
    assert torch.equal(a[0][0], b[0][0])
    assert [v.shape for v in a[0]] == [v.shape for v in b[0]]
    assert a[1:] == b[1:]


# -- pyro.infer.util helpers ---------------------------------------------------------


def test_infer_util_number_helpers_match():
    t = torch.ones(2, 3, 4)
    for dims in [(-1,), (-3,), (-5,), (-2, -1), (-5, -1), ()]:
        assert putil.torch_sum(t, dims).shape == tutil.torch_sum(t, dims).shape
    for x in (3, 2.5, torch.tensor(2.5), torch.tensor(2)):
        assert putil.torch_item(x) == tutil.torch_item(x)
        assert type(putil.torch_item(x)) is type(tutil.torch_item(x))
    assert putil.torch_exp(1.0) == tutil.torch_exp(1.0)
    grads = []
    for util in (putil, tutil):
        a = torch.ones(2, requires_grad=True)
        (a * 2).sum().backward()
        util.zero_grads([a])
        grads.append(a.grad)
    assert_same(grads[0], grads[1])


def test_multi_frame_tensor_matches():
    from pyro.poutine.indep_messenger import CondIndepStackFrame as PF

    from tracegraph.poutine.runtime import CondIndepStackFrame as TF

    def build(F, MFT):
        a, b, s = F("a", -1, 3, 0, 3), F("b", -2, 2, 0, 2), F("s", None, 1, 0, 1)
        m = MFT(((a,), torch.ones(3)), ((a, b), torch.full((2, 3), 2.0)), ((), torch.tensor(5.0)))
        m.add(((a, s), torch.ones(2, 3)))
        targets = [(), (a,), (b,), (a, b), (s,)]
        m2 = MFT(((a,), torch.ones(1, 1, 3)), ((b,), torch.ones(1, 2, 1)))
        return [m.sum_to(t) for t in targets] + [m2.sum_to(t) for t in targets] + [MFT().sum_to(())]

    assert_same(build(PF, putil.MultiFrameTensor), build(TF, tutil.MultiFrameTensor))


def test_plate_helpers_and_dice_factor_match():
    def run(lib, dist, *_):
        p = torch.tensor(0.3, requires_grad=True)

        def guide():
            lib.sample("b", dist.Bernoulli(p))
            lib.sample("n", dist.Normal(p, 1.0))
            with lib.plate("a", 2, dim=-1):
                lib.sample("c", dist.Bernoulli(p))
                with lib.plate("d", 3, dim=-2):
                    lib.sample("e", dist.Bernoulli(p))

        tr = lib.poutine.trace(guide).get_trace()
        tr.compute_score_parts()
        tr.pack_tensors()
        util = putil if lib is pyro else tutil
        stacks = {k: [f.name for f in v] for k, v in util.get_plate_stacks(tr).items()}
        dims = util.get_dependent_plate_dims([tr.nodes[n] for n in ("b", "c", "e")])
        factors = []
        for name in ("b", "n", "c", "e"):
            log_factor, log_denom = util.compute_site_dice_factor(tr.nodes[name])
            grad = (torch.autograd.grad(log_factor.sum(), p)[0]
                    if isinstance(log_factor, torch.Tensor) else None)
            factors.append((torch.as_tensor(log_factor).detach(), log_denom, grad))
        raised = []
        for name in ("n", "b"):
            try:
                util.check_fully_reparametrized(tr.nodes[name])
                raised.append(None)
            except NotImplementedError:
                raised.append("NotImplementedError")
        return stacks, dims, factors, raised

    a, b = both(run)
    assert_same(a, b)


def test_plate_log_prob_sum_matches():
    def run(lib, dist, *_):
        def model():
            with lib.plate("p", 4, dim=-2):
                z = lib.sample("z", dist.Normal(0.0, 1.0))
                with lib.plate("d", 3, dim=-1):
                    lib.sample("x", dist.Normal(z, 1.0))

        tr = lib.poutine.util.prune_subsample_sites(lib.poutine.trace(model).get_trace())
        tr.compute_log_prob()
        tr.pack_tensors()
        util = putil if lib is pyro else tutil
        # (Pyro refuses a plate that some site is outside of; tracegraph adds such
        # a site's total to every entry.)
        return util.plate_log_prob_sum(tr, tr.plate_to_symbol["p"])

    a, b = both(run)
    assert_same(a, b, exact=False)


CHECK_SITE_CASES = [
    ((3,), [("a", -1, 3)], 1), ((2, 3), [("a", -1, 3)], 1), ((2, 3), [("a", -1, 3)], 2),
    ((1,), [("a", -1, 3)], 1), ((), [("a", -1, 3)], 2),
    ((2, 5, 3), [("a", -1, 3), ("b", -3, 2)], 3),
    ((3, 1), [("a", -2, 3)], 1), ((3,), [("s", None, 3)], 1), ((4,), [], 0), ((4,), [], math.inf),
    ((1, 3), [("a", -1, 3)], 2),
]


@pytest.mark.parametrize(("shape", "frames", "mpn"), CHECK_SITE_CASES)
def test_check_site_shape_same_outcome(shape, frames, mpn):
    from pyro.poutine.indep_messenger import CondIndepStackFrame as PF

    from tracegraph.poutine.runtime import CondIndepStackFrame as TF

    outcomes = []
    for F, check in ((PF, pyro_util.check_site_shape), (TF, check_site_shape)):
        site = {"name": "x", "log_prob": torch.zeros(shape), "infer": {},
                "cond_indep_stack": tuple(F(n, d, s, 0, s) for n, d, s in frames)}
        try:
            check(site, mpn)
            outcomes.append(None)
        except ValueError:
            outcomes.append("ValueError")
    assert outcomes[0] == outcomes[1]


@pytest.mark.parametrize(
    "value",
    [float("nan"), float("inf"), 3, torch.tensor([1.0, float("nan")]), torch.tensor([-math.inf])],
)
def test_warn_if_nan_same_warnings(value):
    counts = []
    for warn in (pyro_util.warn_if_nan, warn_if_nan):
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            assert warn(value, "v") is value
        counts.append([str(w.message) for w in record if issubclass(w.category, UserWarning)])
    assert counts[0] == counts[1]
