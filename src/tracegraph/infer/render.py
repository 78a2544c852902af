"""Turn a model's relations into a Graphviz picture (the drawing half of
:func:`tracegraph.infer.inspect.render_model`).

:func:`render_graph` builds a ``graphviz.Digraph`` from the dict that
:func:`~tracegraph.infer.inspect.get_model_relations` returns; :func:`write_graph`
saves it.  Only the ``graphviz`` Python package is needed to build and save the
DOT source; Graphviz's ``dot`` program is needed only for SVG, PNG, PDF, ...

>>> relations = {"sample_sample": {"a": [], "b": ["a"]}, "sample_param": {},
...              "sample_dist": {"a": "Normal", "b": "Normal"}, "param_constraint": {},
...              "plate_sample": {}, "observed": ["b"]}
>>> print(render_graph(relations).source, end="")  # doctest: +NORMALIZE_WHITESPACE
digraph {
    a [label=a fillcolor=white shape=ellipse style=filled]
    b [label=b fillcolor=gray shape=ellipse style=filled]
    a -> b
}
"""

from __future__ import annotations

import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tracegraph.errors import TracegraphWarning

try:
    import graphviz
    from graphviz.quoting import quote as _dot_quote
except ImportError:  # the optional "graph" extra is not installed
    graphviz = None  # type: ignore[assignment]

__all__ = ["render_graph", "write_graph"]

#: Extensions that mean "the DOT source itself".
DOT_SUFFIXES = (".dot", ".gv")


def _require_graphviz() -> None:
    if graphviz is None:
        raise ImportError(
            "render_model needs the graphviz Python package; install it with "
            "`pip install tracegraph[graph]` (or `pip install graphviz`)"
        )


@dataclass
class _Cluster:
    """One box of the drawing: a plate (None for the top level), the sites drawn
    directly in it and the boxes nested in it."""

    plate: str | None
    sites: list[str] = field(default_factory=list)
    children: dict[str, _Cluster] = field(default_factory=dict)


def _plate_tree(sites: list[str], plate_sample: dict[str, list[str]]) -> _Cluster:
    # Every plate gets one global rank: plates holding more sites go outside,
    # ties by first appearance.  A site's box path is its plates in rank order.
    # When plates nest (their site sets form a laminar family) this gives exactly
    # one box per plate, nested as in the model.  When two plates overlap without
    # nesting, a plate appears as several boxes with the same label; the drawing
    # stays sound: a box labelled p holds only sites inside p, and every site
    # inside p sits in some box labelled p.
    members = {p: set(s) for p, s in plate_sample.items()}
    rank = sorted(members, key=lambda p: -len(members[p]))
    root = _Cluster(None)
    for site in sites:
        node = root
        for plate in rank:
            if site in members[plate]:
                node = node.children.setdefault(plate, _Cluster(plate))
        node.sites.append(site)
    return root


def _id(name: str) -> str:
    # Quote here rather than let graphviz do it: graphviz reads "a:b" in an edge
    # as node a, port b, and "<b>" as an HTML label.
    return str(_dot_quote(graphviz.nohtml(name)))


def _label(name: str) -> Any:
    # A backslash starts an escape sequence in a DOT label; nohtml keeps "<b>" text.
    return graphviz.nohtml(name.replace("\\", "\\\\"))


def _add_cluster(
    graph: Any, cluster: _Cluster, node_attrs: dict[str, dict[str, Any]], used: dict[str, int]
) -> None:
    for site in cluster.sites:
        graph.node(graphviz.nohtml(site), **node_attrs[site])
    for plate, child in cluster.children.items():
        used[plate] = used.get(plate, 0) + 1
        suffix = "" if used[plate] == 1 else f"__{used[plate]}"
        sub = graphviz.Digraph(name=f"cluster_{plate}{suffix}")
        # A bare attribute statement, as Pyro writes it.
        sub.attr(label=_label(plate), labeljust="r", labelloc="b")
        _add_cluster(sub, child, node_attrs, used)
        graph.subgraph(sub)


