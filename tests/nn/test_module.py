"""PyroModule: params in the param store under their dotted names, samples drawn
once per call, every handler and Predictive, names, pickling, module-local params."""

from __future__ import annotations

import copy
import io
import pickle

import pytest
import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph import poutine
from tracegraph.distributions import constraints
from tracegraph.infer import SVI, Predictive, Trace_ELBO
from tracegraph.nn import (
    PyroModule,
    PyroModuleList,
    PyroParam,
    PyroSample,
    clear,
    pyro_method,
    to_pyro_module_,
)
from tracegraph.optim import Adam


class Regression(PyroModule):
    def __init__(self) -> None:
        super().__init__()
        self.linear = PyroModule[torch.nn.Linear](2, 1)
        self.linear.weight = PyroSample(dist.Normal(0.0, 1.0).expand([1, 2]).to_event(2))
        self.linear.bias = PyroSample(dist.Normal(0.0, 10.0).expand([1]).to_event(1))
        self.sigma = PyroParam(torch.tensor(1.0), constraint=constraints.positive)

    def forward(self, x, y=None):
        mean = self.linear(x).squeeze(-1)
        with tracegraph.plate("data", x.shape[0]):
            tracegraph.sample("obs", dist.Normal(mean, self.sigma), obs=y)
        return mean


def sites(tr):
    return [n for n in tr.nodes if n not in ("_INPUT", "_RETURN")]


def test_pyro_module_mixin_class_is_made_once_and_named():
    cls = PyroModule[torch.nn.Linear]
    assert cls is PyroModule[torch.nn.Linear] and cls.__name__ == "PyroLinear"
    assert issubclass(cls, torch.nn.Linear) and issubclass(cls, PyroModule)
    assert PyroModule[cls] is cls


def test_pyro_module_mixin_of_a_non_module_raises_type_error():
    with pytest.raises(TypeError, match="torch.nn.Module subclass"):
        PyroModule[int]


def test_pyro_module_params_enter_the_store_at_the_first_call_as_the_same_tensors():
    layer = PyroModule[torch.nn.Linear](2, 1)
    assert len(tracegraph.get_param_store()) == 0
    layer(torch.ones(2))
    store = tracegraph.get_param_store()
    assert sorted(store.keys()) == ["bias", "weight"]
    assert store["weight"] is layer.weight


def test_pyro_module_trace_names_sites_by_dotted_path():
    tr = poutine.trace(Regression()).get_trace(torch.ones(3, 2))
    assert sites(tr) == ["linear.weight", "linear.bias", "data", "sigma", "obs"]
    assert tr.nodes["sigma"]["type"] == "param"
    assert tr.nodes["linear.weight"]["value"].shape == (1, 2)


def test_pyro_module_root_name_prefixes_every_site():
    m = PyroModule("net")
    m.scale = PyroParam(torch.ones(1), constraints.positive)
    m.x = PyroSample(dist.Normal(0.0, 1.0))

    class Call(PyroModule):
        def __init__(self, inner):
            super().__init__("root")
            self.inner = inner

        def forward(self):
            return self.inner.scale * self.inner.x

    tr = poutine.trace(Call(m)).get_trace()
    # The inner module's own name is ignored once it is a child.
    assert sites(tr) == ["root.inner.scale", "root.inner.x"]


def test_pyro_param_is_constrained_and_unconstrained_leaf_is_trained():
    m = PyroModule()
    m.scale = PyroParam(torch.tensor([2.0, 3.0]), constraints.positive, event_dim=1)
    value = m.scale
    assert torch.allclose(value, torch.tensor([2.0, 3.0]))
    assert value.unconstrained() is m.scale_unconstrained
    assert [n for n, _ in m.named_parameters()] == ["scale_unconstrained"]


def test_pyro_param_lazy_init_and_decorator_forms():
    calls = []

    class Lazy(PyroModule):
        @PyroParam(constraint=constraints.positive)
        def a(self):
            calls.append("a")
            return torch.full((2,), 4.0)

        @PyroSample
        def b(self):
            return dist.Normal(self.a.sum(), 1e-6)

        def forward(self):
            return self.b

    m = Lazy()
    assert calls == []
    assert abs(float(m().detach()) - 8.0) < 1e-3
    assert calls == ["a"]
    m2 = PyroModule()
    m2.c = PyroParam(lambda: torch.zeros(3))
    assert m2.c.shape == (3,)


