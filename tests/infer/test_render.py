"""Tests of tracegraph.infer.render: the DOT drawing and writing it to files."""

from __future__ import annotations

import os
import re
import shutil

import graphviz
import pytest

from tracegraph.errors import TracegraphWarning
from tracegraph.infer import render
from tracegraph.infer.render import render_graph, write_graph


def _relations(sample_sample, plate_sample=None, observed=(), dists=None, **extra):
    return {
        "sample_sample": sample_sample,
        "sample_param": extra.get("sample_param", {s: [] for s in sample_sample}),
        "sample_dist": dists or {s: "Normal" for s in sample_sample},
        "param_constraint": extra.get("param_constraint", {}),
        "plate_sample": plate_sample or {},
        "observed": list(observed),
    }


def _boxes_of_nodes(source):
    """For each node statement, the labels of the cluster boxes around it."""
    stack: list[str] = []
    label_stack: list[str | None] = []
    boxes: dict[str, list[str | None]] = {}
    for line in source.splitlines():
        line = line.strip()
        if line.startswith("subgraph "):
            stack.append(line.split()[1])
            label_stack.append(None)
        elif line.startswith("label="):
            match = re.match(r"label=(\"[^\"]*\"|\S+)", line)
            assert match is not None
            label_stack[-1] = match.group(1)
        elif line == "}":
            if stack:
                stack.pop()
                label_stack.pop()
        elif " -> " not in line and "[" in line and not line.startswith("digraph"):
            name = line.split(" [")[0]
            assert name not in boxes, f"node {name} drawn twice"
            boxes[name] = list(label_stack)
    return boxes


def test_render_graph_nodes_edges_and_styles():
    source = render_graph(_relations({"a": [], "b": ["a"]}, observed=["b"])).source
    assert "a [label=a fillcolor=white shape=ellipse style=filled]" in source
    assert "b [label=b fillcolor=gray shape=ellipse style=filled]" in source
    assert re.findall(r"\S+ -> \S+", source) == ["a -> b"]
    assert "subgraph" not in source


def test_render_graph_nested_plates_nested_clusters():
    rel = _relations(
        {"a": [], "b": ["a"], "c": ["b"]}, plate_sample={"outer": ["b", "c"], "inner": ["c"]}
    )
    source = render_graph(rel).source
    assert source.count("subgraph cluster_outer {") == 1
    assert source.count("subgraph cluster_inner {") == 1
    assert _boxes_of_nodes(source) == {"a": [], "b": ["outer"], "c": ["outer", "inner"]}


def test_render_graph_inner_plate_listed_first_still_nests_inside():
    # Ranking by size, not by listing order, decides which box is outside.
    rel = _relations({"b": [], "c": []}, plate_sample={"inner": ["c"], "outer": ["b", "c"]})
    assert _boxes_of_nodes(render_graph(rel).source) == {"b": ["outer"], "c": ["outer", "inner"]}


def test_render_graph_overlapping_plates_sound_boxes():
    plates = {"p": ["x", "xy"], "q": ["y", "xy"]}
    rel = _relations({"x": [], "y": [], "xy": ["x", "y"], "free": []}, plate_sample=plates)
    source = render_graph(rel).source
    boxes = _boxes_of_nodes(source)
    # Each site sits inside boxes labelled exactly with its plates, no more, no less.
    for site, labels in boxes.items():
        assert sorted(labels) == sorted(p for p, members in plates.items() if site in members)
    # One plate is drawn twice, with distinct cluster names.
    assert "subgraph cluster_q__2 {" in source or "subgraph cluster_p__2 {" in source


def test_render_graph_params_plain_with_edges_and_legend():
    rel = _relations(
        {"a": [], "x": ["a"]},
        observed=["x"],
        sample_param={"a": ["lin$$$w"], "x": []},
        param_constraint={"lin$$$w": "Real()"},
        dists={"a": "Normal", "x": "Poisson"},
    )
    assert "lin" not in render_graph(rel).source
    source = render_graph(rel, render_distributions=True, render_params=True).source
    assert '"lin$$$w" [label=lin__w fillcolor=white shape=plain style=filled]' in source
    assert '"lin$$$w" -> a' in source
    assert r"a ~ Normal\lx ~ Poisson\llin$$$w : Real()\l" in source
    assert "distribution_description_node" in source


def test_render_graph_odd_names_quoted_consistently():
    rel = _relations(
        {"a:b": [], "<h>": ["a:b"], 'q"x': ["<h>"]}, plate_sample={"my plate": ['q"x']}
    )
    source = render_graph(rel).source
    assert '"a:b" -> "<h>"' in source
    assert '"<h>" -> "q\\"x"' in source
    assert 'subgraph "cluster_my plate"' in source
    assert '"<h>" [label="<h>"' in source  # not an HTML label


def test_write_graph_dot_suffix_writes_source_only(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: pytest.fail("dot looked up"))
    graph = render_graph(_relations({"a": []}))
    path = write_graph(graph, tmp_path / "m.dot")
    assert path == tmp_path / "m.dot"
    assert path.read_text() == graph.source


def test_write_graph_without_dot_warns_and_writes_source(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(graphviz, "render", lambda *a, **k: pytest.fail("render called"))
    graph = render_graph(_relations({"a": []}))
    with pytest.warns(TracegraphWarning, match=r"not found.*Install Graphviz.*dot -Tpng"):
        write_graph(graph, tmp_path / "m.png")
    assert (tmp_path / "m.dot").read_text() == graph.source
    assert not (tmp_path / "m.png").exists()


def test_write_graph_with_dot_renders_requested_format(tmp_path, monkeypatch):
    # Graphviz's dot program is usually absent here: fake it, and check the call.
    calls = []

    def fake_render(engine, format=None, filepath=None, outfile=None, **kwargs):
        calls.append((engine, format, filepath, outfile))
        outfile.write_text("<svg/>")
        return str(outfile)

    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/dot")
    monkeypatch.setattr(graphviz, "render", fake_render)
    write_graph(render_graph(_relations({"a": []})), tmp_path / "m.svg")
    assert calls == [("dot", "svg", tmp_path / "m.dot", tmp_path / "m.svg")]
    assert (tmp_path / "m.dot").exists() and (tmp_path / "m.svg").read_text() == "<svg/>"


# CI installs Graphviz (.ci/run), so there the real rendering always runs; a
# developer machine without `dot` skips it.
@pytest.mark.skipif(
    shutil.which("dot") is None and not os.environ.get("CI"),
    reason="Graphviz's dot program is not installed",
)
def test_write_graph_real_dot_writes_svg(tmp_path):
    write_graph(render_graph(_relations({"a": [], "b": ["a"]})), tmp_path / "m.svg")
    assert "<svg" in (tmp_path / "m.svg").read_text()


@pytest.mark.parametrize("name", ["model", "model.txt"])
def test_write_graph_unknown_format_raises(tmp_path, name):
    with pytest.raises(ValueError, match="extension such as .svg"):
        write_graph(render_graph(_relations({"a": []})), tmp_path / name)
    assert not list(tmp_path.iterdir())


def test_render_module_uses_installed_graphviz():
    assert render.graphviz is graphviz