def render_graph(
    relations: dict[str, Any], render_distributions: bool = False, render_params: bool = False
) -> Any:
    """Build the drawing of a model from its relations.

    Nodes: latent sample sites are white ellipses, observed ones gray,
    deterministic ones (distribution ``"Deterministic"``) dashed, params (with
    ``render_params``) plain text with ``$$$`` shown as ``__``.  Edges: from each
    site in ``sample_sample[x]`` to ``x``, then from each param in
    ``sample_param[x]`` to ``x``.  Plates are
    ``subgraph cluster_<plate>`` boxes labelled with the plate's name; a site is
    drawn in the innermost box of its plates, nested plates give nested boxes,
    and a plate that overlaps another without nesting is drawn as several boxes
    with the same label (``cluster_<plate>__2``, ...), each holding only sites
    inside that plate.  Params are drawn outside every box.

    :param relations: the dict of :func:`~tracegraph.infer.inspect.get_model_relations`.
    :param render_distributions: add a legend node listing ``site ~ Distribution``
        (and, with ``render_params``, ``param : constraint`` for every param).
    :param render_params: draw params and their edges.
    :returns: a ``graphviz.Digraph``.
    :raises ImportError: if the ``graphviz`` Python package is not installed.

    >>> relations = {"sample_sample": {"a": [], "b": ["a"], "c": ["a"]},
    ...              "sample_param": {}, "sample_dist": {"a": "Normal", "b": "Normal",
    ...              "c": "Poisson"}, "param_constraint": {},
    ...              "plate_sample": {"p": ["b", "c"], "q": ["c"]}, "observed": []}
    >>> print(render_graph(relations).source, end="")  # doctest: +NORMALIZE_WHITESPACE
    digraph {
        a [label=a fillcolor=white shape=ellipse style=filled]
        subgraph cluster_p {
            label=p labeljust=r labelloc=b
            b [label=b fillcolor=white shape=ellipse style=filled]
            subgraph cluster_q {
                label=q labeljust=r labelloc=b
                c [label=c fillcolor=white shape=ellipse style=filled]
            }
        }
        a -> b
        a -> c
    }
    """
    _require_graphviz()
    sample_sample: dict[str, list[str]] = relations["sample_sample"]
    sample_param: dict[str, list[str]] = relations.get("sample_param", {})
    sample_dist: dict[str, str] = relations.get("sample_dist", {})
    observed = set(relations.get("observed", ()))
    sites = list(sample_sample)

    node_attrs: dict[str, dict[str, Any]] = {}
    for site in sites:
        deterministic = sample_dist.get(site) == "Deterministic"
        node_attrs[site] = {
            "label": _label(site),
            "shape": "ellipse",
            "style": "filled,dashed" if deterministic else "filled",
            "fillcolor": "gray" if site in observed else "white",
        }
    params: list[str] = []
    if render_params:
        for site in sites:
            for p in sample_param.get(site, ()):
                if p not in params:
                    params.append(p)
        for p in params:
            node_attrs[p] = {
                "label": _label(p.replace("$$$", "__")),
                "shape": "plain",
                "style": "filled",
                "fillcolor": "white",
            }

    graph = graphviz.Digraph()
    root = _plate_tree(sites, relations.get("plate_sample", {}))
    root.sites.extend(params)
    _add_cluster(graph, root, node_attrs, {})

    # Edges between sites first, then those from params (Pyro's order).
    edges = [(source, site) for site in sites for source in sample_sample[site]]
    if render_params:
        edges += [(p, site) for site in sites for p in sample_param.get(site, [])]
    for source, site in edges:
        graph.body.append(f"\t{_id(source)} -> {_id(site)}\n")

    if render_distributions:
        lines = [f"{s} ~ {sample_dist.get(s, '?')}\\l" for s in sites]
        if render_params:
            # Every param of the model, drawn or not (as Pyro lists them).
            constraints = relations.get("param_constraint", {})
            lines += [f"{p} : {c}\\l" for p, c in constraints.items()]
        graph.node("distribution_description_node", label="".join(lines), shape="plaintext")
    return graph


def write_graph(graph: Any, filename: str | Path, stacklevel: int = 2) -> Path:
    """Save a graph: always the DOT source as ``<stem>.dot`` next to ``filename``,
    and the picture in ``filename``'s format when Graphviz's ``dot`` program is
    on ``PATH`` (otherwise a :class:`~tracegraph.errors.TracegraphWarning`).

    :param graph: a ``graphviz.Digraph``.
    :param filename: the picture's path; the extension names the format.
    :param stacklevel: passed to :func:`warnings.warn` (2: the caller's line).
    :returns: the path of the DOT file.
    :raises ValueError: if the extension is missing or not a Graphviz format.

    >>> import tempfile, os
    >>> g = graphviz.Digraph(); g.node("a")
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = write_graph(g, os.path.join(tmp, "model.dot"))
    ...     print(path.name, path.read_text().split())
    model.dot ['digraph', '{', 'a', '}']
    """
    _require_graphviz()
    path = Path(filename)
    suffix = path.suffix.lower()
    fmt = suffix[1:]
    if suffix not in DOT_SUFFIXES and fmt not in graphviz.FORMATS:
        raise ValueError(
            f"cannot tell the picture format from filename {str(filename)!r}: expected an "
            "extension such as .svg, .png, .pdf or .dot"
        )
    dot_path = path.with_suffix(".dot")
    dot_path.write_text(graph.source, encoding="utf-8")
    if suffix in DOT_SUFFIXES:
        if suffix != ".dot":
            path.write_text(graph.source, encoding="utf-8")
        return dot_path
    if shutil.which("dot") is None:
        warnings.warn(
            f"Graphviz's `dot` program was not found on PATH, so only the DOT source was "
            f"written ({dot_path}), not {path.name}. Install Graphviz to get pictures "
            "(`apt-get install graphviz`, `brew install graphviz` or `conda install "
            f"graphviz`), or convert the file elsewhere: `dot -T{fmt} {dot_path} -o {path}`",
            TracegraphWarning,
            stacklevel=stacklevel,
        )
        return dot_path
    graphviz.render("dot", format=fmt, filepath=dot_path, outfile=path)
    return dot_path