def test_pyro_param_inside_a_call_reads_the_store_first():
    tracegraph.param("sigma", torch.tensor(5.0), constraint=constraints.positive)
    m = Regression()
    m(torch.ones(3, 2))
    store = tracegraph.get_param_store()
    assert float(m.sigma.detach()) == pytest.approx(5.0)
    assert m.sigma_unconstrained is store["sigma"].unconstrained()


def test_pyro_param_outside_a_call_is_not_a_site():
    m = Regression()
    with poutine.trace() as tm:
        _ = m.sigma
    assert len(tm.trace.nodes) == 0 and len(tracegraph.get_param_store()) == 0


def test_pyro_sample_is_drawn_once_per_call_and_again_next_call():
    class Twice(PyroModule):
        def __init__(self):
            super().__init__()
            self.x = PyroSample(dist.Normal(0.0, 1.0))

        def forward(self):
            return self.x, self.x

    m = Twice()
    a, b = m()
    c, _ = m()
    assert a is b and not torch.equal(a, c)


def test_pyro_sample_callable_returning_a_tensor_is_deterministic():
    m = PyroModule()
    m.x = PyroSample(dist.Normal(0.0, 1.0))
    m.y = PyroSample(lambda self: self.x * 2)

    class Call(PyroModule):
        def __init__(self):
            super().__init__()
            self.m = m

        def forward(self):
            return self.m.y

    tr = poutine.trace(Call()).get_trace()
    assert tr.nodes["m.y"]["infer"].get("_deterministic") is True
    assert torch.equal(tr.nodes["m.y"]["value"], 2 * tr.nodes["m.x"]["value"])


def test_pyro_method_caches_samples_like_a_call():
    class Model(PyroModule):
        def __init__(self):
            super().__init__()
            self.x = PyroSample(dist.Normal(0.0, 1.0))

        @pyro_method
        def twice(self):
            return self.x + self.x

    m = Model()
    tr = poutine.trace(m.twice).get_trace()
    assert sites(tr) == ["x"]
    assert torch.equal(tr.nodes["_RETURN"]["value"], 2 * tr.nodes["x"]["value"])


def test_plain_child_module_is_registered_with_module_names():
    class WithNet(PyroModule):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Linear(2, 1)

        def forward(self, x):
            return self.net(x)

    tr = poutine.trace(WithNet()).get_trace(torch.ones(2))
    assert sites(tr) == ["net$$$weight", "net$$$bias"]


@pytest.mark.parametrize("handler", ["condition", "substitute", "block", "replay"])
def test_pyro_module_sites_obey_handlers(handler):
    m = Regression()
    x = torch.ones(3, 2)
    bias = torch.tensor([5.0])
    if handler == "condition":
        tr = poutine.trace(poutine.condition(m, data={"linear.bias": bias})).get_trace(x)
        assert tr.nodes["linear.bias"]["is_observed"]
        assert torch.equal(tr.nodes["linear.bias"]["value"], bias)
    elif handler == "substitute":
        tr = poutine.trace(poutine.substitute(m, data={"sigma": torch.tensor(3.0)})).get_trace(x)
        assert torch.allclose(tr.nodes["obs"]["fn"].scale, torch.tensor(3.0))
    elif handler == "block":
        tr = poutine.trace(poutine.block(m, hide=["linear.weight", "sigma"])).get_trace(x)
        assert sites(tr) == ["linear.bias", "data", "obs"]
    else:
        first = poutine.trace(m).get_trace(x)
        again = poutine.trace(poutine.replay(m, trace=first)).get_trace(x)
        for name in ("linear.weight", "linear.bias"):
            assert torch.equal(again.nodes[name]["value"], first.nodes[name]["value"])


def test_pyro_module_works_with_predictive_and_svi():
    m = Regression()
    x = torch.randn(10, 2)
    y = x @ torch.tensor([1.0, -1.0]) + 0.5

    def guide(x, y=None):
        loc = tracegraph.param("w_loc", torch.zeros(1, 2))
        tracegraph.sample("linear.weight", dist.Normal(loc, 0.1).to_event(2))
        tracegraph.sample("linear.bias", dist.Normal(torch.zeros(1), 0.1).to_event(1))

    svi = SVI(m, guide, Adam({"lr": 0.01}), Trace_ELBO())
    losses = [svi.step(x, y) for _ in range(3)]
    assert all(torch.isfinite(torch.tensor(losses)))
    assert "sigma" in tracegraph.get_param_store()
    out = Predictive(m, guide=guide, num_samples=4)(x)
    assert out["obs"].shape == (4, 10) and out["linear.weight"].shape[0] == 4


