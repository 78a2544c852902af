"""The package's shape: imports run one way, and only the provenance package
reaches into ``torch._C``.

The layers, lowest first: a module may import from its own subpackage and from
lower layers only (``docs/design/architecture.md``).  Top-level modules that are
not listed (``__init__``, Pyro's facades such as ``tracegraph.util``) sit on top.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "src" / "tracegraph"

LAYERS = [
    "errors",
    "ops",
    "params",
    "distributions",
    "optim",  # torch optimizers around params (DCTAdam uses a transform); SVI takes one
    "poutine",
    "primitives",
    "nn",  # PyroModule and friends: params and samples as module attributes
    "infer",
    "cli",
]


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _modules() -> list[tuple[str, pathlib.Path]]:
    out = []
    for path in sorted(ROOT.rglob("*.py")):
        name = ".".join(("tracegraph", *path.relative_to(ROOT).with_suffix("").parts))
        out.append((name.removesuffix(".__init__"), path))
    return out


def _imported(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.startswith("tracegraph")
        ):
            if node.module == "tracegraph":
                found.update(f"tracegraph.{a.name}" for a in node.names)
            else:
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("tracegraph."))
    return found


def _layer(unit: str) -> int:
    if unit == "__version__":  # a constant of the root package, importable anywhere
        return -1
    return LAYERS.index(unit) if unit in LAYERS else len(LAYERS)


@pytest.mark.parametrize("name,path", _modules(), ids=lambda v: str(v).split("/")[-1])
def test_architecture_imports_run_one_way(name, path):
    if not name.startswith("tracegraph."):
        return  # the package's __init__ is the public surface: it may import anything
    own = _unit(name)
    bad = []
    for target in _imported(ast.parse(path.read_text())):
        unit = _unit(target)
        if unit != own and _layer(unit) >= _layer(own):
            bad.append(target)
    assert not bad, f"{name} (layer {own!r}) imports upward or sideways: {sorted(bad)}"


def _names_torch_c(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr == "_C"
            and isinstance(node.value, ast.Name)
            and node.value.id == "torch"
        ):
            lines.append(node.lineno)
        elif (
            isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("torch._C")
        ):
            lines.append(node.lineno)
    return lines


def test_architecture_only_provenance_package_names_torch_c():
    offenders = {}
    for name, path in _modules():
        if name.startswith("tracegraph.ops.provenance"):
            continue
        lines = _names_torch_c(ast.parse(path.read_text()))
        if lines:
            offenders[name] = lines
    assert not offenders, (
        f"torch._C is named outside tracegraph.ops.provenance (use its fast path, e.g. "
        f"`untracked()`): {offenders}"
    )


def test_architecture_checks_see_the_package():
    # The two tests above would pass vacuously on an empty walk.
    names = {name for name, _ in _modules()}
    assert {"tracegraph.infer.elbo", "tracegraph.ops.provenance.tensor"} <= names
    assert _names_torch_c(ast.parse("import torch\nx = torch._C.foo")) == [2]
