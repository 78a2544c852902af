"""``PyroModule`` as the tutorials write it.

``to_pyro_module_``, ``PyroParam`` constraints, ``PyroSample`` priors that read
other attributes, nested and named modules, ``pyro_method``, ``DenseNN``,
semi-Bayesian modules, copies, module params in the param store, model
relations (see ``zoo_tutorials.py``).
"""

from __future__ import annotations

import copy
import io
import os
import tempfile
from typing import Any

import torch
from differential import Lib
from zoo_documented import example
from zoo_tutorials import (
    _X,
    _Y,
    _auto,
    _nn,
)


@example
def held_out_to_pyro_module_nested_sequential(lib: Lib) -> Any:
    pyro, dist, nn = lib.pyro, lib.dist, _nn(lib)
    torch.manual_seed(6)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    nn.module.to_pyro_module_(net)
    for module in net.modules():
        for param_name, value in list(module.named_parameters(recurse=False)):
            prior = dist.Normal(0.0, 1.0).expand(value.shape).to_event(value.dim())
            setattr(module, param_name, nn.PyroSample(prior))

    def model(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        mean = net(x).squeeze(-1)
        with pyro.plate("data", len(x)):
            pyro.sample("obs", dist.Normal(mean, 0.5), obs=y)
        return mean

    tr = pyro.poutine.trace(model).get_trace(_X[:5], _Y[:5])
    sites = [(n, tuple(s["value"].shape)) for n, s in tr.nodes.items() if s["type"] == "sample"]
    guide = _auto(lib).AutoNormal(model)
    svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": 0.01}), pyro.infer.Trace_ELBO())
    losses = [svi.step(_X, _Y) for _ in range(3)]
    return sites, type(net).__name__, type(net[0]).__name__, losses, list(pyro.get_param_store())


@example
def held_out_pyroparam_constraints_and_pyrosample_lambda(lib: Lib) -> Any:
    pyro, dist, nn = lib.pyro, lib.dist, _nn(lib)
    constraints = dist.constraints

    class Model(nn.PyroModule):
        def __init__(self) -> None:
            super().__init__()
            self.loc = nn.PyroParam(torch.zeros(2))
            self.scale = nn.PyroParam(torch.ones(2), constraint=constraints.positive)
            self.weights = nn.PyroParam(
                torch.full((2, 3), 1.0 / 3), constraint=constraints.simplex, event_dim=1
            )
            self.z = nn.PyroSample(lambda self: dist.Normal(self.loc, self.scale).to_event(1))

        def forward(self) -> torch.Tensor:
            z = self.z
            with pyro.plate("rows", 2):
                choice = pyro.sample("choice", dist.Categorical(self.weights))
            return z + choice

    model = Model()
    tr = pyro.poutine.trace(model).get_trace()
    store = pyro.get_param_store()
    params = [(k, tuple(v.shape), type(store._constraints[k]).__name__) for k, v in store.items()]
    named = sorted(n for n, _ in model.named_parameters())
    return tr, params, named, model.weights, model.scale


@example
def held_out_pyrosample_dependent_priors_and_pyro_method(lib: Lib) -> Any:
    pyro, dist, nn = lib.pyro, lib.dist, _nn(lib)

    class Hierarchy(nn.PyroModule):
        def __init__(self) -> None:
            super().__init__()
            self.centre = nn.PyroSample(dist.Normal(0.0, 1.0))
            self.spread = nn.PyroSample(dist.LogNormal(0.0, 0.5))
            self.effect = nn.PyroSample(
                lambda self: dist.Normal(self.centre, self.spread).expand([3]).to_event(1)
            )

        def forward(self) -> Any:
            # Reading an attribute twice in one call gives the same draw.
            return self.effect, self.effect, self.centre

        @nn.pyro_method
        def twice(self) -> Any:
            return self.centre + self.centre

    model = Hierarchy()
    tr = pyro.poutine.trace(model).get_trace()
    effect, again, centre = tr.nodes["_RETURN"]["value"]
    method_tr = pyro.poutine.trace(model.twice).get_trace()
    return tr, bool(torch.equal(effect, again)), method_tr, list(method_tr.nodes)


@example
def held_out_named_pyromodule_sites_and_clear(lib: Lib) -> Any:
    # PyroModule names sites after attribute paths; after clear_param_store the
    # module's params are registered again from the module's current values.
    pyro, dist, nn = lib.pyro, lib.dist, _nn(lib)
    torch.manual_seed(8)

    class Layer(nn.PyroModule):
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.PyroModule[torch.nn.Linear](2, 2)
            self.offset = nn.PyroSample(dist.Normal(0.0, 1.0))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.linear(x) + self.offset

    class Net(nn.PyroModule):
        def __init__(self) -> None:
            super().__init__()
            self.first = Layer()
            self.second = Layer()
            self.blocks = nn.PyroModuleList([Layer() for _ in range(2)])

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            for block in self.blocks:
                x = block(x)
            return self.second(self.first(x))

    net = Net()
    tr = pyro.poutine.trace(net).get_trace(torch.ones(3, 2))
    names = list(pyro.get_param_store().keys())
    pyro.clear_param_store()
    again = pyro.poutine.trace(net).get_trace(torch.ones(3, 2))
    named = Net()
    named_tr = pyro.poutine.trace(named).get_trace(torch.ones(1, 2))
    return tr, names, list(again.nodes), list(pyro.get_param_store().keys()), list(named_tr.nodes)


@example
def held_out_dense_nn_amortized_guide(lib: Lib) -> Any:
    pyro, dist, nn = lib.pyro, lib.dist, _nn(lib)
    torch.manual_seed(9)
    net = nn.DenseNN(2, [5], param_dims=[1, 1])
    inputs = torch.tensor([[0.1, 0.2], [1.0, -1.0], [0.5, 0.5]])
    targets = torch.tensor([0.3, -0.8, 1.1])

    def model(inputs: torch.Tensor, targets: torch.Tensor) -> None:
        with pyro.plate("rows", len(inputs)):
            z = pyro.sample("z", dist.Normal(0.0, 1.0))
            pyro.sample("t", dist.Normal(z, 0.5), obs=targets)

    def guide(inputs: torch.Tensor, targets: torch.Tensor) -> None:
        pyro.module("amortizer", net)
        loc, log_scale = net(inputs)
        with pyro.plate("rows", len(inputs)):
            pyro.sample("z", dist.Normal(loc.squeeze(-1), log_scale.squeeze(-1).exp()))

    svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": 0.05}), pyro.infer.Trace_ELBO())
    losses = [svi.step(inputs, targets) for _ in range(6)]
    return losses, [(k, tuple(v.shape)) for k, v in pyro.get_param_store().items()]


@example
def held_out_semi_bayesian_module_with_learned_weights(lib: Lib) -> Any:
    # Only the bias is Bayesian; the weight stays a torch Parameter learned by
    # SVI, next to a pyro.param of the model itself.
    pyro, dist, nn, auto = lib.pyro, lib.dist, _nn(lib), _auto(lib)
    torch.manual_seed(12)

    class Partly(nn.PyroModule):
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.PyroModule[torch.nn.Linear](3, 1)
            self.linear.bias = nn.PyroSample(dist.Normal(0.0, 1.0).expand([1]).to_event(1))

        def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
            noise = pyro.param("noise", torch.tensor(0.5), constraint=dist.constraints.positive)
            mean = self.linear(x).squeeze(-1)
            with pyro.plate("data", len(x)):
                pyro.sample("obs", dist.Normal(mean, noise), obs=y)
            return mean

    model = Partly()
    guide = auto.AutoNormal(model)
    svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": 0.05}), pyro.infer.Trace_ELBO())
    losses = [svi.step(_X, _Y) for _ in range(8)]
    store = [(k, tuple(v.shape)) for k, v in pyro.get_param_store().items()]
    return losses, store, model.linear.weight, pyro.param("noise")


@example
def held_out_deepcopy_pyromodule_and_named_prefix(lib: Lib) -> Any:
    pyro, dist, nn = lib.pyro, lib.dist, _nn(lib)
    torch.manual_seed(13)

    class Tiny(nn.PyroModule):
        def __init__(self, name: str = "") -> None:
            super().__init__(name)
            self.scale = nn.PyroParam(torch.tensor(2.0), constraint=dist.constraints.positive)
            self.z = nn.PyroSample(dist.Normal(0.0, 1.0))

        def forward(self) -> torch.Tensor:
            return self.scale * self.z

    named = Tiny("tiny")
    tr = pyro.poutine.trace(named).get_trace()
    clone = copy.deepcopy(named)
    clone_tr = pyro.poutine.trace(clone).get_trace()
    return list(tr.nodes), list(clone_tr.nodes), list(pyro.get_param_store().keys()), clone.scale


@example
def held_out_param_store_state_with_pyromodule(lib: Lib) -> Any:
    pyro, dist, nn = lib.pyro, lib.dist, _nn(lib)
    torch.manual_seed(4)

    class Scaler(nn.PyroModule):
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.PyroModule[torch.nn.Linear](2, 1)
            self.gain = nn.PyroParam(torch.tensor([1.5]), constraint=dist.constraints.positive)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.gain * self.linear(x)

    module = Scaler()
    out = module(torch.ones(4, 2))
    store = pyro.get_param_store()
    state = store.get_state()
    names = list(store.keys())
    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "store.pt")
        pyro.get_param_store().save(path)
        pyro.clear_param_store()
        cleared = list(store.keys())
        pyro.get_param_store().load(path)
    reloaded = [(k, tuple(v.shape)) for k, v in store.items()]
    store.set_state(state)
    return out, names, cleared, reloaded, store.get_param("gain"), sorted(state["constraints"])


@example
def held_out_model_relations_of_pyromodule(lib: Lib) -> Any:
    pyro, dist, nn = lib.pyro, lib.dist, _nn(lib)
    inspect = lib.mod(".infer.inspect")

    class Chain(nn.PyroModule):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.PyroSample(dist.Normal(0.0, 1.0))
            self.b = nn.PyroSample(lambda self: dist.Normal(self.a, 1.0))

        def forward(self, y: torch.Tensor) -> None:
            pyro.sample("y", dist.Normal(self.b, 1.0), obs=y)

    model = Chain()
    relations = inspect.get_model_relations(model, model_args=(torch.tensor(0.3),))
    graph = pyro.render_model(model, model_args=(torch.tensor(0.3),), render_deterministic=True)
    return relations, type(graph).__name__