def test_named_pyro_params_uses_declared_names():
    class P(PyroModule):
        def __init__(self):
            super().__init__()
            self.a = PyroParam(torch.ones(2), constraints.positive, event_dim=1)
            self.sub = PyroModule()
            self.sub.b = PyroParam(torch.ones(3))
            self.lin = torch.nn.Linear(2, 2)

    names = [n for n, _ in P().named_pyro_params()]
    assert names == ["a", "sub.b", "lin.weight", "lin.bias"]


def test_setattr_tensor_on_declared_param_keeps_constraint():
    m = PyroModule()
    m.s = PyroParam(torch.ones(2), constraints.positive)
    m.s = torch.tensor([0.5, 0.25])
    assert torch.allclose(m.s, torch.tensor([0.5, 0.25]))
    assert m._pyro_params["s"][0] is constraints.positive


def test_delattr_removes_module_and_store_entries():
    class C(PyroModule):
        def forward(self):
            self.z = PyroParam(torch.tensor(2.0))
            return self.z

    c = C()
    c()
    assert "z" in tracegraph.get_param_store()
    del c.z
    assert "z" not in tracegraph.get_param_store() and not hasattr(c, "z")


def test_clear_removes_every_param_of_the_tree():
    class H(PyroModule):
        def __init__(self):
            super().__init__()
            self.layers = PyroModuleList([PyroModule[torch.nn.Linear](2, 2) for _ in range(2)])

        def forward(self, x):
            for layer in self.layers:
                x = layer(x)
            return x

    h = H()
    h(torch.ones(2))
    assert sorted(tracegraph.get_param_store().keys()) == [
        "layers.0.bias",
        "layers.0.weight",
        "layers.1.bias",
        "layers.1.weight",
    ]
    clear(h)
    assert len(tracegraph.get_param_store()) == 0 and len(list(h.parameters())) == 0


def test_pyro_module_list_slice_is_a_plain_list_that_keeps_names():
    layers = PyroModuleList([PyroModule[torch.nn.Linear](2, 2) for _ in range(3)])
    part = layers[1:]
    assert type(part) is torch.nn.ModuleList
    assert [m._pyro_name for m in part] == ["1", "2"]


def test_to_pyro_module_converts_in_place_with_names():
    seq = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    to_pyro_module_(seq)
    assert isinstance(seq, PyroModule[torch.nn.Sequential])
    assert isinstance(seq[0], PyroModule[torch.nn.Linear]) and seq[2]._pyro_name == "2"
    seq(torch.ones(2))
    names = sorted(tracegraph.get_param_store().keys())
    assert names == ["0.bias", "0.weight", "2.bias", "2.weight"]


def test_to_pyro_module_rejects_non_modules():
    with pytest.raises(TypeError):
        to_pyro_module_(object())


@pytest.mark.parametrize("how", ["torch.save", "deepcopy", "pickle"])
def test_pyro_module_mixin_instances_round_trip(how):
    m = Regression()
    m(torch.ones(3, 2))
    if how == "torch.save":
        buf = io.BytesIO()
        torch.save(m, buf)
        buf.seek(0)
        m2 = torch.load(buf, weights_only=False)
    elif how == "deepcopy":
        m2 = copy.deepcopy(m)
    else:
        m2 = pickle.loads(pickle.dumps(m))
    assert type(m2.linear) is PyroModule[torch.nn.Linear]
    assert torch.equal(m2.sigma_unconstrained, m.sigma_unconstrained)
    assert m2.linear._pyro_context is m2._pyro_context
    tr = poutine.trace(m2).get_trace(torch.ones(3, 2))
    assert sites(tr) == ["linear.weight", "linear.bias", "data", "sigma", "obs"]


def test_module_local_params_keep_params_out_of_the_store():
    with tracegraph.settings.context(module_local_params=True):
        m = Regression()
        tr = poutine.trace(m).get_trace(torch.ones(3, 2))
        assert "sigma" in tr.nodes and tr.nodes["sigma"]["type"] == "param"
        assert len(tracegraph.get_param_store()) == 0
    assert tracegraph.settings.get("module_local_params") is False
